import Foundation
import Testing

@testable import CofferKit

/// Issue 12: a vault made by the previous release (catalog schema 2, the
/// committed fixture Tests/Fixtures/vault-schema2.tar.gz) is read as it is,
/// refused for changes with a message that names `coffer vault upgrade`,
/// and upgraded in place by an administrator: atomically, once, recorded in
/// the ledger, with every document opening byte-identical afterwards.
@Suite("Upgrade from schema 2")
struct UpgradeTests {
    /// The fixture, unpacked into a fresh harness whose environment uses its
    /// vault, state directory and alice's identity.
    static func unpacked() throws -> CLIHarness {
        let cli = try CLIHarness()
        let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/vault-schema2.tar.gz").path
        let untar = try cli.execute("/usr/bin/tar", ["-xzf", fixture, "-C", cli.root])
        guard untar.status == 0 else { throw HarnessError("tar -x \(fixture): \(untar.stderr)") }
        cli.environment["COFFER_VAULT"] = cli.path("vault")
        cli.environment["COFFER_STATE_DIR"] = cli.path("state")
        cli.environment["COFFER_IDENTITY"] = cli.path("keys/alice.identity")
        return cli
    }

    static let documents = ["reports/q3.txt", "reports/empty.txt", "reports/scan.bin", "plan.txt"]

    /// The catalog's recorded schema and its tables.
    static func catalog(_ cli: CLIHarness, vault: String = "vault") throws -> (schema: String?, tables: [String]) {
        let db = try SQLiteDatabase(path: cli.path("\(vault)/catalog.sqlite"), create: false, access: .readOnly)
        let schema = try db.query("SELECT value FROM meta WHERE key = 'schema'").first?.first?.text
        let tables = try db.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").compactMap { $0.first?.text }
        return (schema, tables)
    }

    static let schema2Tables = [
        "documents", "identities", "ledger", "meta", "role_keys", "role_members", "role_seals", "roles", "version_objects", "versions", "wraps",
    ]

    /// The actions of the ledger, in order.
    static func actions(_ cli: CLIHarness, vault: String = "vault") throws -> [String] {
        let log = try cli.ok(["audit", "log", "--json", "--vault", cli.path(vault)])
        return try log.text.split(separator: "\n").map { line in
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(entry["action"] as? String)
        }
    }

    @Test("read as it is; every change refused (exit 1) naming `coffer vault upgrade`; a member may not upgrade; an administrator upgrades it once, recorded; everything opens byte-identical")
    func upgradeInPlace() throws {
        let cli = try Self.unpacked()
        let bob = cli.path("keys/bob.identity")
        // Reads work on schema 2: listing, a keyless verify, the audit log.
        let listed = try cli.ok(["ls"]).text
        for name in Self.documents { #expect(listed.contains(name)) }
        let verify = try cli.ok(["verify"]).text
        #expect(verify.contains("schema 2") && verify.contains("coffer vault upgrade"))
        let before = try Self.actions(cli)
        #expect(before.count == 36 && !before.contains("vault.upgrade"))
        // Changes are refused before they start, with the command that fixes it.
        for arguments in [["open", "plan.txt", "-o", "-"], ["seal", cli.path("in/plan.txt"), "--name", "new.txt"], ["rotate", "role", "legal"]] {
            let refused = try cli.run(arguments)
            #expect(refused.status == 1, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("coffer vault upgrade") && refused.stderr.contains("schema 2"), "\(arguments): \(refused.stderr)")
            #expect(refused.stdout.isEmpty)
        }
        let memberTry = try cli.run(as: bob, ["vault", "upgrade"])
        #expect(memberTry.status == Exit.accessDenied, "\(memberTry.stderr)")
        #expect(try Self.catalog(cli) == ("2", Self.schema2Tables))
        #expect(try Self.actions(cli) == before)

        let upgraded = try #require(try cli.ok(["vault", "upgrade", "--json"]).json() as? [String: Any])
        #expect(upgraded["fromSchema"] as? Int == 2 && upgraded["toSchema"] as? Int == 3 && upgraded["entry"] as? Int == 36)
        #expect(try Self.catalog(cli) == ("3", ["ledger", "meta"]))
        let again = try #require(try cli.ok(["vault", "upgrade", "--json"]).json() as? [String: Any])
        #expect(again["fromSchema"] as? Int == 3 && again["entry"] == nil)
        #expect(try Self.actions(cli) == before + ["vault.upgrade"])

        for name in Self.documents {
            let opened = try cli.ok(["open", name, "-o", "-"])
            #expect(opened.stdout == (try Data(contentsOf: URL(fileURLWithPath: cli.path("in/\(name)")))), "\(name)")
        }
        // Bob (legal) still reads what was shared with legal, through its rotated key; carol stays revoked.
        #expect(try cli.run(as: bob, ["open", "plan.txt", "-o", "-"]).text == "merger plan\n")
        #expect(try cli.run(as: cli.path("keys/carol.identity"), ["open", "reports/q3.txt", "-o", "-"]).status == Exit.accessDenied)
        try cli.ok(["seal", cli.path("in/plan.txt"), "--name", "after-upgrade.txt"])
        let deep = try cli.ok(["verify", "--deep"]).text
        #expect(deep.contains("catalog:  schema 3") && deep.contains("vault is consistent"))
    }

    @Test("the upgrade is one transaction: a failure after the tables are dropped leaves schema 2 whole, and the ledger as it was")
    func failedUpgradeRollsBack() throws {
        let cli = try Self.unpacked()
        let file = cli.path("keys/alice.identity")
        let identity = try IdentityFile.decode(Array(try Data(contentsOf: URL(fileURLWithPath: file))), path: file) { throw HarnessError("a test key has no passphrase") }
        let vault = try Vault.open(at: cli.path("vault"), identity: identity, stateDirectory: .directory(cli.path("state")))
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try vault.commit(upgradingSchema: true) { draft in
                // The tables are gone and the vault.upgrade entry is drafted when this runs.
                #expect(draft.entries.count == 1)
                throw Interrupted()
            }
        }
        #expect(try Self.catalog(cli) == ("2", Self.schema2Tables))
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
        #expect(try Self.actions(cli).count == 36)
    }

    @Test("two upgrades at once: both succeed, exactly one vault.upgrade entry")
    func concurrentUpgrades() throws {
        let cli = try Self.unpacked()
        let runs = try (0..<2).map { _ in try cli.start(["vault", "upgrade"]) }
        for run in runs {
            run.waitUntilExit()
            #expect(run.terminationReason == .exit && run.terminationStatus == 0)
        }
        #expect(try Self.actions(cli).filter { $0 == "vault.upgrade" }.count == 1)
        #expect(try Self.catalog(cli) == ("3", ["ledger", "meta"]))
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
    }

    @Test("SIGKILL at any moment of an upgrade: schema 2 without the entry or schema 3 with it, always consistent; a rerun finishes")
    func killDuringUpgrade() throws {
        // Kill moments fall within 90 % of how long one whole upgrade takes here.
        let span = try Self.unpacked().duration(of: ["vault", "upgrade"])
        var landed = 0
        for round in 0..<6 {
            let cli = try Self.unpacked()
            if try cli.kill(["vault", "upgrade"], within: span) { landed += 1 }
            let (schema, tables) = try Self.catalog(cli)
            let upgrades = try Self.actions(cli).filter { $0 == "vault.upgrade" }.count
            #expect((schema == "2" && tables == Self.schema2Tables && upgrades == 0) || (schema == "3" && tables == ["ledger", "meta"] && upgrades == 1), "round \(round)")
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
            try cli.ok(["vault", "upgrade"])
            #expect(try Self.actions(cli).filter { $0 == "vault.upgrade" }.count == 1, "round \(round)")
        }
        #expect(landed > 0, "no kill landed while vault upgrade was running")
    }

    @Test("a schema-2 catalog an insider altered is not upgraded: a planted trigger, an edited ledger entry, a schema claim that does not match its tables")
    func hostileCatalog() throws {
        let plants: [(String, Int32)] = [
            ("CREATE TRIGGER quiet AFTER INSERT ON ledger BEGIN DELETE FROM ledger WHERE seq = new.seq; END", Exit.integrity),
            ("UPDATE ledger SET body = CAST(replace(CAST(body AS TEXT), '\"time\":\"2026', '\"time\":\"2025') AS BLOB) WHERE seq = 20", Exit.integrity),
            ("UPDATE meta SET value = '3' WHERE key = 'schema'", Exit.integrity),
        ]
        for (sql, status) in plants {
            let cli = try Self.unpacked()
            try SQLiteDatabase(path: cli.path("vault/catalog.sqlite"), create: false).execute(sql)
            let before = try Self.catalog(cli)
            let refused = try cli.run(["vault", "upgrade"])
            #expect(refused.status == status, "\(sql): \(refused.stderr)")
            #expect(try Self.catalog(cli) == before, "\(sql)")
        }
    }

    @Test("a backup snapshot of a schema-2 vault restores, and adopting it upgrades it in the same transaction")
    func adoptUpgrades() throws {
        let cli = try Self.unpacked()
        let restored = try cli.ok(["backup", "restore", cli.path("backup"), "--to", cli.path("restored")])
        #expect(restored.status == 0)
        #expect(try Self.catalog(cli, vault: "restored").schema == "2")
        try cli.ok(["backup", "adopt", "--vault", cli.path("restored")])
        #expect(try Self.catalog(cli, vault: "restored") == ("3", ["ledger", "meta"]))
        #expect(try Self.actions(cli, vault: "restored").suffix(2) == ["vault.upgrade", "vault.adopt"])
        #expect(try cli.ok(["open", "reports/q3.txt", "-o", "-", "--vault", cli.path("restored")]).text == "Q3 numbers: 1,234,567\n")
    }
}

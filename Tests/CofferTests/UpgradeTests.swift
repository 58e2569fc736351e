import Foundation
import Testing

@testable import CofferKit

/// Issues 12 and 14: vaults made by earlier releases (the committed
/// fixtures Tests/Fixtures/vault-schema2.tar.gz, catalog schema 2, and
/// vault-schema3.tar.xz, schema 3, both with BLAKE2b-named objects) are read
/// as they are, refused for changes with a message that names `coffer vault
/// upgrade`, and upgraded in place by an administrator: the catalog at once,
/// recorded in the ledger, then every document re-keyed into SHA-256-named
/// objects, resumably; every document opens byte-identical afterwards.
@Suite("Upgrade from schemas 2 and 3")
struct UpgradeTests {
    /// A committed fixture vault.
    enum Fixture: String, CaseIterable, CustomTestStringConvertible {
        case schema2 = "vault-schema2.tar.gz"
        case schema3 = "vault-schema3.tar.xz"

        /// Its catalog schema.
        var schema: Int { self == .schema2 ? 2 : 3 }
        /// Its catalog tables.
        var tables: [String] { self == .schema2 ? UpgradeTests.schema2Tables : ["ledger", "meta"] }
        var testDescription: String { "schema \(schema)" }
    }

    /// The fixture, unpacked into a fresh harness whose environment uses its
    /// vault, state directory and alice's identity.
    static func unpacked(_ fixture: Fixture = .schema2) throws -> CLIHarness {
        let cli = try CLIHarness()
        let archive = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/\(fixture.rawValue)").path
        let untar = try cli.execute("/usr/bin/tar", ["-xaf", archive, "-C", cli.root])
        guard untar.status == 0 else { throw HarnessError("tar -x \(archive): \(untar.stderr)") }
        cli.environment["COFFER_VAULT"] = cli.path("vault")
        cli.environment["COFFER_STATE_DIR"] = cli.path("state")
        cli.environment["COFFER_IDENTITY"] = cli.path("keys/alice.identity")
        return cli
    }

    static let documents = ["reports/q3.txt", "reports/empty.txt", "reports/scan.bin", "plan.txt"]

    /// The entries the upgrade's first commit writes: the schema step, then
    /// alice's X-Wing key (her first commit since identities had one).
    static let upgradeEntries = ["vault.upgrade", "identity.publish"]

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

    /// The fields of `coffer vault upgrade --json`.
    static func upgrade(_ cli: CLIHarness, vault: String = "vault") throws -> [String: Any] {
        try #require(try cli.ok(["vault", "upgrade", "--json", "--vault", cli.path(vault)]).json() as? [String: Any])
    }

    /// The object files under `vault`'s store, and whether `sha256sum` (the
    /// stock tool) prints each one's name as its digest.
    static func objectsNamedBySHA256(_ cli: CLIHarness, vault: String = "vault") throws -> (count: Int, misnamed: [String]) {
        let files = try FileManager.default.subpathsOfDirectory(atPath: cli.path("\(vault)/objects")).filter { $0.utf8.count == 67 }
        guard !files.isEmpty else { return (0, []) }
        let sums = try cli.execute("/usr/bin/sha256sum", files.map { cli.path("\(vault)/objects/\($0)") })
        let misnamed = sums.text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return fields.count == 2 && fields[1].hasSuffix("/" + fields[0]) ? nil : String(line)
        }
        return (files.count, misnamed)
    }

    @Test("read as it is; every change refused (exit 1) naming `coffer vault upgrade`; a member may not upgrade; an administrator upgrades it once, recorded, every document re-keyed into SHA-256-named objects; everything opens byte-identical", arguments: Fixture.allCases)
    func upgradeInPlace(fixture: Fixture) throws {
        let cli = try Self.unpacked(fixture)
        let bob = cli.path("keys/bob.identity")
        // Reads work on the earlier schema: listing, a keyless verify, the audit log.
        let listed = try cli.ok(["ls"]).text
        for name in Self.documents { #expect(listed.contains(name)) }
        let verify = try cli.ok(["verify"]).text
        #expect(verify.contains("schema \(fixture.schema)") && verify.contains("coffer vault upgrade"))
        #expect(verify.contains("\(Self.documents.count) documents' objects are still named by BLAKE2b"), "\(verify)")
        let before = try Self.actions(cli)
        #expect(before.count == 36 && !before.contains("vault.upgrade"))
        // Changes are refused before they start, with the command that fixes it.
        for arguments in [["open", "plan.txt", "-o", "-"], ["seal", cli.path("in/plan.txt"), "--name", "new.txt"], ["rotate", "role", "legal"]] {
            let refused = try cli.run(arguments)
            #expect(refused.status == 1, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("coffer vault upgrade") && refused.stderr.contains("schema \(fixture.schema)"), "\(arguments): \(refused.stderr)")
            #expect(refused.stdout.isEmpty)
        }
        let memberTry = try cli.run(as: bob, ["vault", "upgrade"])
        #expect(memberTry.status == Exit.accessDenied, "\(memberTry.stderr)")
        #expect(try Self.catalog(cli) == (String(fixture.schema), fixture.tables))
        #expect(try Self.actions(cli) == before)
        #expect(try Self.objectsNamedBySHA256(cli).misnamed.count > 0)

        let upgraded = try Self.upgrade(cli)
        #expect(upgraded["fromSchema"] as? Int == fixture.schema && upgraded["toSchema"] as? Int == 4 && upgraded["entry"] as? Int == 36)
        #expect(upgraded["rekeyed"] as? Int == Self.documents.count && upgraded["remaining"] as? Int == 0)
        #expect(try Self.catalog(cli) == ("4", ["ledger", "meta"]))
        let again = try Self.upgrade(cli)
        #expect(again["fromSchema"] as? Int == 4 && again["entry"] == nil && again["rekeyed"] as? Int == 0 && again["remaining"] as? Int == 0)
        #expect(try Self.actions(cli) == before + Self.upgradeEntries + Array(repeating: "document.rekey", count: Self.documents.count))

        // The BLAKE2b-named objects are unreferenced now; after gc, the stock sha256sum checks every object.
        try cli.ok(["gc"])
        let (count, misnamed) = try Self.objectsNamedBySHA256(cli)
        #expect(count >= 2 * Self.documents.count && misnamed.isEmpty, "\(misnamed)")
        for name in Self.documents {
            let opened = try cli.ok(["open", name, "-o", "-"])
            #expect(opened.stdout == (try Data(contentsOf: URL(fileURLWithPath: cli.path("in/\(name)")))), "\(name)")
        }
        // Bob (legal) still reads what was shared with legal, through its rotated key; carol stays revoked.
        #expect(try cli.run(as: bob, ["open", "plan.txt", "-o", "-"]).text == "merger plan\n")
        #expect(try cli.run(as: cli.path("keys/carol.identity"), ["open", "reports/q3.txt", "-o", "-"]).status == Exit.accessDenied)
        try cli.ok(["seal", cli.path("in/plan.txt"), "--name", "after-upgrade.txt"])
        let deep = try cli.ok(["verify", "--deep"]).text
        #expect(deep.contains("catalog:  schema 4") && deep.contains("vault is consistent") && !deep.contains("BLAKE2b"))
        #expect(try Self.objectsNamedBySHA256(cli).misnamed.isEmpty)
    }

    /// The ledger's entries as `audit log --json` prints them.
    static func entries(_ cli: CLIHarness) throws -> [[String: Any]] {
        try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    /// `audit report --json`'s classic-only key versions.
    static func classicOnlyKeys(_ cli: CLIHarness) throws -> [[String: Any]] {
        let report = try #require(try cli.ok(["audit", "report", "--json"]).json() as? [String: Any])
        return try #require(report["classicOnlyKeys"] as? [[String: Any]])
    }

    @Test("issue 14: an upgraded vault moves to post-quantum keys: audit report names its classic-only key versions; bob's two commands at once publish his X-Wing key once; rotate role --classic-only, killed at random moments and run again, leaves none; everyone still reads")
    func postQuantumMigration() throws {
        let cli = try Self.unpacked(.schema3)
        _ = try Self.upgrade(cli)
        let bobFile = cli.path("keys/bob.identity")
        let bob = try #require(try cli.ok(["identity", "show", "--json", "--identity", bobFile]).json() as? [String: Any])["fingerprint"] as? String
        let before = try Self.classicOnlyKeys(cli)
        #expect(before.contains { $0["role"] as? String == "admin" && $0["withoutPostQuantumKey"] as? Bool == true }, "\(before)")
        #expect(before.contains { $0["role"] as? String == "legal" && ($0["withoutKnownPostQuantumKey"] as? [String]) == [bob].compactMap { $0 } }, "\(before)")
        #expect(try cli.ok(["audit", "report"]).text.contains("role key version(s) still classic-only"))

        // A rotation before bob ran anything still seals to him classically: legal stays listed, admin does not.
        let probe = try Self.unpacked(.schema3)
        _ = try Self.upgrade(probe)
        let span = try probe.duration(of: ["rotate", "role", "--classic-only"])
        let listed = try Self.classicOnlyKeys(probe).compactMap { $0["role"] as? String }
        #expect(listed.contains("legal") && !listed.contains("admin"), "\(listed)")

        // Bob runs two commands at once: his X-Wing key is published once.
        cli.environment["COFFER_IDENTITY"] = bobFile
        let runs = try (0..<2).map { _ in try cli.start(["open", "plan.txt", "-o", "-"]) }
        cli.environment["COFFER_IDENTITY"] = cli.path("keys/alice.identity")
        for run in runs {
            run.waitUntilExit()
            #expect(run.terminationReason == .exit && run.terminationStatus == 0)
        }
        #expect(try Self.entries(cli).filter { $0["action"] as? String == "identity.publish" }.compactMap { $0["actor"] as? String }.count == 2)

        var landed = 0
        for round in 0..<3 {
            // In the middle fifths of the probe's run: a kill late in it can miss a run that is
            // faster than the probe (scripts/test found one), and then no later run has work left.
            let moment = UInt32.random(in: max(1_000, span / 5)...max(2_000, span / 5 * 3))
            if try cli.kill(["rotate", "role", "--classic-only"], after: moment) { landed += 1 }
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
        }
        #expect(landed > 0, "no kill landed while the rotation was running")
        try cli.ok(["rotate", "role", "--classic-only"])
        #expect(try Self.classicOnlyKeys(cli).isEmpty)
        #expect(try cli.ok(["audit", "report"]).text.contains("keys: every role key version is sealed post-quantum"))
        // Every role.key since the upgrade records an X-Wing key and seals with X-Wing (1169 bytes).
        let issued = try Self.entries(cli).suffix(from: 36).filter { $0["action"] as? String == "role.key" }
        #expect(!issued.isEmpty)
        for entry in issued {
            let data = try #require(entry["data"] as? [String: Any])
            let seals = try #require(data["seals"] as? [String: String])
            #expect(data["postQuantumKey"] != nil && seals.values.allSatisfy { Data(base64Encoded: $0)?.count == 1169 }, "\(entry["seq"] ?? "")")
        }
        #expect(try cli.run(as: bobFile, ["open", "plan.txt", "-o", "-"]).text == "merger plan\n")
        for name in Self.documents {
            #expect(try cli.ok(["open", name, "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: cli.path("in/\(name)")))), "\(name)")
        }
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    @Test("the catalog step is one transaction: a failure after the tables are dropped leaves schema 2 whole, and the ledger as it was")
    func failedUpgradeRollsBack() throws {
        let cli = try Self.unpacked()
        let file = cli.path("keys/alice.identity")
        let identity = try IdentityFile.decode(Array(try Data(contentsOf: URL(fileURLWithPath: file))), path: file) { throw HarnessError("a test key has no passphrase") }
        let vault = try Vault.open(at: cli.path("vault"), identity: identity, stateDirectory: .directory(cli.path("state")))
        struct Interrupted: Error {}
        #expect(throws: Interrupted.self) {
            try vault.commit(upgradingSchema: true) { draft in
                // The tables are gone and the vault.upgrade and identity.publish entries are drafted when this runs.
                #expect(draft.entries.count == Self.upgradeEntries.count)
                throw Interrupted()
            }
        }
        #expect(try Self.catalog(cli) == ("2", Self.schema2Tables))
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
        #expect(try Self.actions(cli).count == 36)
    }

    @Test("two upgrades at once: both succeed, exactly one vault.upgrade entry and one re-key per document", arguments: Fixture.allCases)
    func concurrentUpgrades(fixture: Fixture) throws {
        let cli = try Self.unpacked(fixture)
        let runs = try (0..<2).map { _ in try cli.start(["vault", "upgrade"]) }
        for run in runs {
            run.waitUntilExit()
            #expect(run.terminationReason == .exit && run.terminationStatus == 0)
        }
        let actions = try Self.actions(cli)
        #expect(actions.filter { $0 == "vault.upgrade" }.count == 1)
        // After the fixture's own 36 entries (one of them the re-key of plan.txt).
        #expect(actions.count == 36 + 2 + Self.documents.count && actions.suffix(from: 38).allSatisfy { $0 == "document.rekey" }, "\(actions.suffix(10))")
        #expect(try Self.catalog(cli) == ("4", ["ledger", "meta"]))
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
        #expect(try Self.upgrade(cli)["remaining"] as? Int == 0)
    }

    @Test("SIGKILL at any moment of an upgrade: the earlier schema without the entry, or schema 4 with it and some documents re-keyed; always consistent; a rerun finishes", arguments: Fixture.allCases)
    func killDuringUpgrade(fixture: Fixture) throws {
        // Kill moments fall within 90 % of how long one whole upgrade takes here.
        let span = try Self.unpacked(fixture).duration(of: ["vault", "upgrade"])
        var landed = 0
        for round in 0..<6 {
            let cli = try Self.unpacked(fixture)
            if try cli.kill(["vault", "upgrade"], within: span) { landed += 1 }
            let (schema, tables) = try Self.catalog(cli)
            let actions = try Self.actions(cli)
            let upgrades = actions.filter { $0 == "vault.upgrade" }.count
            let rekeys = actions.suffix(from: 36).filter { $0 == "document.rekey" }.count
            #expect((schema == String(fixture.schema) && tables == fixture.tables && upgrades == 0 && actions.count == 36)
                || (schema == "4" && tables == ["ledger", "meta"] && upgrades == 1 && rekeys <= Self.documents.count), "round \(round)")
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
            let finished = try Self.upgrade(cli)
            #expect(finished["remaining"] as? Int == 0, "round \(round)")
            let after = try Self.actions(cli)
            #expect(after.count == 36 + 2 + Self.documents.count && after.suffix(from: 36).filter { $0 == "document.rekey" }.count == Self.documents.count, "round \(round): \(after.suffix(from: 36))")
            for name in Self.documents {
                #expect(try cli.ok(["open", name, "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: cli.path("in/\(name)")))), "round \(round): \(name)")
            }
        }
        #expect(landed > 0, "no kill landed while vault upgrade was running")
    }

    @Test("an object an attacker altered before the upgrade stops it with an integrity error (exit 5) naming the object; documents before it stay re-keyed, and nothing else changes")
    func damagedObjectStopsUpgrade() throws {
        let cli = try Self.unpacked(.schema3)
        // The second segment of reports/scan.bin (the only document of two segments), one byte flipped.
        let objects = try FileManager.default.subpathsOfDirectory(atPath: cli.path("vault/objects")).filter { $0.utf8.count == 67 }
        let sizes = try objects.map { (path: $0, size: try FileManager.default.attributesOfItem(atPath: cli.path("vault/objects/\($0)"))[.size] as! Int) }
        let target = try #require(sizes.first { $0.size > 150_000 && $0.size < 4_000_000 })
        let path = cli.path("vault/objects/\(target.path)")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        bytes[bytes.count / 2] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let refused = try cli.run(["vault", "upgrade"])
        #expect(refused.status == Exit.integrity, "\(refused.stderr)")
        #expect(refused.stderr.contains("scan.bin") || refused.stderr.contains("segment") || refused.stderr.contains("authenticat"), "\(refused.stderr)")
        #expect(try Self.catalog(cli).schema == "4")
        let actions = try Self.actions(cli)
        #expect(Array(actions[36..<38]) == Self.upgradeEntries && !actions.suffix(from: 38).contains { $0 != "document.rekey" })
        // The damage is a finding of verify, and the rest of the vault still opens.
        #expect(try cli.run(["verify"]).status == Exit.integrity)
        #expect(try cli.ok(["open", "plan.txt", "-o", "-"]).text == "merger plan\n")
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

    @Test("a backup snapshot of an earlier vault verifies and restores, and adopting it upgrades its catalog in the same transaction", arguments: Fixture.allCases)
    func adoptUpgrades(fixture: Fixture) throws {
        let cli = try Self.unpacked(fixture)
        #expect(try cli.ok(["backup", "verify", cli.path("backup")]).status == 0)
        let restored = try cli.ok(["backup", "restore", cli.path("backup"), "--to", cli.path("restored")])
        #expect(restored.status == 0)
        #expect(try Self.catalog(cli, vault: "restored").schema == String(fixture.schema))
        try cli.ok(["backup", "adopt", "--vault", cli.path("restored")])
        #expect(try Self.catalog(cli, vault: "restored") == ("4", ["ledger", "meta"]))
        #expect(try Self.actions(cli, vault: "restored").suffix(3) == Self.upgradeEntries + ["vault.adopt"])
        // Its documents are re-keyed by `vault upgrade`, as in the vault itself.
        #expect(try Self.upgrade(cli, vault: "restored")["rekeyed"] as? Int == Self.documents.count)
        #expect(try cli.ok(["open", "reports/q3.txt", "-o", "-", "--vault", cli.path("restored")]).text == "Q3 numbers: 1,234,567\n")
    }
}

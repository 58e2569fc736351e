import Foundation
import Testing

@testable import CofferKit

/// An insider with write access to the vault directory plants code in
/// catalog.sqlite: every command refuses the vault (exit 5) before it
/// reports anything, and `verify` names what was planted.
@Suite("Hostile catalog")
struct HostileCatalogTests {
    /// Plants `sql` in the vault's catalog, as an insider with write access would.
    func plant(_ sql: String, in cli: CLIHarness) throws {
        try SQLiteDatabase(path: cli.path("vault/catalog.sqlite"), create: false).execute(sql)
    }

    @Test("a trigger that drops ledger appends: revoke --rekey and open refuse the vault, verify names it")
    func silencedLedger() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.write("plan.txt", Data("the plan\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt")])
        try cli.ok(["share", "plan.txt", "--role", "eng"])
        let entries = try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n").count
        try plant("CREATE TRIGGER silence BEFORE INSERT ON ledger BEGIN SELECT RAISE(IGNORE); END", in: cli)

        let revoke = try cli.run(["revoke", "bob", "--rekey"])
        #expect(revoke.status == Exit.integrity, "\(revoke.stderr)")
        #expect(revoke.stderr.contains("trigger \"silence\""), "\(revoke.stderr)")
        #expect(revoke.text.isEmpty)
        let open = try cli.run(as: bob.file, ["open", "plan.txt", "-o", "-"])
        #expect(open.status == Exit.integrity && open.stdout.isEmpty, "\(open.stderr)")

        let verify = try cli.run(["verify", "--json"])
        #expect(verify.status == Exit.integrity)
        let findings = try #require((try verify.json() as? [String: Any])?["findings"] as? [[String: Any]])
        #expect(findings.contains { ($0["message"] as? String)?.contains("trigger \"silence\" on \"ledger\"") == true }, "\(findings)")
        // Nothing was appended while the trigger sat there.
        try SQLiteDatabase(path: cli.path("vault/catalog.sqlite"), create: false).execute("DROP TRIGGER silence")
        #expect(try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n").count == entries)
    }

    @Test("a trigger that drops only document.open entries: open releases no plaintext, a keyless verify from another state directory reports it")
    func silencedOpens() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("plan.txt", Data("the plan\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt")])
        try plant(
            "CREATE TRIGGER quiet BEFORE INSERT ON ledger WHEN instr(CAST(new.body AS TEXT), 'document.open') > 0 BEGIN SELECT RAISE(IGNORE); END",
            in: cli)
        let open = try cli.run(["open", "plan.txt", "-o", "-"])
        #expect(open.status == Exit.integrity && open.stdout.isEmpty, "\(open.stderr)")
        let verify = try cli.run(["verify"], environment: ["COFFER_STATE_DIR": cli.path("other-state")])
        #expect(verify.status == Exit.integrity && verify.text.contains("quiet"), "\(verify.text) \(verify.stderr)")
    }
}

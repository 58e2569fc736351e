import Foundation
import Testing

/// Sealed ledger details through the real binary: a storage reader with
/// SQL finds nothing of what left the vault; an administrator's `bundle
/// trace` and `audit log --details` read it; a member's do not.
@Suite("Sealed ledger details")
struct SealedDetailsCommandTests {
    @Test("bundle and backup details are sealed in the ledger, readable by administrators only")
    func sealedForAdministrators() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.write("plans/merger-7f3a.txt", Data("the terms\n".utf8))
        try cli.ok(["seal", cli.path("plans/merger-7f3a.txt")])
        try cli.execute("/usr/bin/age-keygen", ["-o", cli.path("partner.txt")])
        let recipient = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("partner.txt")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        try cli.ok(["partner", "add", "globex-55e1", recipient])
        try cli.ok(["bundle", "create", "merger-7f3a.txt", "--to", "globex-55e1", "--note", "counsel-only-91c2", "-o", cli.path("out.age")])
        try cli.ok(["backup", "create", cli.path("dest-4d9b")])
        let sha256 = String(try cli.execute("/usr/bin/sha256sum", [cli.path("plans/merger-7f3a.txt")]).text.prefix(64))

        // What someone with read access to the directory sees with SQL.
        let dump = try cli.execute("/usr/bin/sqlite3", [cli.path("vault/catalog.sqlite"), "SELECT CAST(body AS TEXT) FROM ledger WHERE json_extract(CAST(body AS TEXT), '$.action') != 'partner.add'"])
        #expect(dump.status == 0 && dump.text.contains("bundle.create") && dump.text.contains("vault.backup"), "\(dump.stderr)")
        for secret in ["merger-7f3a", sha256, "counsel-only-91c2", "globex-55e1", "dest-4d9b"] {
            #expect(!dump.text.contains(secret), "the ledger shows \(secret)")
        }
        #expect(try cli.run(["audit", "verify"]).status == Exit.ok)

        // The administrator traces the bundle and reads the details.
        let traced = try #require(try cli.ok(["bundle", "trace", sha256, "--json"]).json() as? [[String: Any]])
        #expect(traced.count == 1 && traced.first?["name"] as? String == "merger-7f3a.txt")
        #expect(traced.first?["recipients"] as? [String] == ["globex-55e1"])
        let destination = URL(fileURLWithPath: cli.path("dest-4d9b")).standardizedFileURL.path
        let log = try cli.ok(["audit", "log", "--details"]).text
        #expect(log.contains("merger-7f3a.txt") && log.contains("counsel-only-91c2") && log.contains(destination), "\(log)")
        let lines = try cli.ok(["audit", "log", "--details", "--json", "--action", "vault.backup"]).text.split(separator: "\n")
        let backupLine = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect((backupLine["details"] as? [String: Any])?["destination"] as? String == destination)
        // Without --details, the log shows a placeholder.
        let plain = try cli.ok(["audit", "log"]).text
        let bundleLine = try #require(plain.split(separator: "\n").first { $0.contains("bundle.create") })
        #expect(bundleLine.hasSuffix("  (sealed details)") && !plain.contains("merger-7f3a"), "\(plain)")

        // audit report: keyless it counts files only; with --details an administrator's report names the recipients.
        let keyless = try cli.ok(["audit", "report", "--bulk-files", "1"]).text
        #expect(keyless.contains("bulk-export") && keyless.contains("(sealed details)") && !keyless.contains("globex-55e1"), "\(keyless)")
        let revealed = try cli.ok(["audit", "report", "--bulk-files", "1", "--details"]).text
        #expect(revealed.contains("to globex-55e1: 1 files, 10 bytes"), "\(revealed)")

        // Bob, a member but no administrator, reads none of it.
        let bobTrace = try cli.run(as: bob.file, ["bundle", "trace", sha256, "--json"])
        #expect(bobTrace.status == Exit.ok, "\(bobTrace.stderr)")
        #expect((try bobTrace.json() as? [Any])?.isEmpty == true)
        #expect(bobTrace.stderr.contains("1 bundle(s) have sealed details"), "\(bobTrace.stderr)")
        let bobLog = try cli.run(as: bob.file, ["audit", "log", "--details"])
        #expect(bobLog.status == Exit.ok && bobLog.text.contains("(sealed details)") && !bobLog.text.contains("merger-7f3a"), "\(bobLog.text)")
        let bobReport = try cli.run(as: bob.file, ["audit", "report", "--bulk-files", "1", "--details"])
        #expect(bobReport.status == Exit.ok && bobReport.text.contains("(sealed details)") && !bobReport.text.contains("globex-55e1"), "\(bobReport.text)")
    }
}

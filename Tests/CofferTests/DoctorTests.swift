import Foundation
import Testing

/// `coffer doctor`: reads only, names each problem and its fix, exit 1 on a problem.
@Suite("Doctor")
struct DoctorTests {
    /// The status of each subject in `doctor --json`, and the exit status.
    static func doctor(_ cli: CLIHarness, environment: [String: String] = [:]) throws -> (status: Int32, checks: [String: [String: Any]]) {
        let result = try cli.run(["doctor", "--json"], timeout: 20, environment: environment)
        let report = try #require(try result.json() as? [String: Any], "\(result.stderr)")
        let checks = try #require(report["checks"] as? [[String: Any]])
        var bySubject: [String: [String: Any]] = [:]
        for check in checks { bySubject[check["subject"] as! String] = check }
        return (result.status, bySubject)
    }

    @Test("a healthy set-up: libsodium, state directory, vault and clock ok; an identity without a passphrase is a warning, not a failure")
    func healthy() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let (status, checks) = try Self.doctor(cli)
        #expect(status == Exit.ok)
        for subject in ["libsodium", "state directory", "vault", "clock"] {
            #expect(checks[subject]?["status"] as? String == "ok", "\(subject): \(checks[subject] ?? [:])")
        }
        #expect(checks["identity file"]?["status"] as? String == "warning")
        #expect((checks["identity file"]?["detail"] as? String)?.contains("without a passphrase") == true)
        // A protected identity is ok; the text form names each subject.
        let pass = try cli.write("pass.txt", Data("a passphrase\n".utf8))
        try cli.ok(["identity", "new", "--out", cli.path("protected.id"), "--passphrase-file", pass])
        #expect(try Self.doctor(cli, environment: ["COFFER_IDENTITY": cli.path("protected.id")]).checks["identity file"]?["status"] as? String == "ok")
        let text = try cli.ok(["doctor"]).text
        #expect(text.contains("ok      vault: ") && text.contains("warning identity file: ") && text.contains("        fix: "), "\(text)")
    }

    @Test("--version names the version, the commit it was built from (unknown for a plain swift build) and the libsodium it runs with, the version doctor reports")
    func version() throws {
        let cli = try CLIHarness()
        let printed = try cli.ok(["--version"]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let (_, checks) = try Self.doctor(cli)
        let sodium = try #require((checks["libsodium"]?["detail"] as? String)?.replacingOccurrences(of: "version ", with: ""))
        // scripts/package and scripts/bootstrap build with the commit; the test build is a plain one.
        #expect(printed == "0.1.0 (commit unknown, libsodium \(sodium))")
    }

    @Test("an identity file others can read, a link, a FIFO or a missing one is a problem with its fix (exit 1), never a hang")
    func identityProblems() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let identity = cli.environment["COFFER_IDENTITY"]!
        chmod(identity, 0o644)
        var (status, checks) = try Self.doctor(cli)
        #expect(status == 1)
        #expect(checks["identity file"]?["status"] as? String == "problem")
        #expect(checks["identity file"]?["fix"] as? String == "chmod 600 \(identity)")
        chmod(identity, 0o600)
        #expect(symlink(identity, cli.path("link.id")) == 0)
        (status, checks) = try Self.doctor(cli, environment: ["COFFER_IDENTITY": cli.path("link.id")])
        #expect(status == 1 && (checks["identity file"]?["detail"] as? String)?.contains("symbolic link") == true)
        #expect(mkfifo(cli.path("fifo.id"), 0o600) == 0)
        (status, checks) = try Self.doctor(cli, environment: ["COFFER_IDENTITY": cli.path("fifo.id")])
        #expect(status == 1 && (checks["identity file"]?["detail"] as? String)?.contains("FIFO") == true)
        (status, checks) = try Self.doctor(cli, environment: ["COFFER_IDENTITY": cli.path("missing.id")])
        #expect(status == 1 && (checks["identity file"]?["fix"] as? String)?.contains("coffer identity new") == true)
        try cli.write("garbage.id", Data("not an identity\n".utf8))
        chmod(cli.path("garbage.id"), 0o600)
        (status, checks) = try Self.doctor(cli, environment: ["COFFER_IDENTITY": cli.path("garbage.id")])
        #expect(status == 1 && checks["identity file"]?["status"] as? String == "problem")
    }

    @Test("a state directory others can enter is a problem; none yet is fine")
    func stateDirectory() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let state = cli.environment["COFFER_STATE_DIR"]!
        chmod(state, 0o755)
        let (status, checks) = try Self.doctor(cli)
        #expect(status == 1 && checks["state directory"]?["fix"] as? String == "chmod 700 \(state)")
        #expect(try Self.doctor(cli, environment: ["COFFER_STATE_DIR": cli.path("not-yet")]).checks["state directory"]?["status"] as? String == "ok")
    }

    @Test("no vault chosen is a warning; a missing vault, a schema-2 vault (names vault upgrade) and a FIFO for a catalog are problems; nothing is changed")
    func vaultProblems() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        var (status, checks) = try Self.doctor(cli, environment: ["COFFER_VAULT": ""])
        #expect(status == Exit.ok && checks["vault"]?["status"] as? String == "warning")
        (status, checks) = try Self.doctor(cli, environment: ["COFFER_VAULT": cli.path("nowhere")])
        #expect(status == 1 && checks["vault"]?["status"] as? String == "problem")

        let old = try UpgradeTests.unpacked()
        let before = try Data(contentsOf: URL(fileURLWithPath: old.path("vault/catalog.sqlite")))
        (status, checks) = try Self.doctor(old)
        #expect(status == 1)
        #expect((checks["vault"]?["fix"] as? String)?.contains("coffer vault upgrade") == true, "\(checks["vault"] ?? [:])")
        #expect(try Data(contentsOf: URL(fileURLWithPath: old.path("vault/catalog.sqlite"))) == before)

        let catalog = cli.path("vault/catalog.sqlite")
        try FileManager.default.removeItem(atPath: catalog)
        #expect(mkfifo(catalog, 0o600) == 0)
        (status, checks) = try Self.doctor(cli)
        #expect(status == 1 && checks["vault"]?["status"] as? String == "problem", "\(checks)")
    }
}

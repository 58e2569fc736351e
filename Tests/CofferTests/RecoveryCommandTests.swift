import Foundation
import Testing

/// `coffer recovery` through the real binary, with shares encrypted to
/// officers by Coffer and opened by the stock `age`.
@Suite("Recovery commands")
struct RecoveryCommandTests {
    @Test("setup with officer recipients; the stock age opens two shares; use adds an administrator who reads everything; the documented exit codes")
    func breakGlass() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob"), dana = try cli.person("dana")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.write("plan.txt", Data("the plan\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt")])
        var recipients: [String] = []
        for officer in 1...3 {
            try cli.execute("/usr/bin/age-keygen", ["-o", cli.path("officer\(officer).key")])
            recipients.append(try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("officer\(officer).key")]).text.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        #expect(try cli.run(as: bob.file, ["recovery", "setup", "--shares", "3", "--threshold", "2", "--out", cli.path("x")]).status == Exit.accessDenied)
        #expect(try cli.run(["recovery", "setup", "--shares", "3", "--threshold", "2", "--out", cli.path("x"), "--to", recipients[0]]).status == Exit.usage)
        let setup = try #require(try cli.ok(["recovery", "setup", "--shares", "3", "--threshold", "2", "--out", cli.path("shares"), "--json"]
            + recipients.flatMap { ["--to", $0] }).json() as? [String: Any])
        let files = try #require(setup["files"] as? [String])
        #expect(files.count == 3 && files.allSatisfy { $0.hasSuffix(".age") })
        #expect(try cli.run(["recovery", "setup", "--shares", "3", "--threshold", "2", "--out", cli.path("shares")]).status == Exit.conflict)
        for officer in [1, 3] {
            let opened = try cli.execute("/usr/bin/age", ["-d", "-i", cli.path("officer\(officer).key"), "-o", cli.path("plain\(officer).txt"), files[officer - 1]])
            #expect(opened.status == 0, "\(opened.stderr)")
        }
        // One share is not enough (2); an officer's key does not open another's share.
        #expect(try cli.execute("/usr/bin/age", ["-d", "-i", cli.path("officer1.key"), files[1]]).status != 0)
        let one = try cli.run(["recovery", "use", cli.path("plain1.txt"), "--add-admin", dana.publicIdentity])
        #expect(one.status == Exit.usage && one.stderr.contains("needs 2 intact shares"), "\(one.stderr)")
        #expect(try cli.run(["recovery", "use", files[0], cli.path("plain3.txt"), "--add-admin", dana.publicIdentity]).status == Exit.usage)

        let used = try cli.ok(["recovery", "use", cli.path("plain1.txt"), cli.path("plain3.txt"), "--add-admin", dana.publicIdentity, "--name", "dana"])
        #expect(used.text.contains("added administrator"), "\(used.text)")
        #expect(try cli.run(as: dana.file, ["open", "plan.txt", "-o", "-"]).stdout == Data("the plan\n".utf8))
        #expect(try cli.run(as: dana.file, ["role", "create", "legal"]).status == Exit.ok)
        let log = try cli.ok(["audit", "log", "--action", "admin.add"]).text
        #expect(log.split(separator: "\n").count == 2, "\(log)")  // the recovery identity, then dana (signed by it)
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    @Test("two officers run recovery use for the same new administrator at once: one adds it, the other exits 7, and the ledger has one admin.add for it")
    func concurrentUse() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let dana = try cli.person("dana")
        try cli.ok(["recovery", "setup", "--shares", "3", "--threshold", "2", "--out", cli.path("shares")])
        let share = { (n: Int) in cli.path("shares/share-\(n)-of-3.txt") }
        let both = try [[share(1), share(2)], [share(2), share(3)]].map { shares in
            try cli.start(["recovery", "use"] + shares + ["--add-admin", dana.publicIdentity, "--name", "dana"])
        }
        for process in both { process.waitUntilExit() }
        #expect(both.map(\.terminationStatus).sorted() == [Exit.ok, Exit.conflict])
        let log = try cli.ok(["audit", "log", "--action", "admin.add"]).text
        #expect(log.split(separator: "\n").count == 2, "\(log)")  // the recovery identity, then dana once
        #expect(try cli.run(as: dana.file, ["role", "create", "legal"]).status == Exit.ok)
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    @Test("SIGKILL during setup: the vault verifies, and every share file left is whole")
    func killDuringSetup() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let span = try cli.duration(of: ["recovery", "setup", "--shares", "9", "--threshold", "5", "--out", cli.path("timed")])
        for round in 0..<5 {
            let folder = cli.path("shares-\(round)")
            try cli.kill(["recovery", "setup", "--shares", "9", "--threshold", "5", "--out", folder], within: span)
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
            let left = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            for file in left where !file.hasPrefix(".") {
                let text = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
                #expect(text.hasPrefix("coffer-recovery-share v1\n") && text.hasSuffix("=\n"), "round \(round) \(file)")
            }
        }
    }
}

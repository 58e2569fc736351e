import Foundation
import Testing

/// Kills `coffer seal` with SIGKILL at random moments: afterwards the vault
/// verifies clean and every document that was committed opens byte-identical.
/// `COFFER_TEST_LEVEL=quick` kills 3 times, the default (and CI) 8, `full` 40.
@Suite("Crash safety")
struct CrashTests {
    static var kills: Int {
        switch ProcessInfo.processInfo.environment["COFFER_TEST_LEVEL"] {
        case "quick": 3
        case "full": 40
        default: 8
        }
    }

    @Test("SIGKILL during seal never damages the vault")
    func killDuringSeal() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("keep.txt", Data("committed before the crashes\n".utf8))
        try cli.ok(["seal", cli.path("keep.txt")])
        try cli.write("big.bin", pattern(24 << 20, seed: 9))
        var generator = SystemRandomNumberGenerator()
        for round in 0..<Self.kills {
            try cli.kill(["seal", cli.path("big.bin"), "--name", "big-\(round).bin"], after: UInt32.random(in: 5_000...400_000, using: &generator))

            let verify = try cli.run(["verify"])
            #expect(verify.status == Exit.ok, "round \(round): \(verify.text)")
            let listed = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
            for name in listed.compactMap({ $0["name"] as? String }) {
                let opened = try cli.run(["open", name, "-o", "-"])
                #expect(opened.status == Exit.ok, "round \(round) \(name): \(opened.stderr)")
                let expected = name == "keep.txt" ? Data("committed before the crashes\n".utf8) : pattern(24 << 20, seed: 9)
                #expect(opened.stdout == expected, "round \(round) \(name)")
            }
        }
        // The vault still takes new documents.
        try cli.ok(["seal", cli.path("big.bin"), "--name", "after.bin"])
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("SIGKILL during open -o, age decrypt -o and bundle open leaves no plaintext behind, not even a temporary file")
    func killDuringOpen() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("big.bin", pattern(96 << 20, seed: 4))
        try cli.ok(["seal", cli.path("big.bin")])
        let recipient = try #require(try cli.ok(["identity", "show", "--json"]).json() as? [String: Any])["age"] as! String
        try cli.ok(["age", "encrypt", "-r", recipient, "-o", cli.path("big.age"), cli.path("big.bin")])
        // A bundle of the same document to ourselves, opened with our own keys.
        try cli.ok(["bundle", "create", "big.bin", "--to", recipient, "-o", cli.path("big.bundle")])
        try cli.write("sender.pub", try cli.ok(["identity", "show", "--minisign"]).stdout)
        let outputs = cli.path("out")
        try FileManager.default.createDirectory(atPath: outputs, withIntermediateDirectories: true)
        // Unnamed files need O_TMPFILE (020000000 | O_DIRECTORY) on this file system; where it is
        // missing, Coffer falls back to named temporary files, which a kill leaves (documented).
        let probe = open(outputs, 0o20000000 | O_DIRECTORY | O_WRONLY, 0o600)
        let unnamedSupported = probe >= 0
        if unnamedSupported { close(probe) }
        var generator = SystemRandomNumberGenerator()
        var interrupted = 0
        for round in 0..<Self.kills {
            let arguments = [
                ["open", "big.bin", "-o", outputs + "/opened-\(round)"],
                ["age", "decrypt", "-o", outputs + "/decrypted-\(round)", cli.path("big.age")],
                ["bundle", "open", cli.path("big.bundle"), "--from", cli.path("sender.pub"), "-o", outputs + "/bundle-\(round)"],
            ][round % 3]
            if try cli.kill(arguments, after: UInt32.random(in: 20_000...250_000, using: &generator)) { interrupted += 1 }
            // Either the whole, authentic output under its name, or no file at all
            // (a killed bundle open may leave its private staging folder, empty).
            let found = try FileManager.default.subpathsOfDirectory(atPath: outputs).filter { path in
                var isDirectory: ObjCBool = false
                return FileManager.default.fileExists(atPath: outputs + "/" + path, isDirectory: &isDirectory) && !isDirectory.boolValue
            }
            for path in found {
                let name = URL(fileURLWithPath: path).lastPathComponent
                let temporary = path.hasPrefix(".") || name.hasPrefix(".")
                #expect(!temporary || !unnamedSupported, "round \(round): \(path) left behind")
                if !temporary, name == "big.bin" || !path.contains("/") {
                    #expect(try Data(contentsOf: URL(fileURLWithPath: outputs + "/" + path)) == pattern(96 << 20, seed: 4), "round \(round): \(path)")
                }
            }
        }
        #expect(interrupted > 0, "no kill landed before the command finished")
    }

    @Test("SIGKILL during rotate doc: every document opens byte-identical, verify --deep is clean, a rerun re-keys, gc keeps what is referenced")
    func killDuringRekey() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let contents = (0..<12).map { pattern(300_000 + $0 * 1_000, seed: UInt64($0) + 5) }
        for (i, bytes) in contents.enumerated() { try cli.write("docs/d\(i).bin", bytes) }
        try cli.ok(["seal", cli.path("docs")])
        let names = (0..<contents.count).map { "docs/d\($0).bin" }
        let tree = Dictionary(uniqueKeysWithValues: contents.enumerated().map { ("d\($0.offset).bin", $0.element) })
        // Kill moments fall within 90 % of how long one whole re-key takes here.
        let span = try cli.duration(of: ["rotate", "doc"] + names)
        var landed = 0
        for round in 0..<Self.kills {
            if try cli.kill(["rotate", "doc"] + names, within: span) { landed += 1 }
            let verify = try cli.run(["verify", "--deep"])
            #expect(verify.status == Exit.ok, "round \(round): \(verify.text) \(verify.stderr)")
            let opened = try cli.openTree("docs/", as: cli.environment["COFFER_IDENTITY"]!)
            #expect(opened.tree == tree, "round \(round): \(opened.result.stderr)")
        }
        #expect(landed > 0, "no kill landed while rotate doc was running")
        try cli.ok(["rotate", "doc"] + names)
        try cli.ok(["gc", "--grace", "0m"])
        for (name, bytes) in zip(names, contents) { #expect(try cli.ok(["open", name, "-o", "-"]).stdout == bytes) }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("SIGKILL during backup restore: the target is never a vault that differs from the snapshot, and a restore afterwards verifies")
    func killDuringRestore() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("big.bin", pattern(16 << 20, seed: 3))
        try cli.ok(["seal", cli.path("big.bin")])
        try cli.ok(["backup", "create", cli.path("dest")])
        let span = try cli.duration(of: ["backup", "restore", cli.path("dest"), "--to", cli.path("restored-timing")])
        var landed = 0
        for round in 0..<Self.kills {
            let target = cli.path("restored-\(round)")
            if try cli.kill(["backup", "restore", cli.path("dest"), "--to", target], within: span) {
                landed += 1
            }
            // Either nothing that is a vault (the descriptor is written last), or the whole, checked copy.
            let verify = try cli.run(["verify", "--vault", target])
            #expect([Exit.ok, Exit.notFound].contains(verify.status), "round \(round): exit \(verify.status): \(verify.text) \(verify.stderr)")
            if verify.status == Exit.ok {
                #expect(try cli.run(["verify", "--deep", "--vault", target]).status == Exit.ok, "round \(round)")
            }
        }
        #expect(landed > 0, "no kill landed while backup restore was running")
        let target = cli.path("restored-final")
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", target])
        #expect(try cli.run(["verify", "--deep", "--vault", target]).status == Exit.ok)
        #expect(try cli.run(["verify"]).status == Exit.ok)  // the live vault is untouched
    }
}

import CofferTestSupport
import Foundation
import Testing

/// Crash torture and concurrency through the real binary.
///
/// Kills: `COFFER_TORTURE_KILLS` if set, else 200 for `COFFER_TEST_LEVEL=ci`
/// and the default, 30 for `quick`, 1,000 for `full`.
@Suite("Torture")
struct TortureTests {
    static var kills: Int {
        let environment = ProcessInfo.processInfo.environment
        if let count = environment["COFFER_TORTURE_KILLS"].flatMap(Int.init) { return count }
        switch environment["COFFER_TEST_LEVEL"] {
        case "quick": return 30
        case "full": return 1_000
        default: return 200
        }
    }

    @Test("SIGKILL at random moments of seal, rotate, backup create and gc: the vault always verifies and every committed document opens")
    func killEverything() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.write("big.bin", pattern(6 << 20, seed: 3))
        var expected: [String: Data] = [:]
        for i in 0..<10 {
            let content = Data("document \(i)\n".utf8)
            try cli.write("docs/d\(i).txt", content)
            expected["docs/d\(i).txt"] = content
        }
        try cli.ok(["seal", cli.path("docs")])
        try cli.ok(["share"] + expected.keys.sorted() + ["--role", "eng"])
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "2"
        let operations: [(name: String, arguments: (Int) -> [String])] = [
            ("seal", { ["seal", cli.path("big.bin"), "--name", "big-\($0).bin"] }),
            ("rotate", { _ in ["rotate", "role", "eng"] }),
            ("backup", { _ in ["backup", "create", cli.path("backup")] }),
            ("gc", { _ in ["gc", "--grace", "0m"] }),
        ]
        // How long each takes uninterrupted, so kills land inside it: the faster of two
        // runs (a first run pays one-time costs, like a full backup, that later runs do not).
        var durations: [String: UInt32] = [:]
        for operation in operations {
            for run in [-1, -2] {
                let micros = max(20_000, try cli.duration(of: operation.arguments(run)))
                durations[operation.name] = min(durations[operation.name] ?? .max, micros)
            }
        }
        let sharedTree = Dictionary(uniqueKeysWithValues: expected.map { (String($0.key.dropFirst("docs/".count)), $0.value) })
        expected["big--1.bin"] = pattern(6 << 20, seed: 3)
        expected["big--2.bin"] = pattern(6 << 20, seed: 3)

        var generator = SystemRandomNumberGenerator()
        var interrupted = 0
        for round in 0..<Self.kills {
            let operation = operations[Int.random(in: 0..<operations.count, using: &generator)]
            // Counted if still running when killed.
            if try cli.kill(operation.arguments(round), after: UInt32.random(in: 0...durations[operation.name]!, using: &generator)) { interrupted += 1 }

            let verify = try cli.run(["verify"])
            #expect(verify.status == Exit.ok, "round \(round) after \(operation.name): \(verify.text)")
            // Every shared document, as Bob (through the role): one `open docs/`,
            // from which a document Bob can no longer read would be missing.
            let opened = try cli.openTree("docs/", as: bob.file)
            #expect(opened.tree == sharedTree, "round \(round): bob: \(opened.result.stderr)")
            if verify.status != Exit.ok { break }
        }
        // Most kills landed while the command was running, not after it ended.
        #expect(interrupted >= Self.kills / 2, "\(interrupted) of \(Self.kills) kills interrupted a running command")
        // Everything committed opens; interrupted rotations and backups finish.
        try cli.ok(["rotate", "role", "eng"])
        try cli.ok(["backup", "create", cli.path("backup")])
        try cli.ok(["backup", "verify", cli.path("backup")])
        let listed = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
        for name in listed.compactMap({ $0["name"] as? String }) {
            let opened = try cli.run(["open", name, "-o", "-"])
            #expect(opened.status == Exit.ok, "\(name): \(opened.stderr)")
            if let content = expected[name] ?? (name.hasPrefix("big-") ? pattern(6 << 20, seed: 3) : nil) { #expect(opened.stdout == content, "\(name)") }
        }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
        #expect(try cli.run(["audit", "verify"]).status == Exit.ok)
    }

    @Test("several processes seal, open and back up one vault at once: nothing lost, nothing corrupt, no lock errors")
    func concurrency() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        for i in 0..<4 { try cli.write("seed/s\(i).txt", Data("seed \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("seed")])
        var processes: [(ChildProcess, Pipe, String)] = []
        func start(_ arguments: [String], _ label: String) throws {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", arguments.joined(separator: " ")]
            process.environment = cli.environment
            let errors = Pipe()
            process.standardError = errors
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            processes.append((process, errors, label))
        }
        let coffer = CLIHarness.binary
        for writer in 0..<3 {
            for i in 0..<8 { try cli.write("w\(writer)/w\(writer)-f\(i).txt", Data("writer \(writer) file \(i)\n".utf8)) }
            try start(["for i in 0 1 2 3 4 5 6 7; do", coffer, "seal", cli.path("w\(writer)/w\(writer)-f") + "$i.txt", "|| exit 1; done"], "sealer \(writer)")
        }
        try start(["for i in 1 2 3 4 5 6 7 8 9 10; do", coffer, "open seed/s1.txt -o - >/dev/null || exit 1; done"], "reader")
        try start(["for i in 1 2 3; do", coffer, "backup create", cli.path("backup"), ">/dev/null || exit 1; done"], "backup")
        for (process, errors, label) in processes {
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "\(label): \(stderr)")
            #expect(!stderr.contains("locked"), "\(label): \(stderr)")
        }
        let listed = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
        #expect(listed.count == 4 + 24)
        for writer in 0..<3 {
            for i in 0..<8 {
                #expect(try cli.run(["open", "w\(writer)-f\(i).txt", "-o", "-"]).stdout == Data("writer \(writer) file \(i)\n".utf8))
            }
        }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
        #expect(try cli.run(["backup", "verify", cli.path("backup"), "--deep"]).status == Exit.ok)
        #expect(try cli.run(["audit", "verify"]).status == Exit.ok)
    }
}

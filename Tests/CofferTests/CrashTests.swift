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
            let process = Process()
            process.executableURL = URL(fileURLWithPath: CLIHarness.binary)
            process.arguments = ["seal", cli.path("big.bin"), "--name", "big-\(round).bin"]
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32.random(in: 5_000...400_000, using: &generator))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()

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
}

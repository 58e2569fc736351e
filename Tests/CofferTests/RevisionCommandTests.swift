import Foundation
import Testing

/// Issue 15, finding 4, through the real binary: `seal` of an existing name
/// adds a revision, `history` lists them, `open --at` opens one; two seals
/// of one name at once, and seals killed at random moments, lose nothing.
@Suite("Revision commands")
struct RevisionCommandTests {
    @Test("seal again: revision 2, then unchanged; history (text and --json); open --at 1; a missing revision is exit 6; a reader who does not own it gets exit 4")
    func sealHistoryOpenAt() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("plan.txt", Data("first draft\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt")])
        try cli.write("plan.txt", Data("second draft, longer\n".utf8))
        #expect(try cli.ok(["seal", cli.path("plan.txt")]).text.contains("(revision 2)"))
        #expect(try cli.ok(["seal", cli.path("plan.txt")]).text.contains("(unchanged)"))
        let rows = try #require(try cli.ok(["history", "plan.txt", "--json"]).json() as? [[String: Any]])
        #expect(rows.compactMap { $0["revision"] as? Int } == [1, 2] && rows.compactMap { $0["size"] as? Int } == [12, 21])
        #expect(rows.compactMap { $0["current"] as? Bool } == [false, true])
        let text = try cli.ok(["history", "plan.txt"]).text
        #expect(text.contains("   2*") && text.contains("alice"), "\(text)")
        #expect(try cli.ok(["open", "plan.txt", "--at", "1", "-o", "-"]).stdout == Data("first draft\n".utf8))
        #expect(try cli.ok(["open", "plan.txt", "-o", "-"]).stdout == Data("second draft, longer\n".utf8))
        #expect(try cli.run(["open", "plan.txt", "--at", "3", "-o", "-"]).status == Exit.notFound)
        #expect(try cli.run(["open", "plan.txt", "--at", "0", "-o", "-"]).status == Exit.notFound)
        #expect(try cli.run(["open", "docs/", "--at", "1"]).status == Exit.usage)

        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["share", "plan.txt", "--role", "eng"])
        #expect(try cli.run(as: bob.file, ["open", "plan.txt", "--at", "1", "-o", "-"]).stdout == Data("first draft\n".utf8))
        try cli.write("bobs.txt", Data("bob's version\n".utf8))
        let refused = try cli.run(as: bob.file, ["seal", cli.path("bobs.txt"), "--name", "plan.txt"])
        #expect(refused.status == Exit.accessDenied && refused.stderr.contains("revision"), "\(refused.stderr)")
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("two seals of one name at once: each exits 0 or 9, every success is a revision in history, nothing half-made; seals killed at random moments leave a vault that verifies and a history that opens")
    func concurrentAndKilled() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("v0.bin", pattern(3_000_000, seed: 1))
        try cli.ok(["seal", cli.path("v0.bin"), "--name", "data.bin"])
        var successes = 0
        for round in 0..<3 {
            let inputs = try (0..<2).map { try cli.write("r\(round)-\($0).bin", pattern(3_000_000, seed: UInt64(10 * round + $0 + 2))) }
            let runs = try inputs.map { try cli.start(["seal", $0, "--name", "data.bin"]) }
            for run in runs {
                run.waitUntilExit()
                #expect(run.terminationReason == .exit && [Exit.ok, Exit.concurrentChange].contains(run.terminationStatus), "round \(round): \(run.terminationStatus)")
                if run.terminationStatus == Exit.ok { successes += 1 }
            }
        }
        #expect(successes >= 3, "at least one seal of each round commits")
        let history = try #require(try cli.ok(["history", "data.bin", "--json"]).json() as? [[String: Any]])
        #expect(history.count == 1 + successes)

        let span = try cli.duration(of: ["seal", cli.path("v0.bin"), "--name", "killed.bin"])
        var landed = 0
        for round in 0..<4 {
            try cli.write("k\(round).bin", pattern(3_000_000, seed: UInt64(100 + round)))
            let moment = UInt32.random(in: max(1_000, span / 5)...max(2_000, span / 5 * 3))
            if try cli.kill(["seal", cli.path("k\(round).bin"), "--name", "killed.bin"], after: moment) { landed += 1 }
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
        }
        #expect(landed > 0, "no kill landed while a seal was running")
        let killed = try #require(try cli.ok(["history", "killed.bin", "--json"]).json() as? [[String: Any]])
        for revision in killed.compactMap({ $0["revision"] as? Int }) {
            #expect(try cli.run(["open", "killed.bin", "--at", String(revision), "-o", "-"]).status == Exit.ok)
        }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }
}

import Foundation
import Testing

/// Kills rotations, removals and revocations with SIGKILL at random moments
/// (with one rewrap per commit, so a kill lands between many commits): after
/// every kill the vault verifies, every entitled person still reads every
/// document, and running the same command again finishes the job.
/// Kills per scenario: `COFFER_TEST_LEVEL=quick` 3, default (CI) 8, `full` 40.
@Suite("Rotation crash safety")
struct RotationCrashTests {
    static let documents = 40

    /// A vault with `documents` documents shared with `eng`, whose members
    /// are Bob and Carol, and how long (µs) one full rotation of `eng` takes
    /// there: kills are spread over that time, so they land between commits.
    static func prepare() throws -> (CLIHarness, bob: (file: String, publicIdentity: String), carol: (file: String, publicIdentity: String), duration: UInt32) {
        let cli = try CLIHarness()
        try cli.initVault()
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "1"
        let bob = try cli.person("bob"), carol = try cli.person("carol")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["role", "add", "eng", carol.publicIdentity, "--name", "carol"])
        for i in 0..<documents { try cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("docs")])
        try cli.ok(["share"] + (0..<documents).map { "docs/d\($0).txt" } + ["--role", "eng"])
        return (cli, bob, carol, try cli.duration(of: ["rotate", "role", "eng"]))
    }

    /// Runs `arguments` and kills it after a random delay up to `maximum` microseconds.
    static func killed(_ cli: CLIHarness, _ arguments: [String], maximum: UInt32) throws {
        var generator = SystemRandomNumberGenerator()
        try cli.kill(arguments, after: UInt32.random(in: 1_000...maximum, using: &generator))
    }

    /// The vault verifies and each reader opens every document with the
    /// right bytes (one `open docs/` per reader).
    static func expectConsistent(_ cli: CLIHarness, readers: [String], _ context: String) throws {
        let verify = try cli.run(["verify"])
        #expect(verify.status == Exit.ok, "\(context): \(verify.text) \(verify.stderr)")
        let expected = Dictionary(uniqueKeysWithValues: (0..<documents).map { ("d\($0).txt", Data("document \($0)\n".utf8)) })
        for reader in readers {
            let opened = try cli.openTree("docs/", as: reader)
            #expect(opened.tree == expected, "\(context): \(reader) read \(opened.tree.count) of \(documents) documents right: \(opened.result.stderr)")
        }
    }

    static func olderVersions(_ cli: CLIHarness, _ role: String) throws -> Int {
        let shown = try #require(try cli.ok(["role", "show", role, "--json"]).json() as? [String: Any])
        return (shown["olderKeyVersions"] as? [Any])?.count ?? -1
    }

    @Test("SIGKILL during rotate role: readers keep reading, a rerun finishes")
    func killRotate() throws {
        let (cli, bob, carol, duration) = try Self.prepare()
        var interrupted = 0
        var round = 0
        // At least `kills` rounds; more (up to four times as many) until one
        // lands mid-rotation, since the machine's load moves the timing.
        while round < CrashTests.kills || (interrupted == 0 && round < 4 * CrashTests.kills) {
            defer { round += 1 }
            try Self.killed(cli, ["rotate", "role", "eng"], maximum: duration)
            if try Self.olderVersions(cli, "eng") > 0 { interrupted += 1 }
            try Self.expectConsistent(cli, readers: [cli.environment["COFFER_IDENTITY"]!, bob.file, carol.file], "round \(round)")
            if round % 2 == 1 {
                try cli.ok(["rotate", "role", "eng"])
                #expect(try Self.olderVersions(cli, "eng") == 0)
            }
        }
        try cli.ok(["rotate", "role", "eng"])
        #expect(try Self.olderVersions(cli, "eng") == 0)
        try Self.expectConsistent(cli, readers: [bob.file, carol.file], "final")
        // The kills did land mid-rotation (old and new key versions both alive).
        #expect(interrupted > 0)
    }

    @Test("SIGKILL during role remove and revoke --rekey: the removed never read again, the rest always do")
    func killRemoveAndRevoke() throws {
        let (cli, bob, carol, duration) = try Self.prepare()
        let alice = cli.environment["COFFER_IDENTITY"]!
        try Self.killed(cli, ["role", "remove", "eng", "bob"], maximum: duration)
        for round in 0..<CrashTests.kills {
            try Self.expectConsistent(cli, readers: [alice, carol.file], "remove round \(round)")
            try Self.killed(cli, ["role", "remove", "eng", "bob"], maximum: duration)
        }
        let finished = try cli.run(["role", "remove", "eng", "bob"])
        #expect(finished.status == Exit.ok || finished.status == Exit.notFound, "\(finished.stderr)")
        #expect(try Self.olderVersions(cli, "eng") == 0)
        #expect(try cli.run(as: bob.file, ["open", "docs/d0.txt", "-o", "-"]).status == Exit.notFound)

        for round in 0..<CrashTests.kills {
            try Self.killed(cli, ["revoke", "carol", "--rekey"], maximum: 3 * duration)
            try Self.expectConsistent(cli, readers: [alice], "revoke round \(round)")
        }
        try cli.ok(["revoke", "carol", "--rekey"])
        #expect(try Self.olderVersions(cli, "eng") == 0)
        #expect(try cli.run(as: carol.file, ["open", "docs/d0.txt", "-o", "-"]).status == Exit.accessDenied)
        let access = try #require(try cli.ok(["access", "docs/d0.txt", "--json"]).json() as? [String: Any])
        #expect(access["rekeyPending"] as? Bool == false)
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }
}

import CofferTestSupport
import Foundation
import Testing

/// The README's walk-through, end to end with the real binary: identity,
/// vault, a folder of mixed files (empty, tiny, 200 MB), list, open each
/// back byte-identical, verify clean, tamper, and see the integrity code.
@Suite("Walk-through with the coffer binary")
struct WalkthroughTests {
    /// Big-file size: 200 MB as the issue asks; `COFFER_TEST_LEVEL=quick` uses 20 MB.
    static var bigFileSize: Int {
        ProcessInfo.processInfo.environment["COFFER_TEST_LEVEL"] == "quick" ? 20_000_000 : 200_000_000
    }

    @Test("seal a folder, list, open byte-identical, verify, tamper, detect")
    func walkthrough() throws {
        let cli = try CLIHarness()
        // An identity protected by a passphrase (Argon2id), read from a file.
        try cli.write("home/pass", Data("a long passphrase\n".utf8))
        let passphrase = ["--passphrase-file", cli.path("home/pass")]
        let created = try cli.ok(["identity", "new", "--out", cli.path("home/identity.txt"), "--name", "alice", "--json"] + passphrase)
        let identity = try #require(try created.json() as? [String: Any])
        #expect((identity["age"] as? String)?.hasPrefix("age1") == true)
        #expect((identity["identity"] as? String)?.hasPrefix("coffer1") == true)
        let mode = try FileManager.default.attributesOfItem(atPath: cli.path("home/identity.txt"))[.posixPermissions] as? Int
        #expect(mode == 0o600)

        try cli.ok(["init"] + passphrase)

        // A folder of mixed files.
        try cli.write("docs/empty.txt", Data())
        try cli.write("docs/tiny.txt", Data("tiny\n".utf8))
        try cli.write("docs/nested/medium.bin", pattern(3_000_000))
        let big = cli.path("docs/big.bin")
        let made = ChildProcess()
        made.executableURL = URL(fileURLWithPath: "/bin/sh")
        made.arguments = ["-c", "head -c \(Self.bigFileSize) /dev/urandom > '\(big)'"]
        try made.run()
        made.waitUntilExit()
        #expect(made.terminationStatus == 0)

        let sealed = try cli.ok(["seal", cli.path("docs"), "--json"] + passphrase)
        let documents = try #require(try sealed.json() as? [[String: Any]])
        #expect(Set(documents.compactMap { $0["name"] as? String })
                == ["docs/empty.txt", "docs/tiny.txt", "docs/nested/medium.bin", "docs/big.bin"])
        #expect(documents.first { $0["name"] as? String == "docs/big.bin" }?["size"] as? Int == Self.bigFileSize)

        let listed = try #require(try cli.ok(["ls", "--json"] + passphrase).json() as? [[String: Any]])
        #expect(listed.count == 4)
        #expect(listed.allSatisfy { $0["sealedByName"] as? String == "alice" && $0["label"] as? String == "internal" })
        let text = try cli.ok(["ls"] + passphrase).text
        #expect(text.contains("docs/tiny.txt") && text.contains("docs/big.bin"))

        // Open each back, byte-identical.
        for name in ["docs/empty.txt", "docs/tiny.txt", "docs/nested/medium.bin", "docs/big.bin"] {
            let out = cli.path("restored/" + name.replacingOccurrences(of: "/", with: "_"))
            try FileManager.default.createDirectory(atPath: cli.path("restored"), withIntermediateDirectories: true)
            try cli.ok(["open", name, "-o", out] + passphrase)
            #expect(FileManager.default.contentsEqual(atPath: out, andPath: cli.path(name)), "\(name)")
        }
        // And to standard output.
        #expect(try cli.ok(["open", "docs/tiny.txt", "-o", "-"] + passphrase).stdout == Data("tiny\n".utf8))

        // Verify, keyless and deep.
        let report = try #require(try cli.ok(["verify", "--json"]).json() as? [String: Any])
        #expect((report["findings"] as? [Any])?.isEmpty == true)
        let deep = try #require(try cli.ok(["verify", "--deep", "--json"] + passphrase).json() as? [String: Any])
        #expect((deep["counts"] as? [String: Any])?["documentsDecrypted"] as? Int == 4)

        // Tamper with one object of the tiny document (its only segment).
        let tinyID = try #require(listed.first { $0["name"] as? String == "docs/tiny.txt" }?["id"] as? String)
        // Its segment object: "CFSG", version, then one frame of 5 bytes plus a 16-byte tag.
        let tinySegment = try #require(try cli.objectFiles().first {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: $0))
            return bytes.prefix(4) == Data("CFSG".utf8) && bytes.count == 5 + 5 + 16
        })
        try flipByte(in: tinySegment, at: 10)

        let verified = try cli.run(["verify"])
        #expect(verified.status == Exit.integrity, "\(verified.stderr)")
        #expect(verified.text.contains((tinySegment as NSString).lastPathComponent), "\(verified.text)")
        let opened = try cli.run(["open", tinyID, "-o", cli.path("tampered.txt")] + passphrase)
        #expect(opened.status == Exit.integrity, "\(opened.stderr)")
        #expect(opened.stderr.contains("integrity"), "\(opened.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("tampered.txt")))
        let streamed = try cli.run(["open", tinyID, "-o", "-"] + passphrase)
        #expect(streamed.status == Exit.integrity)
        #expect(streamed.stdout.isEmpty)
        // The other documents are unharmed.
        try cli.ok(["open", "docs/nested/medium.bin", "-o", cli.path("medium-again")] + passphrase)
        #expect(FileManager.default.contentsEqual(atPath: cli.path("medium-again"), andPath: cli.path("docs/nested/medium.bin")))
    }
}

import Foundation
import Testing

/// Names chosen by other people, through the real binary: unsafe document
/// names are refused, and control characters in names reach a terminal
/// only as visible escapes, while `--json` keeps them exact.
@Suite("Names")
struct NameTests {
    @Test("seal --name refuses names that could target a path outside the output folder", arguments: [
        ".", "..", "/", "", "a/../b", "../up", "/etc/passwd", "a//b", "dir/",
    ])
    func unsafeNames(name: String) throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("doc.txt", Data("content\n".utf8))
        let refused = try cli.run(["seal", cli.path("doc.txt"), "--name", name])
        #expect(refused.status == Exit.usage, "\(name.debugDescription): \(refused.stderr)")
        #expect(refused.stderr.contains("cannot name a document"), "\(refused.stderr)")
        #expect((try cli.ok(["ls", "--json"]).json() as? [Any])?.isEmpty == true)
        // Sealing standard input under such a name is refused the same way.
        #expect(try cli.run(["seal", "-", "--name", name], stdin: Data("x".utf8)).status == Exit.usage)
    }

    @Test("sealing the folder .. names its files from inside it")
    func parentFolder() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("tree/inner/placeholder", Data("p".utf8))
        try cli.write("tree/top.txt", Data("t".utf8))
        try cli.ok(["seal", cli.path("tree/inner/..")])
        let names = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]]).compactMap { $0["name"] as? String }
        #expect(names.sorted() == ["inner/placeholder", "top.txt"])
    }

    @Test("ls FOLDER --label L --role R lists exactly the matching documents, in text and JSON; unknown labels and roles are usage and not-found errors")
    func filteredListing() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("reports/q1.txt", Data("1".utf8))
        try cli.write("reports/old/q0.txt", Data("0".utf8))
        try cli.write("notes.txt", Data("n".utf8))
        try cli.ok(["seal", cli.path("reports"), cli.path("notes.txt")])
        try cli.write("secret.txt", Data("s".utf8))
        try cli.ok(["seal", cli.path("secret.txt"), "--name", "reports/q2.txt", "--label", "secret"])
        try cli.ok(["role", "create", "eng", "--clearance", "secret"])
        try cli.ok(["share", "reports/q2.txt", "--role", "eng"])
        func names(_ arguments: [String]) throws -> [String] {
            try #require(try cli.ok(["ls", "--json"] + arguments).json() as? [[String: Any]]).compactMap { $0["name"] as? String }
        }
        #expect(try names(["reports/"]) == ["reports/old/q0.txt", "reports/q1.txt", "reports/q2.txt"])
        #expect(try names(["reports", "--label", "secret"]) == ["reports/q2.txt"])
        #expect(try names(["--role", "eng"]) == ["reports/q2.txt"])
        #expect(try names(["reports/old"]) == ["reports/old/q0.txt"])
        #expect(try cli.ok(["ls", "reports/old"]).text.contains("reports/old/q0.txt"))
        #expect(try cli.run(["ls", "--label", "no-such-label"]).status == Exit.usage)
        #expect(try cli.run(["ls", "--role", "no-such-role"]).status == Exit.notFound)
    }

    /// A name that retitles the terminal window, clears the screen and rings the bell.
    static let hostile = "report\u{1b}]0;pwned\u{07}\u{1b}[2J\u{9b}31m\u{202e}.txt"
    /// How text output shows it.
    static let shown = "report\\u{1b}]0;pwned\\u{7}\\u{1b}[2J\\u{9b}31m\\u{202e}.txt"

    /// Expects no byte a terminal would act on in `data` (C0 but newline and tab, DEL, C1, bidi overrides).
    static func expectInert(_ data: Data, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = String(decoding: data, as: UTF8.self)
        let active = text.unicodeScalars.filter { s in
            (s.value < 0x20 && s != "\n" && s != "\t") || (0x7F...0x9F).contains(s.value) || (0x202A...0x202E).contains(s.value) || (0x2066...0x2069).contains(s.value)
        }
        #expect(active.isEmpty, "\(what) printed raw control characters: \(text.debugDescription)", sourceLocation: sourceLocation)
    }

    @Test("ls, seal, access, identity show, open and role show escape control characters; --json keeps the name exact")
    func vaultNames() throws {
        let cli = try CLIHarness()
        try cli.initVault(name: "eve\u{1b}[31m\u{07}")
        try cli.write("doc.txt", Data("content\n".utf8))
        let sealed = try cli.ok(["seal", cli.path("doc.txt"), "--name", Self.hostile])
        Self.expectInert(sealed.stdout, "seal")
        #expect(sealed.text.contains(Self.shown), "\(sealed.text)")
        let listed = try cli.ok(["ls"])
        Self.expectInert(listed.stdout, "ls")
        #expect(listed.text.contains(Self.shown), "\(listed.text)")
        #expect(listed.text.contains("eve\\u{1b}[31m\\u{7}"), "\(listed.text)")
        let json = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
        #expect(json.first?["name"] as? String == Self.hostile)
        #expect(json.first?["sealedByName"] as? String == "eve\u{1b}[31m\u{07}")
        let id = try #require(json.first?["id"] as? String)
        Self.expectInert(try cli.ok(["access", id]).stdout, "access")
        let identity = try cli.ok(["identity", "show"])
        Self.expectInert(identity.stdout, "identity show")
        #expect(identity.text.contains("name:        eve\\u{1b}[31m\\u{7}"), "\(identity.text)")
        #expect(try #require(try cli.ok(["identity", "show", "--json"]).json() as? [String: Any])["name"] as? String == "eve\u{1b}[31m\u{07}")
        Self.expectInert(try cli.ok(["role", "show", "admin"]).stdout, "role show")
        Self.expectInert(try cli.ok(["audit", "log"]).stdout, "audit log")
        // Errors that quote a name are escaped too.
        let missing = try cli.run(["open", "nothing\u{1b}[2J", "-o", "-"])
        #expect(missing.status == Exit.notFound)
        Self.expectInert(Data(missing.stderr.utf8), "open's error")
    }

    @Test("bundle open escapes the file and sender names a partner chose; --json keeps them exact")
    func bundleNames() throws {
        let cli = try BundleTests.setUp()
        let bundle = try BundleTests.handMade(cli, files: [(Self.hostile, Data("payload".utf8))], sender: "mallory\u{1b}]0;x\u{07}")
        let opened = try cli.run(["bundle", "open", bundle, "-i", cli.path("acme.txt"), "--from", cli.path("handmade.pub"), "-o", cli.path("out")])
        #expect(opened.status == Exit.ok, "\(opened.stderr)")
        Self.expectInert(opened.stdout, "bundle open")
        #expect(opened.text.contains(Self.shown), "\(opened.text)")
        #expect(opened.text.contains("mallory\\u{1b}]0;x\\u{7}"), "\(opened.text)")
        #expect(FileManager.default.contents(atPath: cli.path("out/" + Self.hostile)) == Data("payload".utf8))
        let json = try cli.run(["bundle", "open", bundle, "-i", cli.path("acme.txt"), "--from", cli.path("handmade.pub"), "-o", cli.path("out2"), "--json"])
        let manifest = try #require(try json.json() as? [String: Any])
        #expect((manifest["files"] as? [[String: Any]])?.first?["name"] as? String == Self.hostile)
    }
}

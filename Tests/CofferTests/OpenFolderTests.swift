import CofferTestSupport
import Foundation
import Testing

/// `coffer open FOLDER/ -o DIR`: a sealed folder comes back as a tree, whole
/// or not at all.
@Suite("Opening a folder")
struct OpenFolderTests {
    /// Writes `src/docs/…` (a script with mode 0755, an empty file, a
    /// two-segment file, 300 small files across two batches) and seals it as
    /// `docs/…`, beside `other.txt` and `docsX/y.txt`, which are not under
    /// `docs/`. Returns the expected tree, by path below `docs/`.
    static func sealedTree(_ cli: CLIHarness) throws -> [String: Data] {
        var tree: [String: Data] = [
            "a.txt": Data("alpha\n".utf8),
            "empty.txt": Data(),
            "sub/big.bin": pattern(5 << 20, seed: 7),
            "sub/deeper/run.sh": Data("#!/bin/sh\necho hi\n".utf8),
        ]
        for i in 0..<300 { tree[String(format: "many/f%03d.txt", i)] = Data("file \(i)\n".utf8) }
        for (path, bytes) in tree { try cli.write("src/docs/" + path, bytes) }
        #expect(chmod(cli.path("src/docs/sub/deeper/run.sh"), 0o755) == 0)
        try cli.write("other.txt", Data("not in the folder\n".utf8))
        try cli.write("docsX/y.txt", Data("a sibling with the same start\n".utf8))
        try cli.ok(["seal", cli.path("src/docs"), cli.path("other.txt"), cli.path("docsX")])
        return tree
    }

    /// Every regular file below `directory`, by relative path.
    static func files(below directory: String) throws -> [String: Data] {
        var found: [String: Data] = [:]
        for path in try FileManager.default.subpathsOfDirectory(atPath: directory) {
            var st = stat()
            guard lstat(directory + "/" + path, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { continue }
            found[path] = try Data(contentsOf: URL(fileURLWithPath: directory + "/" + path))
        }
        return found
    }

    static func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    /// The action of every ledger entry, in order (`audit log --json` is a JSON object per line).
    static func actions(_ cli: CLIHarness) throws -> [String] {
        try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n").map { line in
            let entry = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            return try #require(entry["action"] as? String)
        }
    }

    /// Entries beside `destination` that a folder open stages in.
    static func leftovers(_ cli: CLIHarness) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: cli.root).filter { $0.hasPrefix(".coffer-open-") }
    }

    @Test("the tree comes back byte-identical with its modes, only what is under the folder, every read in the ledger")
    func roundTrip() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let tree = try Self.sealedTree(cli)
        let before = try Self.actions(cli).count
        let report = try #require(try cli.ok(["open", "docs/", "-o", cli.path("out"), "--json"]).json() as? [String: Any])
        #expect(report["documents"] as? Int == tree.count)
        #expect(report["bytes"] as? Int == tree.values.reduce(0) { $0 + $1.count })
        #expect(report["folder"] as? String == "docs/")
        #expect(try Self.files(below: cli.path("out")) == tree)
        #expect(Self.mode(cli.path("out/sub/deeper/run.sh")) == 0o755)
        #expect(Self.mode(cli.path("out/a.txt")) == 0o666 & ~Self.umask)
        #expect(Self.mode(cli.path("out")) == 0o700)
        let log = try Self.actions(cli)
        #expect(log.count - before == tree.count, "one document.open per document")
        #expect(log.dropFirst(before).allSatisfy { $0 == "document.open" })
        #expect(try Self.leftovers(cli).isEmpty)
        #expect(try cli.run(["verify"]).status == Exit.ok)
    }

    @Test("without -o, the folder's last name in the current directory; a nested folder opens alone")
    func defaultDestination() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let tree = try Self.sealedTree(cli)
        try cli.ok(["open", "docs/"])
        #expect(try Self.files(below: cli.path("docs")) == tree)
        try cli.ok(["open", "docs/sub/deeper/"])
        #expect(try Self.files(below: cli.path("deeper")) == ["run.sh": tree["sub/deeper/run.sh"]!])
    }

    @Test("an existing destination (7), a missing parent (2), an empty folder (6), -o - and --force (2) write nothing")
    func refusals() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        _ = try Self.sealedTree(cli)
        try FileManager.default.createDirectory(atPath: cli.path("taken"), withIntermediateDirectories: false)
        #expect(try cli.run(["open", "docs/", "-o", cli.path("taken")]).status == Exit.conflict)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cli.path("taken")).isEmpty)
        #expect(try cli.run(["open", "docs/", "-o", cli.path("no/such/parent")]).status == Exit.usage)
        #expect(try cli.run(["open", "nothing-here/", "-o", cli.path("x")]).status == Exit.notFound)
        #expect(try cli.run(["open", "docs/", "-o", "-"]).status == Exit.usage)
        #expect(try cli.run(["open", "docs/", "-o", cli.path("y"), "--force"]).status == Exit.usage)
        for path in ["x", "y", "no"] { #expect(!FileManager.default.fileExists(atPath: cli.path(path))) }
        #expect(try Self.leftovers(cli).isEmpty)
    }

    @Test("two documents of one name are ambiguous (2, both ids named); a name that is a file and a folder is refused; nothing is written")
    func clashes() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("one", Data("1".utf8))
        try cli.write("two", Data("2".utf8))
        // Two people's f/dup.txt (a name sealed again by its owner is a revision, not a second document).
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        let first = try #require(try cli.ok(["seal", cli.path("one"), "--name", "f/dup.txt", "--json"]).json() as? [[String: Any]])[0]["id"] as! String
        let bobs = try cli.run(as: bob.file, ["seal", cli.path("two"), "--name", "f/dup.txt", "--json"])
        let second = try #require(try JSONSerialization.jsonObject(with: bobs.stdout) as? [[String: Any]])[0]["id"] as! String
        let duplicate = try cli.run(["open", "f/", "-o", cli.path("out")])
        #expect(duplicate.status == Exit.usage)
        #expect(duplicate.stderr.contains(first) && duplicate.stderr.contains(second), "\(duplicate.stderr)")
        try cli.ok(["seal", cli.path("one"), "--name", "g/a"])
        try cli.ok(["seal", cli.path("two"), "--name", "g/a/b"])
        let clash = try cli.run(["open", "g/", "-o", cli.path("out")])
        #expect(clash.status == Exit.usage)
        #expect(clash.stderr.contains("both a file and a folder"), "\(clash.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("out")))
        #expect(try Self.leftovers(cli).isEmpty)
    }

    @Test("a tampered segment of one document fails the whole folder (5): no destination, nothing staged left")
    func tamperedContent() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        _ = try Self.sealedTree(cli)
        // The two-segment document's first segment is the only 4 MiB object.
        let objects = cli.path("vault/objects")
        let segment = try #require(try FileManager.default.subpathsOfDirectory(atPath: objects).first { path in
            ((try? FileManager.default.attributesOfItem(atPath: objects + "/" + path)[.size] as? Int) ?? 0) > 4_000_000
        })
        let handle = try #require(FileHandle(forUpdatingAtPath: objects + "/" + segment))
        try handle.seek(toOffset: 1_000_000)
        let byte = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: 1_000_000)
        try handle.write(contentsOf: Data([byte[0] ^ 0x40]))
        try handle.close()
        let opened = try cli.run(["open", "docs/", "-o", cli.path("out")])
        #expect(opened.status == Exit.integrity, "\(opened.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("out")))
        #expect(try Self.leftovers(cli).isEmpty)
    }

    @Test("SIGKILL at any moment: the destination is absent or whole, and what a kill leaves staged is removed by the next folder open there")
    func killed() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let tree = try Self.sealedTree(cli)
        let span = try cli.duration(of: ["open", "docs/", "-o", cli.path("timing")])
        var landed = 0
        for round in 0..<CrashTests.kills {
            let destination = cli.path("out-\(round)")
            if try cli.kill(["open", "docs/", "-o", destination], within: span) { landed += 1 }
            if FileManager.default.fileExists(atPath: destination) {
                #expect(try Self.files(below: destination) == tree, "round \(round)")
            }
            // A kill between naming the files and the rename leaves them staged; the next open removes them.
            try cli.ok(["open", "docs/", "-o", cli.path("next-\(round)")])
            let left = try Self.leftovers(cli)
            #expect(left.isEmpty, "round \(round): \(left)")
            for provisional in try FileManager.default.contentsOfDirectory(atPath: cli.root) where provisional.hasPrefix(".coffer-new-") {
                #expect(try Self.files(below: cli.path(provisional)).isEmpty, "round \(round): \(provisional)")
            }
        }
        #expect(landed > 0, "no kill landed while the folder was being opened")
        #expect(try cli.run(["verify"]).status == Exit.ok)
    }

    @Test("abandoned staging directories: ours (0700, unlocked) are removed; one a live process holds, a link, and one of another mode are left alone")
    func abandonedStaging() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        _ = try Self.sealedTree(cli)
        let fm = FileManager.default
        func plant(_ name: String, mode: Int) throws {
            try fm.createDirectory(atPath: cli.path("\(name)/sub"), withIntermediateDirectories: true)
            try Data("plaintext".utf8).write(to: URL(fileURLWithPath: cli.path("\(name)/sub/secret.txt")))
            try fm.setAttributes([.posixPermissions: mode], ofItemAtPath: cli.path(name))
        }
        try plant(".coffer-open-abandoned", mode: 0o700)
        try plant(".coffer-open-held", mode: 0o700)
        try plant(".coffer-open-public", mode: 0o755)
        try plant("elsewhere", mode: 0o700)
        try fm.createSymbolicLink(atPath: cli.path(".coffer-open-link"), withDestinationPath: cli.path("elsewhere"))
        let held = open(cli.path(".coffer-open-held"), O_RDONLY | O_DIRECTORY)
        defer { close(held) }
        #expect(held >= 0 && flock(held, LOCK_EX) == 0)

        try cli.ok(["open", "docs/", "-o", cli.path("out")])
        #expect(!fm.fileExists(atPath: cli.path(".coffer-open-abandoned")))
        #expect(try Self.leftovers(cli).sorted() == [".coffer-open-held", ".coffer-open-link", ".coffer-open-public"])
        for kept in [".coffer-open-held", ".coffer-open-public", "elsewhere"] {
            #expect(fm.fileExists(atPath: cli.path("\(kept)/sub/secret.txt")), "\(kept)")
        }
        #expect(try fm.destinationOfSymbolicLink(atPath: cli.path(".coffer-open-link")) == cli.path("elsewhere"))
    }

    @Test("two folder opens and a re-key of the same documents at once: both trees whole, the vault verifies")
    func concurrent() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let tree = try Self.sealedTree(cli)
        let openers = try ["a", "b"].map { try cli.start(["open", "docs/", "-o", cli.path("out-\($0)")]) }
        try cli.ok(["rotate", "doc", "docs/sub/big.bin", "docs/a.txt"])
        for opener in openers {
            opener.waitUntilExit()
            #expect(opener.terminationStatus == Exit.ok)
        }
        for name in ["a", "b"] { #expect(try Self.files(below: cli.path("out-\(name)")) == tree) }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    /// The test process's umask.
    static let umask: mode_t = {
        let mask = Glibc.umask(0o022)
        Glibc.umask(mask)
        return mask
    }()
}

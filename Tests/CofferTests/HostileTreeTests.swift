import Foundation
import Testing

/// An insider with write access to the vault (or backup) directory plants
/// symbolic links, FIFOs and directories in it: through the real binary,
/// nothing outside the tree is deleted or created, nothing blocks, and
/// every plant is an integrity finding (exit 5).
@Suite("Links, FIFOs and directories planted in the vault tree")
struct HostileTreeTests {
    /// Seconds after which a command that should return at once is killed.
    static let prompt = 30

    /// A second vault, `victim`, with one document, beside the harness's
    /// own (empty) vault: returns the victim's object files.
    static func victim(_ cli: CLIHarness) throws -> [String] {
        try cli.ok(["init", "--vault", cli.path("victim")])
        try cli.write("secret.txt", pattern(3 << 20))
        try cli.ok(["seal", cli.path("secret.txt"), "--vault", cli.path("victim")])
        let objects = cli.path("victim/objects")
        return try FileManager.default.subpathsOfDirectory(atPath: objects).filter { $0.count == 2 + 1 + 64 }.map { objects + "/" + $0 }
    }

    /// Replaces the fan-out directory `fan` of the object store at
    /// `objects` with a symbolic link to `target`.
    static func link(fanOut fan: String, in objects: String, to target: String) throws {
        try FileManager.default.removeItem(atPath: objects + "/" + fan)
        try FileManager.default.createSymbolicLink(atPath: objects + "/" + fan, withDestinationPath: target)
    }

    /// The kind of what is at `path`, without following a link.
    static func kind(_ path: String) -> mode_t? {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & S_IFMT : nil
    }

    @Test("a fan-out directory linked to another vault's: gc deletes nothing there, verify reports the link (exit 5)")
    func linkedFanOut() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let victims = try Self.victim(cli)
        let fan = ((victims[0] as NSString).deletingLastPathComponent as NSString).lastPathComponent
        let inFan = victims.filter { $0.contains("/objects/\(fan)/") }
        try Self.link(fanOut: fan, in: cli.path("vault/objects"), to: cli.path("victim/objects/\(fan)"))

        let collected = try cli.run(["gc", "--grace", "0m"], timeout: Self.prompt)
        #expect(collected.status == Exit.ok, "\(collected.stderr)")
        for file in inFan { #expect(FileManager.default.fileExists(atPath: file), "gc deleted \(file) through a link") }
        #expect(try cli.run(["verify", "--vault", cli.path("victim")]).status == Exit.ok)

        let verified = try cli.run(["verify"], timeout: Self.prompt)
        #expect(verified.status == Exit.integrity)
        #expect(verified.text.contains("objects/\(fan)") && verified.text.contains("symbolic link"), "\(verified.text)")
    }

    @Test("a backup's fan-out directory linked to a vault's: backup prune deletes nothing there")
    func linkedFanOutInBackup() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let victims = try Self.victim(cli)
        try cli.ok(["backup", "create", cli.path("dest")])
        let fan = ((victims[0] as NSString).deletingLastPathComponent as NSString).lastPathComponent
        try Self.link(fanOut: fan, in: cli.path("dest/objects"), to: cli.path("victim/objects/\(fan)"))

        let pruned = try cli.run(["backup", "prune", cli.path("dest"), "--keep", "1"], timeout: Self.prompt)
        #expect(pruned.status == Exit.ok, "\(pruned.stderr)")
        for file in victims { #expect(FileManager.default.fileExists(atPath: file), "prune deleted \(file) through a link") }
        #expect(try cli.run(["verify", "--vault", cli.path("victim")]).status == Exit.ok)
    }

    @Test("VAULT/lock as a symbolic link: no file is created where it points; a clear error (exit 5); verify reports it")
    func linkedLock() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let lock = cli.path("vault/lock")
        try? FileManager.default.removeItem(atPath: lock)
        try FileManager.default.createSymbolicLink(atPath: lock, withDestinationPath: cli.path("planted"))
        for arguments in [["ls"], ["open", "doc.txt", "-o", "-"]] {
            let result = try cli.run(arguments, timeout: Self.prompt)
            #expect(result.status == Exit.integrity, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("/vault/lock") && result.stderr.contains("symbolic link"), "\(result.stderr)")
        }
        #expect(Self.kind(cli.path("planted")) == nil, "a file was created at the link's target")
        let verified = try cli.run(["verify"], timeout: Self.prompt)
        #expect(verified.status == Exit.integrity && verified.text.contains("/vault/lock"), "\(verified.text)")
    }

    @Test("FIFOs in place of objects: open and verify return at once with exit 5; ls does not block")
    func fifoObjects() throws {
        let cli = try ErrorTests.vaultWithDocument()
        for file in try cli.objectFiles() {
            try FileManager.default.removeItem(atPath: file)
            #expect(mkfifo(file, 0o644) == 0)
        }
        let opened = try cli.run(["open", "doc.txt", "-o", "-"], timeout: Self.prompt)
        #expect(opened.status == Exit.integrity, "\(opened.stderr)")
        #expect(opened.stderr.contains("FIFO"), "\(opened.stderr)")
        let verified = try cli.run(["verify"], timeout: Self.prompt)
        #expect(verified.status == Exit.integrity)
        #expect(verified.text.contains("FIFO"), "\(verified.text)")
        #expect(try cli.run(["ls"], timeout: Self.prompt).status != 137)
    }

    @Test("a FIFO in place of the vault descriptor: verify, open and ls return at once with exit 5")
    func fifoDescriptor() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let descriptor = cli.path("vault/coffer-vault")
        try FileManager.default.removeItem(atPath: descriptor)
        #expect(mkfifo(descriptor, 0o644) == 0)
        for arguments in [["verify"], ["open", "doc.txt", "-o", "-"], ["ls"]] {
            let result = try cli.run(arguments, timeout: Self.prompt)
            #expect(result.status == Exit.integrity, "\(arguments): \(result.stderr)")
            #expect((result.text + result.stderr).contains("FIFO"), "\(arguments): \(result.text) \(result.stderr)")
        }
    }

    @Test("a FIFO in place of VAULT/lock: open and ls fail at once naming it (exit 5); verify reports it")
    func fifoLock() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let lock = cli.path("vault/lock")
        try? FileManager.default.removeItem(atPath: lock)
        #expect(mkfifo(lock, 0o644) == 0)
        for arguments in [["ls"], ["open", "doc.txt", "-o", "-"], ["verify"]] {
            let result = try cli.run(arguments, timeout: Self.prompt)
            #expect(result.status == Exit.integrity, "\(arguments): \(result.stderr)")
            #expect((result.text + result.stderr).contains("/vault/lock"), "\(arguments): \(result.text) \(result.stderr)")
        }
        #expect(Self.kind(lock) == S_IFIFO)
    }

    @Test("a foreign holder of VAULT/lock is waited for with a bound, then exit 9 naming the lock")
    func boundedLockWait() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let lock = cli.path("vault/lock")
        let holder = open(lock, O_RDONLY | O_CLOEXEC)
        #expect(holder >= 0)
        defer { close(holder) }
        #expect(flock(holder, LOCK_EX) == 0)
        let started = Date()
        let result = try cli.run(["ls"], timeout: Self.prompt, environment: ["COFFER_LOCK_TIMEOUT": "1"])
        #expect(result.status == Exit.concurrentChange, "\(result.stderr)")
        #expect(result.stderr.contains("/vault/lock") && result.stderr.contains("COFFER_LOCK_TIMEOUT"), "\(result.stderr)")
        #expect(Date().timeIntervalSince(started) < 20)
        flock(holder, LOCK_UN)
        try cli.ok(["ls"])
    }

    @Test("a directory in place of an object is an integrity finding: open and verify exit 5")
    func directoryInPlaceOfObject() throws {
        let cli = try ErrorTests.vaultWithDocument()
        for file in try cli.objectFiles() {
            try FileManager.default.removeItem(atPath: file)
            try FileManager.default.createDirectory(atPath: file, withIntermediateDirectories: false)
        }
        let opened = try cli.run(["open", "doc.txt", "-o", "-"], timeout: Self.prompt)
        #expect(opened.status == Exit.integrity, "\(opened.stderr)")
        #expect(opened.stderr.contains("directory"), "\(opened.stderr)")
        #expect(try cli.run(["verify"], timeout: Self.prompt).status == Exit.integrity)
    }
}

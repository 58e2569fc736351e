import CofferTestSupport
import Foundation
import Testing

/// `coffer backup restore|adopt|list`, `coffer state reset` and the auditing
/// commands on read-only evidence, through the real binary: the backup
/// directory is written by an attacker, restore drills must not fork the
/// live vault, and auditing changes nothing.
@Suite("Backup commands")
struct BackupCommandTests {
    /// A vault holding a.txt ("alpha\n"), sealed by alice.
    private func vaultWithDocument() throws -> CLIHarness {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("a.txt", Data("alpha\n".utf8))
        try cli.ok(["seal", cli.path("a.txt")])
        return cli
    }

    /// A vault with a.txt shared to bob through role eng, and a backup
    /// directory holding `snapshots` snapshots (the last taken after bob was revoked).
    private func vaultWithRevokedReader() throws -> (cli: CLIHarness, bob: String, before: String, after: String) {
        let cli = try vaultWithDocument()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["share", "a.txt", "--role", "eng"])
        try cli.ok(["backup", "create", cli.path("dest")])
        try cli.ok(["revoke", "bob", "--rekey"])
        try cli.ok(["backup", "create", cli.path("dest")])
        let ids = try FileManager.default.contentsOfDirectory(atPath: cli.path("dest/snapshots")).sorted()
        return (cli, bob.file, ids[0], ids[1])
    }

    @Test("restore checks, on the bytes it restores, the manifest signature, the catalog hash, count and head: a swapped or edited snapshot exits 5 and leaves nothing")
    func restoreRefusesSwappedSnapshots() throws {
        let (cli, bob, before, after) = try vaultWithRevokedReader()
        let newest = cli.path("dest/snapshots/\(after)")
        let original = try Data(contentsOf: URL(fileURLWithPath: newest + "/catalog.sqlite"))
        let manifest = try Data(contentsOf: URL(fileURLWithPath: newest + "/manifest.json"))

        // The older snapshot's catalog (bob still a member) in the newest snapshot's folder.
        try FileManager.default.removeItem(atPath: newest + "/catalog.sqlite")
        try FileManager.default.copyItem(atPath: cli.path("dest/snapshots/\(before)/catalog.sqlite"), toPath: newest + "/catalog.sqlite")
        let swapped = try cli.run(["backup", "restore", cli.path("dest"), "--to", cli.path("r1")])
        #expect(swapped.status == Exit.integrity && swapped.stderr.contains("catalog.sqlite"), "\(swapped.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("r1")))
        #expect(try cli.run(as: bob, ["open", "a.txt", "-o", "-", "--vault", cli.path("r1")]).status != Exit.ok)

        // An edited catalog: one byte of a page changed.
        try original.write(to: URL(fileURLWithPath: newest + "/catalog.sqlite"))
        try flipByte(in: newest + "/catalog.sqlite", at: original.count - 100)
        try FileManager.default.createDirectory(atPath: cli.path("r2"), withIntermediateDirectories: true)
        #expect(try cli.run(["backup", "restore", cli.path("dest"), "--to", cli.path("r2")]).status == Exit.integrity)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cli.path("r2")).isEmpty)  // it existed empty: left empty
        try FileManager.default.removeItem(atPath: newest + "/catalog.sqlite")
        try original.write(to: URL(fileURLWithPath: newest + "/catalog.sqlite"))

        // An edited manifest: its signature no longer verifies.
        let edited = Data(String(decoding: manifest, as: UTF8.self).replacingOccurrences(of: "\"objects\":", with: "\"objects\": ").utf8)
        try edited.write(to: URL(fileURLWithPath: newest + "/manifest.json"))
        let unsigned = try cli.run(["backup", "restore", cli.path("dest"), "--to", cli.path("r3")])
        #expect(unsigned.status == Exit.integrity && unsigned.stderr.contains("signature"), "\(unsigned.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("r3")))
        try manifest.write(to: URL(fileURLWithPath: newest + "/manifest.json"))

        // The snapshot as written restores, and bob stays revoked in it.
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("r4")])
        #expect(try cli.run(as: bob, ["ls", "--vault", cli.path("r4")]).status == Exit.accessDenied)
        #expect(try cli.run(["verify", "--deep", "--vault", cli.path("r4")]).status == Exit.ok)
    }

    @Test("a restore drill cannot fork the live vault: the restored copy is read-only until adopted, and the live vault keeps working")
    func restoreDrill() throws {
        let cli = try vaultWithDocument()
        try cli.ok(["backup", "create", cli.path("dest")])
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("drill")])

        let drill = ["--vault", cli.path("drill")]
        let opened = try cli.run(["open", "a.txt", "-o", "-"] + drill)
        #expect(opened.status == Exit.accessDenied && opened.stderr.contains("coffer backup adopt"), "\(opened.stderr)")
        #expect(try cli.ok(["ls"] + drill).text.contains("a.txt"))
        try cli.ok(["verify", "--deep"] + drill)
        // The live vault is untouched by the drill.
        try cli.ok(["ls"])
        try cli.ok(["verify"])
        try cli.write("b.txt", Data("beta\n".utf8))
        try cli.ok(["seal", cli.path("b.txt")])
        try cli.ok(["verify"])

        // The restored copy is older than the live vault now: still reported as such, never trusted silently.
        let behind = try cli.run(["ls"] + drill)
        #expect(behind.status == Exit.integrity && behind.stderr.contains("coffer state reset"), "\(behind.stderr)")
    }

    @Test("adopt: an administrator makes a restored copy the vault to work in, recorded as vault.adopt; others may not")
    func adopt() throws {
        let cli = try vaultWithDocument()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["backup", "create", cli.path("dest")])
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("restored")])
        let restored = ["--vault", cli.path("restored")]
        #expect(try cli.run(as: bob.file, ["backup", "adopt"] + restored).status == Exit.accessDenied)
        #expect(try cli.run(["backup", "adopt"]).status == Exit.usage)  // the live vault is no restored copy

        let adopted = try #require(try cli.ok(["backup", "adopt", "--json"] + restored).json() as? [String: Any])
        #expect(adopted["snapshot"] as? String == (try FileManager.default.contentsOfDirectory(atPath: cli.path("dest/snapshots")).first))
        #expect(!FileManager.default.fileExists(atPath: cli.path("restored/restored.json")))
        #expect(try cli.ok(["open", "a.txt", "-o", "-"] + restored).stdout == Data("alpha\n".utf8))
        let log = try cli.ok(["audit", "log", "--action", "vault.adopt", "--json"] + restored).text.split(separator: "\n")
        #expect(log.count == 1)
        try cli.ok(["verify", "--deep"] + restored)
        // The identity now works in the adopted vault; the old one is a diverged copy, said so accurately.
        let old = try cli.run(["ls"])
        #expect(old.status == Exit.integrity && old.stderr.contains(realPath(cli.path("restored"))) && old.stderr.contains("coffer state reset"), "\(old.stderr)")
    }

    @Test("a record forked on a copy is told apart from a rollback, and `coffer state reset` recovers; a rollback of the live directory is still caught")
    func forkAndRollback() throws {
        let cli = try vaultWithDocument()
        // What restore drills did before restored copies were read-only: use a copy with the same identity.
        try copyTree(cli.path("vault"), cli.path("copy"))
        try cli.ok(["open", "a.txt", "-o", cli.path("out.txt"), "--vault", cli.path("copy")])
        let forked = try cli.run(["ls"])
        #expect(forked.status == Exit.integrity)
        let copy = realPath(cli.path("copy"))
        #expect(forked.stderr.contains(copy) && forked.stderr.contains("coffer state reset --vault") && forked.stderr.contains("numbered from 0"))
        #expect(!forked.stderr.contains("but the vault has only"), "\(forked.stderr)")
        let verified = try cli.run(["verify"])
        #expect(verified.status == Exit.integrity && verified.text.contains(copy))

        let reset = try #require(try cli.ok(["state", "reset", "--json"]).json() as? [String: Any])
        #expect(reset["forgottenSeenAt"] as? String == copy && reset["entries"] as? Int != nil)
        try cli.ok(["ls"])
        try cli.ok(["verify"])

        // A rollback: the live directory swapped for an older copy of itself, with or without a restored-copy mark.
        try cli.ok(["backup", "create", cli.path("dest")])
        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("older")])
        try cli.write("b.txt", Data("beta\n".utf8))
        try cli.ok(["seal", cli.path("b.txt")])
        try FileManager.default.moveItem(atPath: cli.path("vault"), toPath: cli.path("vault.live"))
        try copyTree(cli.path("older"), cli.path("vault"))
        for marked in [true, false] {
            if !marked { try FileManager.default.removeItem(atPath: cli.path("vault/restored.json")) }
            let rolledBack = try cli.run(["ls"])
            #expect(rolledBack.status == Exit.integrity && rolledBack.stderr.contains("was rolled back"), "\(rolledBack.stderr)")
            #expect(try cli.run(["verify"]).status == Exit.integrity)
            #expect(try cli.run(["audit", "verify"]).status == Exit.integrity)
        }
    }

    @Test("backup list of a destination holding only an interrupted snapshot exits 6 and says so")
    func listInterrupted() throws {
        let cli = try CLIHarness()
        try FileManager.default.createDirectory(atPath: cli.path("dest/snapshots/20261129T023000.123456Z-1a2b3c4d"), withIntermediateDirectories: true)
        let listed = try cli.run(["backup", "list", cli.path("dest")])
        #expect(listed.status == Exit.notFound && listed.stderr.contains("interrupted"), "\(listed.stderr)")
        #expect(try cli.run(["backup", "list", cli.path("dest"), "--json"]).status == Exit.notFound)
    }

    @Test("verify, audit verify|log|report and ls work on a read-only bind mount of a vault")
    func readOnlyMount() throws {
        let cli = try vaultWithDocument()
        try FileManager.default.createDirectory(atPath: cli.path("ro"), withIntermediateDirectories: true)
        try ReadOnlyMount.with(cli.path("vault"), at: cli.path("ro")) {
            let ro = ["--vault", cli.path("ro")]
            for command in [["verify"], ["verify", "--deep"], ["audit", "verify"], ["audit", "log"], ["audit", "report"], ["ls"]] {
                let result = try cli.run(command + ro)
                #expect(result.status == Exit.ok, "coffer \(command.joined(separator: " ")) on read-only media: \(result.stderr)")
            }
            #expect(try cli.ok(["ls"] + ro).text.contains("a.txt"))
            #expect(try cli.run(["seal", cli.path("a.txt"), "--name", "x"] + ro).status != Exit.ok)
        }
    }

    @Test("an unprivileged user audits a copy made read-only with chmod (no write permission anywhere in it)")
    func chmodReadOnlyCopy() throws {
        let cli = try vaultWithDocument()
        // The copy, the identity and a state directory belong to nobody; the copy is then made read-only.
        chmod(cli.root, 0o755)
        try copyTree(cli.path("vault"), cli.path("evidence"))
        try FileManager.default.createDirectory(atPath: cli.path("nobody-state"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: cli.path("home/identity.txt"), toPath: cli.path("nobody-identity.txt"))
        for path in [cli.path("evidence"), cli.path("nobody-state"), cli.path("nobody-identity.txt")] {
            #expect(try cli.execute("/bin/chown", ["-R", "nobody:nogroup", path]).status == 0)
        }
        #expect(try cli.execute("/bin/chmod", ["-R", "a-w", cli.path("evidence")]).status == 0)
        let before = try treeStamps(cli.path("evidence"))
        let asNobody = ["--reuid=nobody", "--regid=nogroup", "--clear-groups", CLIHarness.binary]
        let environment = ["COFFER_STATE_DIR": cli.path("nobody-state"), "COFFER_IDENTITY": cli.path("nobody-identity.txt"), "HOME": cli.path("nobody-state")]
        // Proof that nobody cannot write there.
        #expect(try cli.execute("/usr/bin/setpriv", ["--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/touch", cli.path("evidence/probe")]).status != 0)
        for command in [["verify"], ["verify", "--deep"], ["audit", "verify"], ["audit", "log"], ["ls"]] {
            let result = try cli.execute("/usr/bin/setpriv", asNobody + command + ["--vault", cli.path("evidence")], environment: environment)
            #expect(result.status == Exit.ok, "coffer \(command.joined(separator: " ")) as nobody on a chmod'd copy: \(result.stderr)")
        }
        #expect(try treeStamps(cli.path("evidence")) == before)
    }

    @Test("auditing a writable copy creates, changes and deletes nothing in it")
    func auditingChangesNothing() throws {
        let cli = try vaultWithDocument()
        try copyTree(cli.path("vault"), cli.path("evidence"))
        let before = try treeStamps(cli.path("evidence"))
        for command in [["verify"], ["verify", "--deep"], ["audit", "verify"], ["audit", "log"], ["audit", "report"], ["ls"]] {
            try cli.ok(command + ["--vault", cli.path("evidence")])
            #expect(try treeStamps(cli.path("evidence")) == before, "coffer \(command.joined(separator: " ")) changed the vault directory")
        }
    }

    /// Every path under `root` (the root too) with its modification time in nanoseconds, size and mode.
    private func treeStamps(_ root: String) throws -> [String: [Int]] {
        var stamps: [String: [Int]] = [:]
        for relative in [""] + (try FileManager.default.subpathsOfDirectory(atPath: root)) {
            var st = stat()
            #expect(lstat(root + "/" + relative, &st) == 0)
            stamps[relative] = [Int(st.st_mtim.tv_sec) * 1_000_000_000 + Int(st.st_mtim.tv_nsec), Int(st.st_size), Int(st.st_mode)]
        }
        return stamps
    }

    /// The canonical path (`realpath(3)`), as Coffer names vault directories in its messages.
    private func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// `cp -a`.
    private func copyTree(_ source: String, _ destination: String) throws {
        let copy = ChildProcess()
        copy.executableURL = URL(fileURLWithPath: "/bin/cp")
        copy.arguments = ["-a", source, destination]
        try copy.run()
        copy.waitUntilExit()
        guard copy.terminationStatus == 0 else { throw HarnessError("cp -a \(source) \(destination) failed") }
    }
}

/// A read-only bind mount (`mount --bind` then `mount -o remount,ro,bind`),
/// unmounted when `body` returns. Needs root: without it the test fails, it
/// does not skip.
enum ReadOnlyMount {
    static func with(_ source: String, at target: String, _ body: () throws -> Void) throws {
        try #require(getuid() == 0, "a read-only bind mount needs root")
        try mount(["--bind", source, target])
        defer { try? mount(["-o", "remount,ro,bind", target]); _ = try? run("/bin/umount", [target]) }
        try mount(["-o", "remount,ro,bind", target])
        // The mount really is read-only.
        #expect(FileManager.default.createFile(atPath: target + "/probe", contents: Data()) == false)
        try body()
    }

    private static func mount(_ arguments: [String]) throws {
        guard try run("/bin/mount", arguments) == 0 else { throw HarnessError("mount \(arguments.joined(separator: " ")) failed") }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

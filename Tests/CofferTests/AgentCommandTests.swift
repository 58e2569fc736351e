import CofferTestSupport
import Foundation
import Testing

/// Issue 15, finding 2, through the real binary: `coffer unlock` starts an
/// agent that holds the identity; commands then need no passphrase until
/// `coffer lock`, the deadline, or a changed identity file; a killed agent,
/// concurrent commands and unlocks, and hostile clients on the socket lose
/// nothing and hang nothing.
@Suite("Unlock agent commands")
struct AgentCommandTests {
    static let passphrase = "agent passphrase"

    /// A vault of an encrypted identity, with its own runtime directory in /dev/shm;
    /// no passphrase source in the environment, and no terminal.
    final class AgentHarness {
        let cli: CLIHarness
        let runtime: String
        let passphraseFile: String

        init() throws {
            cli = try CLIHarness()
            var template = Array("/dev/shm/coffer-agent-test-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp in /dev/shm failed") }
            runtime = String(cString: made)
            cli.environment["XDG_RUNTIME_DIR"] = runtime
            passphraseFile = try cli.write("passphrase.txt", Data(AgentCommandTests.passphrase.utf8))
            try cli.ok(["identity", "new", "-o", cli.environment["COFFER_IDENTITY"]!, "--name", "alice", "--passphrase-file", passphraseFile])
            try cli.ok(["init", "--passphrase-file", passphraseFile])
        }

        deinit {
            _ = try? cli.run(["lock"])
            try? FileManager.default.removeItem(atPath: runtime)
        }

        /// `coffer unlock` with the passphrase file; returns its JSON report.
        func unlock(_ extra: [String] = []) throws -> [String: Any] {
            let result = try cli.ok(["unlock", "--passphrase-file", passphraseFile, "--json"] + extra)
            return try #require(try result.json() as? [String: Any])
        }

        /// Whether a command that needs the identity runs without a passphrase (the agent answered).
        func unlocked() throws -> Bool {
            let listed = try cli.run(["ls"], timeout: 30)
            #expect([Exit.ok, Exit.usage].contains(listed.status), "\(listed.stderr)")
            return listed.status == Exit.ok
        }
    }

    /// Waits up to 10 s for `pid` to end.
    static func ended(_ pid: Int32) -> Bool {
        for _ in 0..<200 {
            if kill(pid, 0) != 0 { return true }
            usleep(50_000)
        }
        return false
    }

    @Test("unlock once, then seal, share, open and audit need no passphrase; the socket is 0600 in a 0700 folder; lock stops it and the passphrase is asked again")
    func unlockUseLock() throws {
        let h = try AgentHarness()
        let cli = h.cli
        #expect(try !h.unlocked())
        let report = try h.unlock()
        let socket = try #require(report["socket"] as? String)
        #expect(socket.hasPrefix(h.runtime + "/coffer/agent-") && report["name"] as? String == "alice")
        var st = stat()
        #expect(lstat(socket, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(stat(h.runtime + "/coffer", &st) == 0 && st.st_mode & 0o777 == 0o700)

        try cli.write("memo.txt", Data("memo\n".utf8))
        try cli.ok(["seal", cli.path("memo.txt")])
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["share", "memo.txt", "--role", "eng"])
        try cli.ok(["rotate", "role", "eng"])
        #expect(try cli.ok(["open", "memo.txt", "-o", "-"]).stdout == Data("memo\n".utf8))
        #expect(try cli.run(as: bob.file, ["open", "memo.txt", "-o", "-"]).stdout == Data("memo\n".utf8))
        try cli.ok(["audit", "verify"])
        #expect(try cli.run(["verify", "--deep"], environment: ["COFFER_PASSPHRASE": AgentCommandTests.passphrase]).status == Exit.ok)

        // Only the named identity file's agent: another file's has none.
        #expect(try cli.ok(["lock", "--identity", bob.file]).text.contains("no agent was running"))
        #expect(try h.unlocked())
        #expect(try cli.ok(["lock", "--identity", cli.environment["COFFER_IDENTITY"]!]).text.contains("stopped 1 agent"))
        #expect(try !h.unlocked())
        _ = try h.unlock()
        #expect(try cli.ok(["lock"]).text.contains("stopped 1 agent"))
        #expect(try !h.unlocked())
        #expect(!FileManager.default.fileExists(atPath: socket))
        #expect(try cli.ok(["lock"]).text.contains("no agent was running"))
        // A wrong passphrase starts nothing.
        let wrong = try cli.write("wrong.txt", Data("not it".utf8))
        #expect(try cli.run(["unlock", "--passphrase-file", wrong]).status == Exit.authentication)
        #expect(try !h.unlocked())
    }

    @Test("the agent stops by itself when --for runs out, and serves only the identity file it was unlocked from (another file at that path is not unlocked by it)")
    func deadlineAndFile() throws {
        let h = try AgentHarness()
        let cli = h.cli
        let report = try h.unlock(["--for", "2s"])
        let pid = try #require(report["pid"] as? Int32)
        #expect(try h.unlocked())
        #expect(Self.ended(pid), "the agent outlived its time")
        #expect(try !h.unlocked())
        #expect(try cli.run(["unlock", "--for", "soon", "--passphrase-file", h.passphraseFile]).status == Exit.usage)

        _ = try h.unlock()
        #expect(try h.unlocked())
        // The same identity re-encrypted is another file: the agent does not answer for it.
        let identity = cli.environment["COFFER_IDENTITY"]!
        let original = try Data(contentsOf: URL(fileURLWithPath: identity))
        try FileManager.default.removeItem(atPath: identity)
        try cli.ok(["identity", "new", "-o", identity, "--name", "mallory", "--passphrase-file", h.passphraseFile])
        #expect(try !h.unlocked())
        try original.write(to: URL(fileURLWithPath: identity))
        #expect(try h.unlocked())
    }

    @Test("a killed agent: commands fall back to the passphrase (exit 2 without one, never a hang), commands running when it died fail with exit 3 and commit nothing half-made, and unlock starts a new one over the stale socket")
    func killedAgent() throws {
        let h = try AgentHarness()
        let cli = h.cli
        for index in 0..<300 { try cli.write("many/\(index).txt", Data("file \(index)\n".utf8)) }
        var outcomes: [Int32] = []
        for round in 0..<3 {
            let pid = try #require(try h.unlock()["pid"] as? Int32)
            let seal = try cli.start(["seal", cli.path("many"), "--label", "internal"])
            usleep(UInt32.random(in: 50_000...400_000))
            kill(pid, SIGKILL)
            seal.waitUntilExit()
            outcomes.append(seal.terminationStatus)
            #expect([Exit.ok, Exit.usage, Exit.authentication, Exit.concurrentChange].contains(seal.terminationStatus), "round \(round): \(seal.terminationStatus)")
            #expect(Self.ended(pid))
            #expect(try !h.unlocked())
            let verified = try cli.run(["verify"], environment: ["COFFER_PASSPHRASE": AgentCommandTests.passphrase])
            #expect(verified.status == Exit.ok, "round \(round): \(verified.stderr)")
        }
        _ = try h.unlock()
        #expect(try h.unlocked())
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("four commands at once through one agent all succeed; four unlocks at once all succeed and leave exactly one agent running")
    func concurrent() throws {
        let h = try AgentHarness()
        let cli = h.cli
        _ = try h.unlock()
        let runs = try (0..<4).map { index -> ChildProcess in
            let file = try cli.write("c\(index).txt", pattern(200_000, seed: UInt64(index)))
            return try cli.start(["seal", file])
        }
        for run in runs {
            run.waitUntilExit()
            #expect(run.terminationReason == .exit && run.terminationStatus == Exit.ok)
        }
        #expect(try (cli.ok(["ls", "--json"]).json() as? [Any])?.count == 4)

        // Each agent replaces the socket whole, so none of them fails to listen.
        let unlocks = try (0..<4).map { _ in try cli.start(["unlock", "--passphrase-file", h.passphraseFile]) }
        for unlock in unlocks {
            unlock.waitUntilExit()
            #expect(unlock.terminationReason == .exit && unlock.terminationStatus == Exit.ok)
        }
        // An agent whose socket another replaced stops within a second or so.
        sleep(2)
        let agents = try FileManager.default.contentsOfDirectory(atPath: "/proc").filter { entry in
            guard entry.allSatisfy(\.isNumber), let commandLine = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return false }
            let words = commandLine.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            return words.count > 3 && words[1] == "agent-serve" && words[3].hasPrefix(h.runtime + "/")
        }
        #expect(agents.count == 1, "\(agents)")
        #expect(try h.unlocked())
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("hostile clients on the socket: an oversized length, garbage, a cut frame, a wrong digest and a silent client get no secret and do not stop the agent from serving")
    func hostileClients() throws {
        let h = try AgentHarness()
        let cli = h.cli
        let socket = try #require(try h.unlock()["socket"] as? String)
        let script = """
            import socket, struct, sys, time
            path = sys.argv[1]
            def talk(data):
                # The agent may close the connection before it has read everything: no answer then.
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(path)
                answer = b""
                try:
                    s.sendall(data)
                    s.shutdown(socket.SHUT_WR)
                    while True:
                        chunk = s.recv(65536)
                        if not chunk: break
                        answer += chunk
                except (BrokenPipeError, ConnectionResetError):
                    pass
                s.close()
                return answer
            print("oversized", talk(struct.pack(">I", 0xFFFFFFFF) + b"x" * 100).hex())
            print("garbage", talk(struct.pack(">I", 5) + b"\\x09\\x09\\x09\\x09\\x09").hex())
            print("cut", talk(struct.pack(">I", 100) + b"\\x01\\x01").hex())
            for op in (1, 2, 4):
                print("digest%d" % op, talk(struct.pack(">I", 34) + bytes([1, op]) + b"\\x00" * 32).hex())
            silent = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            silent.connect(path)
            time.sleep(0.2)
            print("done")
            """
        let hostile = try cli.execute("/usr/bin/python3", ["-c", script, socket])
        let lines = Dictionary(uniqueKeysWithValues: hostile.text.split(separator: "\n").compactMap { line -> (String, String)? in
            let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
            return parts.count == 2 ? (parts[0], parts[1]) : (parts.first.map { ($0, "") })
        })
        #expect(hostile.status == 0 && lines["done"] != nil, "\(hostile.stderr)")
        #expect(lines["oversized"] == "" && lines["cut"] == "", "\(lines)")
        // Garbage is a bad request (status 3); a wrong digest is "another identity" (status 1), with no payload.
        #expect(lines["garbage"] == "0000000103", "\(lines)")
        for op in [1, 2, 4] { #expect(lines["digest\(op)"] == "0000000101", "\(lines)") }
        #expect(try h.unlocked())
        try cli.write("after.txt", Data("still served\n".utf8))
        try cli.ok(["seal", cli.path("after.txt")])
    }

    @Test(
        "another user cannot use the agent: the folder keeps them out, and with it opened up, SO_PEERCRED does (as root only: it takes another uid)",
        .enabled(if: getuid() == 0, "acting as another user needs root"))
    func otherUser() throws {
        let h = try AgentHarness()
        let socket = try #require(try h.unlock()["socket"] as? String)
        let script = """
            import os, socket, struct, sys
            os.setgid(65534); os.setuid(65534)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(sys.argv[1])
            except OSError as e:
                print("refused", e.errno); sys.exit(0)
            try:
                s.sendall(struct.pack(">I", 34) + bytes([1, 1]) + b"\\x00" * 32)
                s.shutdown(socket.SHUT_WR)
                print("answer", s.recv(100).hex())
            except (BrokenPipeError, ConnectionResetError):
                print("answer")
            """
        let closed = try h.cli.execute("/usr/bin/python3", ["-c", script, socket])
        #expect(closed.text.hasPrefix("refused 13"), "\(closed.text) \(closed.stderr)")
        // A mistake that opens the folder and the socket to everyone: the agent still answers no one else.
        chmod(h.runtime, 0o755)
        chmod(h.runtime + "/coffer", 0o755)
        chmod(socket, 0o777)
        let opened = try h.cli.execute("/usr/bin/python3", ["-c", script, socket])
        #expect(opened.text.trimmingCharacters(in: .whitespacesAndNewlines) == "answer", "\(opened.text) \(opened.stderr)")
        chmod(h.runtime + "/coffer", 0o700)
        #expect(try h.unlocked())
    }
}

import Foundation
import Testing

/// The real binary at a real terminal: a tmux session types what a person
/// would (`send-keys`) and reads the screen (`capture-pane`).
@Suite("At a terminal")
struct TerminalTests {
    /// A tmux server of its own (its socket in the harness's scratch directory).
    final class Terminal {
        let cli: CLIHarness
        let socket: String
        /// The session the last ``start(_:)`` made: the one read and typed into.
        private var session = 0

        init(_ cli: CLIHarness) {
            self.cli = cli
            socket = cli.path("tmux.sock")
        }

        deinit {
            _ = try? cli.execute("/usr/bin/tmux", ["-S", socket, "kill-server"])
        }

        /// Starts `command` (a shell command line) in a new detached session,
        /// with the harness's environment; it becomes the one read and typed into.
        func start(_ command: String) throws {
            let exports = cli.environment.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ")
            // The tmux server outlives the client and keeps every descriptor the client
            // had: it gets none of the harness's (the output pipes the harness reads
            // to their end would never close).
            let detached = "import os, sys; os.closerange(3, 65536); null = os.open('/dev/null', os.O_RDWR); [os.dup2(null, n) for n in (0, 1, 2)]; os.execv(sys.argv[1], sys.argv[1:])"
            let started = try cli.execute(
                "/usr/bin/python3", ["-c", detached, "/usr/bin/tmux", "-S", socket, "new-session", "-d", "-s", "s\(session + 1)", "-x", "160", "-y", "40", "env \(exports) bash -c \"\(command)\""])
            #expect(started.status == 0)
            session += 1
        }

        /// What the screen shows.
        func screen() throws -> String {
            try cli.execute("/usr/bin/tmux", ["-S", socket, "capture-pane", "-p", "-t", "s\(session)"]).text
        }

        /// The screen, for failure messages.
        var shown: String { (try? screen()) ?? "" }

        /// Waits up to 30 s for `text` on the screen.
        func waitFor(_ text: String) throws -> Bool {
            for _ in 0..<300 {
                if try screen().contains(text) { return true }
                usleep(100_000)
            }
            return false
        }

        /// Types `keys` and Enter.
        func type(_ keys: String) throws {
            try cli.execute("/usr/bin/tmux", ["-S", socket, "send-keys", "-t", "s\(session)", "-l", keys])
            try cli.execute("/usr/bin/tmux", ["-S", socket, "send-keys", "-t", "s\(session)", "Enter"])
        }
    }

    /// A vault whose identity is encrypted with `passphrase`.
    static func encryptedVault(passphrase: String) throws -> CLIHarness {
        let cli = try CLIHarness()
        let file = try cli.write("pass.txt", Data(passphrase.utf8))
        try cli.ok(["identity", "new", "--out", cli.environment["COFFER_IDENTITY"]!, "--name", "alice", "--passphrase-file", file])
        try cli.ok(["init", "--passphrase-file", file])
        return cli
    }

    /// Waits up to 60 s for the file a finished command line writes its status into.
    static func status(in path: String) -> String? {
        for _ in 0..<600 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8), text.hasSuffix("\n") { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
            usleep(100_000)
        }
        return nil
    }

    @Test("a pipe into coffer still asks for the passphrase on the terminal, without echo; a wrong one exits 3")
    func passphraseThroughAPipe() throws {
        let passphrase = "correct horse battery"
        let cli = try Self.encryptedVault(passphrase: passphrase)
        let terminal = Terminal(cli)
        let done = cli.path("done")
        // README's own example: standard input is a pipe, the terminal is still there.
        try terminal.start("printf 'piped content' | '\(CLIHarness.binary)' seal - --name piped.txt; echo status \\$? > '\(done)'")
        #expect(try terminal.waitFor("Passphrase for"), "\(terminal.shown)")
        try terminal.type(passphrase)
        #expect(Self.status(in: done) == "status 0", "\(terminal.shown)")
        #expect(!terminal.shown.contains(passphrase))
        let opened = try cli.run(["open", "piped.txt", "-o", "-"], environment: ["COFFER_PASSPHRASE": passphrase])
        #expect(opened.status == 0 && opened.text == "piped content", "\(opened.stderr)")

        let again = cli.path("again")
        try terminal.start("printf 'x' | '\(CLIHarness.binary)' seal - --name wrong.txt; echo status \\$? > '\(again)'")
        #expect(try terminal.waitFor("Passphrase for"))
        try terminal.type("not the passphrase")
        #expect(Self.status(in: again) == "status \(Exit.authentication)", "\(terminal.shown)")
    }

    @Test("edit at a terminal: the passphrase is asked before vi starts; vi shows the document, :wq seals revision 2, :cq seals nothing; no plaintext (nor vi's swap file) is left in XDG_RUNTIME_DIR")
    func editWithVi() throws {
        let passphrase = "edit at the terminal"
        let cli = try Self.encryptedVault(passphrase: passphrase)
        let edits = try EditCommandTests.EditHarness(cli)
        try cli.write("notes.txt", Data("hello from the vault\n".utf8))
        #expect(try cli.run(["seal", cli.path("notes.txt")], environment: ["COFFER_PASSPHRASE": passphrase]).status == Exit.ok)
        // vi (scripts/deps installs vim-tiny) without the user's settings; its swap file goes beside the file, in the private folder.
        cli.environment["EDITOR"] = "vim.tiny -u NONE"
        let terminal = Terminal(cli)
        let saved = cli.path("saved")
        try terminal.start("'\(CLIHarness.binary)' edit notes.txt; echo status \\$? > '\(saved)'; sleep 30")
        #expect(try terminal.waitFor("Passphrase for"), "\(terminal.shown)")
        #expect(!terminal.shown.contains("hello from the vault"))
        try terminal.type(passphrase)
        #expect(try terminal.waitFor("hello from the vault"), "\(terminal.shown)")
        let swap = try FileManager.default.subpathsOfDirectory(atPath: edits.runtime)
        #expect(swap.contains { $0.hasSuffix(".notes.txt.swp") }, "vi keeps a swap file beside the file: \(swap)")
        try terminal.type(":s/hello/greetings/")
        try terminal.type(":wq")
        #expect(Self.status(in: saved) == "status 0", "\(terminal.shown)")
        let opened = try cli.run(["open", "notes.txt", "-o", "-"], environment: ["COFFER_PASSPHRASE": passphrase])
        #expect(opened.text == "greetings from the vault\n", "\(opened.stderr)")
        #expect(try edits.leftovers().isEmpty)

        let abandoned = cli.path("abandoned")
        try terminal.start("'\(CLIHarness.binary)' edit notes.txt; echo status \\$? > '\(abandoned)'; sleep 30")
        #expect(try terminal.waitFor("Passphrase for"), "\(terminal.shown)")
        try terminal.type(passphrase)
        #expect(try terminal.waitFor("greetings from the vault"), "\(terminal.shown)")
        try terminal.type(":s/greetings/lost words/")
        try terminal.type(":w")
        try terminal.type(":cq")
        #expect(Self.status(in: abandoned) == "status 1", "\(terminal.shown)")
        let history = try cli.run(["history", "notes.txt", "--json"], environment: ["COFFER_PASSPHRASE": passphrase])
        #expect(try (history.json() as? [Any])?.count == 2, "\(history.stderr)")
        #expect(try edits.leftovers().isEmpty)
    }

    @Test("unlock at a terminal: the passphrase is typed once, without echo; then commands in a pipe and without a terminal need none, until lock")
    func unlockOnce() throws {
        let passphrase = "unlock me once"
        let cli = try Self.encryptedVault(passphrase: passphrase)
        // A runtime directory of the test's own, for the agent's socket (kept to the end).
        let runtime = try EditCommandTests.EditHarness(cli)
        let terminal = Terminal(cli)
        let unlocked = cli.path("unlocked")
        try terminal.start("'\(CLIHarness.binary)' unlock --for 5m; echo status \\$? > '\(unlocked)'; sleep 30")
        #expect(try terminal.waitFor("Passphrase for"), "\(terminal.shown)")
        try terminal.type(passphrase)
        #expect(Self.status(in: unlocked) == "status 0", "\(terminal.shown)")
        #expect(terminal.shown.contains("unlocked alice") && !terminal.shown.contains(passphrase), "\(terminal.shown)")
        // No terminal, no passphrase source: the agent answers.
        let sealed = try cli.run(["seal", "-", "--name", "piped.txt"], stdin: Data("through the agent".utf8))
        #expect(sealed.status == Exit.ok, "\(sealed.stderr)")
        #expect(try cli.run(["open", "piped.txt", "-o", "-"]).text == "through the agent")
        try cli.ok(["lock"])
        #expect(try cli.run(["ls"]).status == Exit.usage)
        #expect(try FileManager.default.contentsOfDirectory(atPath: runtime.runtime + "/coffer").isEmpty)
    }

    /// A shell command that reads standard input at about 20 MiB/s (1 MiB per 50 ms).
    static let slowReader = "python3 -c 'import sys, time\nwhile sys.stdin.buffer.read(1 << 20): time.sleep(0.05)'"

    /// A shell command that writes `mebibytes` MiB at about 20 MiB/s.
    static func slowWriter(_ mebibytes: Int) -> String {
        "python3 -c 'import sys, time\nfor _ in range(\(mebibytes)): sys.stdout.buffer.write(bytes(1 << 20)); sys.stdout.flush(); time.sleep(0.05)'"
    }

    @Test("a long open and seal show a progress line on the terminal (bytes, rate, and for a known size the bar and time left), erased at the end; -q and scripts see none")
    func progress() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("big.bin", pattern(64 << 20, seed: 3))
        try cli.ok(["seal", cli.path("big.bin")])
        let terminal = Terminal(cli)
        let done = cli.path("done")
        // The reader takes about 3 s, so the line (first drawn after 0.5 s) stays up a while.
        try terminal.start("'\(CLIHarness.binary)' open big.bin -o - | \(Self.slowReader); echo status \\$? > '\(done)'; sleep 30")
        #expect(try terminal.waitFor("s left"), "\(terminal.shown)")
        let line = terminal.shown
        #expect(line.contains("/ 64.0 MiB") && line.contains("MiB/s") && line.contains("%") && line.contains("[#"), "\(line)")
        #expect(Self.status(in: done) == "status 0", "\(terminal.shown)")
        #expect(!terminal.shown.contains("MiB/s"), "the line is erased at the end: \(terminal.shown)")

        // A stream has no known size: bytes and rate only.
        let sealed = cli.path("sealed")
        try terminal.start("\(Self.slowWriter(48)) | '\(CLIHarness.binary)' seal - --name stream.bin > /dev/null; echo status \\$? > '\(sealed)'; sleep 30")
        #expect(try terminal.waitFor("MiB/s"), "\(terminal.shown)")
        #expect(!terminal.shown.contains("s left") && !terminal.shown.contains("[#"), "\(terminal.shown)")
        #expect(Self.status(in: sealed) == "status 0", "\(terminal.shown)")
        #expect(try cli.ok(["open", "stream.bin", "-o", "-"]).stdout == Data(count: 48 << 20))

        // --quiet: never a line, however long it runs.
        let quiet = cli.path("quiet")
        try terminal.start("'\(CLIHarness.binary)' open big.bin -o - -q | \(Self.slowReader); echo status \\$? > '\(quiet)'; sleep 30")
        var seen = false
        for _ in 0..<40 where !FileManager.default.fileExists(atPath: quiet) {
            if try terminal.screen().contains("MiB/s") { seen = true }
            usleep(100_000)
        }
        #expect(Self.status(in: quiet) == "status 0")
        #expect(!seen, "\(terminal.shown)")

        // No terminal: standard error stays empty.
        let script = try cli.run(["open", "big.bin", "-o", cli.path("copy.bin")])
        #expect(script.status == Exit.ok && script.stderr.isEmpty, "\(script.stderr)")
    }

    @Test("without a controlling terminal (setsid), nothing is prompted: exit 2 naming the ways to give a passphrase")
    func noTerminal() throws {
        let cli = try Self.encryptedVault(passphrase: "pass phrase")
        let result = try cli.execute("/usr/bin/setsid", ["-w", CLIHarness.binary, "ls"], stdin: Data())
        #expect(result.status == Exit.usage, "\(result.stderr)")
        #expect(result.stderr.contains("--passphrase-file") && result.stderr.contains("COFFER_PASSPHRASE"), "\(result.stderr)")
    }
}

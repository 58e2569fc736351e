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

        init(_ cli: CLIHarness) {
            self.cli = cli
            socket = cli.path("tmux.sock")
        }

        deinit {
            _ = try? cli.execute("/usr/bin/tmux", ["-S", socket, "kill-server"])
        }

        /// Starts `command` (a shell command line) in a new detached session,
        /// with the harness's environment.
        func start(_ command: String) throws {
            let exports = cli.environment.map { "\($0.key)='\($0.value)'" }.sorted().joined(separator: " ")
            // The tmux server outlives the client and keeps every descriptor the client
            // had: it gets none of the harness's (its pipes, and the socket Foundation
            // watches the child's exit through, which would never close).
            let detached = "import os, sys; os.closerange(3, 65536); null = os.open('/dev/null', os.O_RDWR); [os.dup2(null, n) for n in (0, 1, 2)]; os.execv(sys.argv[1], sys.argv[1:])"
            let started = try cli.execute(
                "/usr/bin/python3", ["-c", detached, "/usr/bin/tmux", "-S", socket, "new-session", "-d", "-x", "160", "-y", "40", "env \(exports) bash -c \"\(command)\""])
            #expect(started.status == 0)
        }

        /// What the screen shows.
        func screen() throws -> String {
            try cli.execute("/usr/bin/tmux", ["-S", socket, "capture-pane", "-p"]).text
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
            try cli.execute("/usr/bin/tmux", ["-S", socket, "send-keys", "-l", keys])
            try cli.execute("/usr/bin/tmux", ["-S", socket, "send-keys", "Enter"])
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

    @Test("without a controlling terminal (setsid), nothing is prompted: exit 2 naming the ways to give a passphrase")
    func noTerminal() throws {
        let cli = try Self.encryptedVault(passphrase: "pass phrase")
        let result = try cli.execute("/usr/bin/setsid", ["-w", CLIHarness.binary, "ls"], stdin: Data())
        #expect(result.status == Exit.usage, "\(result.stderr)")
        #expect(result.stderr.contains("--passphrase-file") && result.stderr.contains("COFFER_PASSPHRASE"), "\(result.stderr)")
    }
}

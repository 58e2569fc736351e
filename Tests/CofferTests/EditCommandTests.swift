import CofferTestSupport
import Foundation
import Testing

/// Issue 15, finding 6, through the real binary: `coffer edit` runs the
/// editor on a private copy in memory, seals the result as the next
/// revision (none when unchanged), wipes the copy; two edits at once, a
/// failed seal, signals, and kills at any moment lose nothing and leave no
/// plaintext behind for long.
@Suite("Edit command")
struct EditCommandTests {
    /// A harness whose `XDG_RUNTIME_DIR` is a new 0700 directory of its own in /dev/shm (tmpfs).
    final class EditHarness {
        let cli: CLIHarness
        let runtime: String

        /// Gives `cli` (a vault made already) its runtime directory.
        init(_ cli: CLIHarness) throws {
            self.cli = cli
            var template = Array("/dev/shm/coffer-runtime-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp in /dev/shm failed") }
            runtime = String(cString: made)
            cli.environment["XDG_RUNTIME_DIR"] = runtime
        }

        /// A new vault of an unencrypted identity, with its runtime directory.
        convenience init() throws {
            let cli = try CLIHarness()
            try cli.initVault()
            try self.init(cli)
        }

        deinit { try? FileManager.default.removeItem(atPath: runtime) }

        /// What is in the runtime directory.
        func leftovers() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: runtime).sorted() }

        /// Writes an executable editor script (`/bin/sh`; `$1` is the file) and makes it `$EDITOR`.
        func editor(_ body: String) throws {
            let script = try cli.write("editor-\(UUID().uuidString).sh", Data("#!/bin/sh\n\(body)\n".utf8))
            chmod(script, 0o755)
            cli.environment["EDITOR"] = script
        }

        /// An editor that marks `$MARK.started`, waits (at most 30 s) for `$MARK.go`, then appends a line naming `$TAG`.
        func waitingEditor() throws {
            try editor(
                """
                touch "$MARK.started"
                i=0; while [ ! -e "$MARK.go" ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done
                printf 'edited by %s\\n' "$TAG" >> "$1"
                """)
        }

        /// Waits up to 30 s for `path` to exist.
        func waitFor(_ path: String) -> Bool {
            for _ in 0..<600 {
                if FileManager.default.fileExists(atPath: path) { return true }
                usleep(50_000)
            }
            return false
        }
    }

    @Test("edit seals revision 2 from a 0600 file in a 0700 folder in memory and wipes it; unchanged adds none; --json; a failing, killed or missing editor seals nothing (exit 1); a reader is refused (exit 4) and a disk-backed XDG_RUNTIME_DIR too (exit 2), before the editor starts")
    func editThroughTheBinary() throws {
        let h = try EditHarness()
        let cli = h.cli
        try cli.write("notes.txt", Data("hello\n".utf8))
        try cli.ok(["seal", cli.path("notes.txt")])

        try h.editor(#"stat -c '%a %n' "$1" "$(dirname "$1")" > "$SEEN"; echo world >> "$1""#)
        cli.environment["SEEN"] = cli.path("seen")
        #expect(try cli.ok(["edit", "notes.txt"]).text.contains("notes.txt  (revision 2)"))
        let seen = try String(contentsOfFile: cli.path("seen"), encoding: .utf8).split(separator: "\n")
        #expect(seen.count == 2 && seen[0].hasPrefix("600 \(h.runtime)/coffer-edit-") && seen[0].hasSuffix("/notes.txt") && seen[1].hasPrefix("700 "), "\(seen)")
        #expect(try h.leftovers().isEmpty)
        #expect(try cli.ok(["open", "notes.txt", "-o", "-"]).stdout == Data("hello\nworld\n".utf8))

        cli.environment["EDITOR"] = "true"
        #expect(try cli.ok(["edit", "notes.txt"]).text.contains("(unchanged)"))
        try h.editor(#"echo again >> "$1""#)
        let json = try #require(try cli.ok(["edit", "notes.txt", "--json"]).json() as? [String: Any])
        #expect(json["revision"] as? Int == 3 && json["editedRevision"] as? Int == 2 && json["unchanged"] as? Bool == false)
        #expect((json["concurrentRevisions"] as? [Int])?.isEmpty == true && json["name"] as? String == "notes.txt")

        for (body, reason) in [
            (#"echo lost >> "$1"; exit 3"#, "exited with status 3"), (#"echo lost >> "$1"; kill -9 $$"#, "exited with status 137"),
            ("/nonexistent/editor \"$1\"", "exited with status 127"),
        ] {
            try h.editor(body)
            let failed = try cli.run(["edit", "notes.txt"])
            #expect(failed.status == 1 && failed.stderr.contains(reason) && failed.stderr.contains("nothing was sealed"), "\(failed.stderr)")
            #expect(try h.leftovers().isEmpty)
        }
        #expect(try (cli.ok(["history", "notes.txt", "--json"]).json() as? [Any])?.count == 3)
        #expect(try cli.run(["edit", "nothing.txt"]).status == Exit.notFound)

        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["share", "notes.txt", "--role", "eng"])
        try h.editor(#"touch "$SEEN.ran""#)
        let refused = try cli.run(as: bob.file, ["edit", "notes.txt"])
        #expect(refused.status == Exit.accessDenied, "\(refused.stderr)")
        let disk = (CLIHarness.binary as NSString).deletingLastPathComponent
        let onDisk = try cli.run(["edit", "notes.txt"], environment: ["XDG_RUNTIME_DIR": disk])
        #expect(onDisk.status == Exit.usage && onDisk.stderr.contains("not in memory"), "\(onDisk.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.path("seen.ran")), "the editor ran")
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("two edits at once both land, one after the other, and a seal during an edit stays in the history with a note; an edit whose document is deleted meanwhile exits 6 and keeps the edited file for its user")
    func concurrentAndFailed() throws {
        let h = try EditHarness()
        let cli = h.cli
        try cli.write("plan.txt", Data("plan\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt")])

        try h.waitingEditor()
        cli.environment["MARK"] = cli.path("both")
        var edits: [ChildProcess] = []
        for tag in ["a", "b"] {
            cli.environment["TAG"] = tag
            edits.append(try cli.start(["edit", "plan.txt"]))
        }
        // Both editors hold revision 1 before either saves.
        #expect(h.waitFor(cli.path("both.started")))
        usleep(300_000)
        try cli.write("both.go", Data())
        for edit in edits {
            edit.waitUntilExit()
            #expect(edit.terminationReason == .exit && edit.terminationStatus == Exit.ok)
        }
        var contents = Set<String>()
        for revision in 2...3 {
            contents.insert(String(decoding: try cli.ok(["open", "plan.txt", "--at", String(revision), "-o", "-"]).stdout, as: UTF8.self))
        }
        #expect(contents == ["plan\nedited by a\n", "plan\nedited by b\n"])

        // A seal by someone else while the editor is open.
        try cli.write("theirs.txt", Data("their plan\n".utf8))
        try h.editor(#""$COFFER_BINARY_UNDER_TEST" seal "$THEIRS" --name plan.txt > /dev/null && echo mine >> "$1""#)
        cli.environment["COFFER_BINARY_UNDER_TEST"] = CLIHarness.binary
        cli.environment["THEIRS"] = cli.path("theirs.txt")
        let raced = try cli.run(["edit", "plan.txt", "--json"])
        #expect(raced.status == Exit.ok && raced.stderr.contains("revision 4 of plan.txt was sealed while you edited revision 3"), "\(raced.stderr)")
        let report = try #require(try raced.json() as? [String: Any])
        #expect(report["revision"] as? Int == 5 && report["concurrentRevisions"] as? [Int] == [4])
        #expect(try cli.ok(["open", "plan.txt", "--at", "4", "-o", "-"]).stdout == Data("their plan\n".utf8))

        // Deleted while edited: the edit is kept, named, and left alone by later edits.
        try h.editor(#""$COFFER_BINARY_UNDER_TEST" delete plan.txt > /dev/null && echo 'my careful edit' >> "$1""#)
        let failed = try cli.run(["edit", "plan.txt"])
        #expect(failed.status == Exit.notFound && failed.stderr.contains("your edit is kept in \(h.runtime)/coffer-kept-"), "\(failed.stderr)")
        let leftovers = try h.leftovers()
        #expect(leftovers.count == 1 && leftovers[0].hasPrefix("coffer-kept-"))
        let kept = h.runtime + "/" + leftovers[0] + "/plan.txt"
        #expect(try String(contentsOfFile: kept, encoding: .utf8).hasSuffix("mine\nmy careful edit\n"))
        try cli.write("other.txt", Data("other\n".utf8))
        try cli.ok(["seal", cli.path("other.txt")])
        cli.environment["EDITOR"] = "true"
        try cli.ok(["edit", "other.txt"])
        #expect(FileManager.default.fileExists(atPath: kept))
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("SIGINT, SIGTERM and SIGHUP to coffer while the editor runs are ignored and the edit is sealed; coffer killed while the editor runs leaves its folder, which the next edit wipes; edits killed at random moments leave a vault that verifies")
    func signalsAndKills() throws {
        let h = try EditHarness()
        let cli = h.cli
        try cli.write("log.txt", Data("log\n".utf8))
        try cli.ok(["seal", cli.path("log.txt")])
        try h.waitingEditor()

        cli.environment["MARK"] = cli.path("signalled")
        cli.environment["TAG"] = "signalled"
        let signalled = try cli.start(["edit", "log.txt"])
        #expect(h.waitFor(cli.path("signalled.started")))
        for signal in [SIGINT, SIGTERM, SIGHUP] { kill(signalled.processIdentifier, signal) }
        usleep(200_000)
        try cli.write("signalled.go", Data())
        signalled.waitUntilExit()
        #expect(signalled.terminationReason == .exit && signalled.terminationStatus == Exit.ok)
        #expect(try cli.ok(["open", "log.txt", "-o", "-"]).stdout == Data("log\nedited by signalled\n".utf8))

        cli.environment["MARK"] = cli.path("killed")
        cli.environment["TAG"] = "killed"
        let killed = try cli.start(["edit", "log.txt"])
        #expect(h.waitFor(cli.path("killed.started")))
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        try cli.write("killed.go", Data())
        let abandoned = try h.leftovers()
        #expect(abandoned.count == 1 && abandoned[0].hasPrefix("coffer-edit-\(killed.processIdentifier)-"), "\(abandoned)")
        cli.environment["EDITOR"] = "true"
        let next = try cli.run(["edit", "log.txt"])
        #expect(next.status == Exit.ok && next.stderr.contains("wiped \(h.runtime)/\(abandoned.first ?? "?")"), "\(next.stderr)")
        #expect(try h.leftovers().isEmpty)

        try h.editor(#"echo "more $(date +%s%N)" >> "$1""#)
        let span = try cli.duration(of: ["edit", "log.txt"])
        var landed = 0
        for round in 0..<4 {
            if try cli.kill(["edit", "log.txt"], within: span) { landed += 1 }
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
        }
        #expect(landed > 0, "no kill landed while an edit was running")
        cli.environment["EDITOR"] = "true"
        try cli.ok(["edit", "log.txt"])
        #expect(try h.leftovers().isEmpty)
        let history = try #require(try cli.ok(["history", "log.txt", "--json"]).json() as? [[String: Any]])
        for revision in history.compactMap({ $0["revision"] as? Int }) {
            #expect(try cli.run(["open", "log.txt", "--at", String(revision), "-o", "-"]).status == Exit.ok)
        }
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }
}

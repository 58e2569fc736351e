import CofferTestSupport
import Foundation
import Testing

/// `coffer audit` and `coffer gc` through the real binary.
@Suite("Audit and gc commands")
struct AuditCommandTests {
    @Test("verify --subset re-hashes a part, records vault.check, and audit report says when every object was last checked; seals meanwhile are unaffected")
    func verifyByParts() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        for i in 0..<8 { try cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("docs")])
        let report = try #require(try cli.ok(["audit", "report", "--json"]).json() as? [String: Any])
        #expect(report["objectChecks"] == nil)
        #expect(try cli.ok(["audit", "report"]).text.contains("no verify --subset was ever recorded"))
        for bad in ["0/2", "3/2", "x", "1/1001"] {
            #expect(try cli.run(["verify", "--subset", bad]).status == Exit.usage, "\(bad)")
        }
        // A seal running beside the check: both succeed, and the check is recorded after it.
        try cli.write("late.txt", Data("late\n".utf8))
        let sealer = try cli.start(["seal", cli.path("late.txt")])
        let first = try #require(try cli.ok(["verify", "--subset", "1/2", "--json"]).json() as? [String: Any])
        sealer.waitUntilExit()
        #expect(sealer.terminationStatus == 0)
        #expect(first["subset"] as? String == "1/2")
        let partial = try #require(try cli.ok(["audit", "report", "--json"]).json() as? [String: Any])
        let coverage = try #require(partial["objectChecks"] as? [String: Any])
        #expect(coverage["parts"] as? Int == 2 && coverage["everyObjectCheckedSince"] == nil)
        #expect(try cli.ok(["audit", "report"]).text.contains("part(s) 2 of 2 never checked"))
        try cli.ok(["verify", "--subset", "2/2"])
        let complete = try #require(try cli.ok(["audit", "report", "--json"]).json() as? [String: Any])
        #expect((complete["objectChecks"] as? [String: Any])?["everyObjectCheckedSince"] is String)
        #expect(try cli.ok(["audit", "log", "--action", "vault.check"]).text.split(separator: "\n").count == 2)
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
    }

    @Test("verify, log, export and check-export; a raw-SQL edit exits 5 naming the entry")
    func audit() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("a.txt", Data("alpha\n".utf8))
        try cli.ok(["seal", cli.path("a.txt")])
        try cli.ok(["open", "a.txt", "-o", "-"])

        let verified = try #require(try cli.ok(["audit", "verify", "--json"]).json() as? [String: Any])
        #expect(verified["entries"] as? Int == 8 && verified["failure"] == nil)
        let lines = try cli.ok(["audit", "log", "--json"]).text.split(separator: "\n")
        #expect(lines.count == 8)
        let opens = try cli.ok(["audit", "log", "--action", "document.open", "--actor", "alice", "--since", "1h"]).text
        #expect(opens.split(separator: "\n").count == 1 && opens.contains("document.open"))
        #expect(try cli.run(["audit", "log", "--since", "yesterday"]).status == Exit.usage)

        try cli.ok(["audit", "export", "-o", cli.path("audit.jsonl")])
        #expect(try cli.run(["audit", "export", "-o", cli.path("audit.jsonl")]).status == Exit.conflict)
        let checked = try #require(try cli.ok(["audit", "check-export", cli.path("audit.jsonl"), "--json"]).json() as? [String: Any])
        #expect(checked["head"] as? String == verified["head"] as? String)
        var text = try String(contentsOfFile: cli.path("audit.jsonl"), encoding: .utf8)
        text = text.replacingOccurrences(of: "\"seq\":6,", with: "\"seq\":7,")
        try text.write(toFile: cli.path("changed.jsonl"), atomically: false, encoding: .utf8)
        let changed = try cli.run(["audit", "check-export", cli.path("changed.jsonl")])
        #expect(changed.status == Exit.integrity && changed.stderr.contains("entry"))

        let edit = try cli.execute("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            body = db.execute("SELECT body FROM ledger WHERE seq = 6").fetchone()[0]
            db.execute("UPDATE ledger SET body = ? WHERE seq = 6", (body.replace(b'"generation":1', b'"generation":2'),))
            db.commit()
            """, cli.path("vault/catalog.sqlite")])
        #expect(edit.status == 0)
        let broken = try cli.run(["audit", "verify"])
        #expect(broken.status == Exit.integrity && broken.text.contains("entry 6"))
        #expect(try cli.run(["audit", "export", "-o", cli.path("after.jsonl")]).status == Exit.integrity)
        #expect(!FileManager.default.fileExists(atPath: cli.path("after.jsonl")))
    }

    @Test("gc removes what a re-key left, and nothing a document needs")
    func collect() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("a.txt", Data("alpha\n".utf8))
        try cli.ok(["seal", cli.path("a.txt")])
        try cli.ok(["rotate", "doc", "a.txt"])
        let recent = try #require(try cli.ok(["gc", "--json"]).json() as? [String: Any])
        #expect(recent["objectsRemoved"] as? Int == 0 && recent["objectsKeptRecent"] as? Int == 2)
        let planned = try #require(try cli.ok(["gc", "--grace", "0m", "--plan", "--json"]).json() as? [String: Any])
        #expect(planned["objectsRemoved"] as? Int == 2 && planned["planned"] as? Bool == true)
        #expect(try cli.objectFiles().count == 4)
        try cli.ok(["gc", "--grace", "0m"])
        #expect(try cli.objectFiles().count == 2)
        #expect(try cli.ok(["open", "a.txt", "-o", "-"]).stdout == Data("alpha\n".utf8))
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
        #expect(try cli.run(["gc", "--grace", "soon"]).status == Exit.usage)
    }

    @Test("gc waits for a command still reading the generation a re-key just superseded")
    func gcWaitsForReaders() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let content = pattern(64 << 20, seed: 21)  // 16 segments: most still unread when the reader blocks
        try cli.write("big.bin", content)
        try cli.ok(["seal", cli.path("big.bin")])
        // A reader stuck mid-document: nobody reads its output pipe yet.
        let reader = ChildProcess(), pipe = Pipe()
        reader.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        reader.arguments = ["open", "big.bin", "-o", "-"]
        reader.environment = cli.environment
        reader.standardOutput = pipe
        reader.standardError = FileHandle.nullDevice
        try reader.run()
        usleep(500_000)
        // Meanwhile the document is re-keyed: the generation being read is superseded.
        try cli.ok(["rotate", "doc", "big.bin"])
        let collector = ChildProcess()
        collector.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        collector.arguments = ["gc", "--grace", "0m", "--json"]
        collector.environment = cli.environment
        let report = Pipe()
        collector.standardOutput = report
        collector.standardError = FileHandle.nullDevice
        try collector.run()
        usleep(1_500_000)
        #expect(collector.isRunning, "gc did not wait for the reader")
        // The reader finishes with every byte of the old generation, then gc runs.
        let read = pipe.fileHandleForReading.readDataToEndOfFile()
        reader.waitUntilExit()
        #expect(reader.terminationStatus == Exit.ok && read == content)
        let collected = report.fileHandleForReading.readDataToEndOfFile()
        collector.waitUntilExit()
        #expect(collector.terminationStatus == Exit.ok)
        let json = try #require(try JSONSerialization.jsonObject(with: collected) as? [String: Any])
        #expect((json["objectsRemoved"] as? Int ?? 0) >= 2)  // the old manifest and segments
        #expect(try cli.ok(["open", "big.bin", "-o", "-"]).stdout == content)
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("backup create, list, verify and restore as a script runs them: JSON and exit codes")
    func backup() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        try cli.write("a.txt", Data("alpha\n".utf8))
        try cli.ok(["seal", cli.path("a.txt")])
        let first = try #require(try cli.ok(["backup", "create", cli.path("dest"), "--json"]).json() as? [String: Any])
        #expect(first["objectsCopied"] as? Int == 2)
        let again = try #require(try cli.ok(["backup", "create", cli.path("dest"), "--json"]).json() as? [String: Any])
        #expect(again["objectsCopied"] as? Int == 0)
        #expect((try cli.ok(["backup", "list", cli.path("dest"), "--json"]).json() as? [Any])?.count == 2)
        try cli.ok(["backup", "verify", cli.path("dest")])
        #expect(try cli.run(["backup", "verify", cli.path("dest"), "--deep"]).status == Exit.ok)
        #expect(try cli.run(["backup", "verify", cli.path("a.txt")]).status == Exit.notFound)

        try cli.ok(["backup", "restore", cli.path("dest"), "--to", cli.path("restored")])
        #expect(try cli.run(["verify", "--deep"], environment: ["COFFER_VAULT": cli.path("restored")]).status == Exit.ok)
        // Read-only until adopted: a drill cannot fork the live vault.
        #expect(try cli.run(["open", "a.txt", "-o", "-"], environment: ["COFFER_VAULT": cli.path("restored")]).status == Exit.accessDenied)
        try cli.ok(["backup", "adopt", "--vault", cli.path("restored")])
        #expect(try cli.run(["open", "a.txt", "-o", "-"], environment: ["COFFER_VAULT": cli.path("restored")]).stdout == Data("alpha\n".utf8))
        #expect(try cli.run(["backup", "restore", cli.path("dest"), "--to", cli.path("restored")]).status == Exit.conflict)

        // Backups are in the ledger; prune keeps the newest, and refuses to keep none.
        let logged = try cli.ok(["audit", "log", "--action", "vault.backup", "--json"]).text.split(separator: "\n")
        #expect(logged.count == 2)
        #expect(try cli.run(["backup", "prune", cli.path("dest"), "--keep", "0"]).status == Exit.usage)
        let pruned = try #require(try cli.ok(["backup", "prune", cli.path("dest"), "--keep", "1", "--json"]).json() as? [String: Any])
        #expect((pruned["removed"] as? [String])?.count == 1 && pruned["objectsRemoved"] as? Int == 0)
        #expect((try cli.ok(["backup", "list", cli.path("dest"), "--json"]).json() as? [Any])?.count == 1)
        #expect(try cli.run(["backup", "prune", cli.path("a.txt"), "--keep", "1"]).status == Exit.notFound)

        let object = try #require(try FileManager.default.subpathsOfDirectory(atPath: cli.path("dest/objects")).first { $0.count == 67 })
        try flipByte(in: cli.path("dest/objects/" + object), at: 5)
        let broken = try cli.run(["backup", "verify", cli.path("dest"), "--json"])
        #expect(broken.status == Exit.integrity && broken.text.contains("FINDING") == false && broken.text.contains("findings"))
    }

    @Test("audit document and audit person through the binary: text, JSON, a deleted document by id, exit 6 for an unknown one, exit 5 for an edited ledger")
    func incidentQuestions() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "finance"])
        try cli.ok(["role", "add", "finance", bob.publicIdentity, "--name", "bob"])
        try cli.write("q3.txt", Data("q3\n".utf8))
        try cli.ok(["seal", cli.path("q3.txt")])
        try cli.ok(["share", "q3.txt", "--role", "finance"])
        try cli.ok(["rotate", "role", "finance"])
        #expect(try cli.run(as: bob.file, ["open", "q3.txt", "-o", "-"]).status == Exit.ok)
        try cli.ok(["role", "remove", "finance", "bob"])

        let text = try cli.ok(["audit", "document", "q3.txt"]).text
        #expect(text.contains("document.open") && text.contains("bob") && text.contains("via finance key v2") && text.contains("readers now:"), "\(text)")
        let json = try #require(try cli.ok(["audit", "document", "q3.txt", "--json"]).json() as? [String: Any])
        let id = try #require(json["document"] as? String)
        let person = try #require(try cli.ok(["audit", "person", "bob", "--json"]).json() as? [String: Any])
        let reads = try #require(person["reads"] as? [[String: Any]])
        #expect(reads.count == 1 && reads[0]["document"] as? String == id && reads[0]["keyVersion"] as? Int == 2)
        let periods = try #require(person["memberships"] as? [[String: Any]])
        #expect(periods.contains { $0["role"] as? String == "finance" && $0["ended"] as? String == "removed" })
        #expect(try cli.ok(["audit", "person", "bob"]).text.contains("finance"))
        #expect(try cli.ok(["audit", "person", "bob", "--since", "1d", "--json"]).json() as? [String: Any] != nil)
        #expect(try cli.run(["audit", "person", "bob", "--since", "yesterday"]).status == Exit.usage)
        #expect(try cli.run(["audit", "person", "mallory"]).status == Exit.notFound)
        #expect(try cli.run(["audit", "document", "nothing.txt"]).status == Exit.notFound)

        try cli.ok(["delete", "q3.txt"])
        let deleted = try cli.ok(["audit", "document", id]).text
        #expect(deleted.contains("deleted at") && deleted.contains("document.delete") && !deleted.contains("readers now:"), "\(deleted)")

        let edit = try cli.execute("/usr/bin/env", ["python3", "-c", """
            import sqlite3, sys
            db = sqlite3.connect(sys.argv[1])
            body = bytearray(db.execute("SELECT body FROM ledger WHERE seq = 9").fetchone()[0])
            body[len(body) // 2] ^= 1
            db.execute("UPDATE ledger SET body = ? WHERE seq = 9", (bytes(body),))
            db.commit()
            """, cli.path("vault/catalog.sqlite")])
        #expect(edit.status == 0, "\(edit.stderr)")
        #expect(try cli.run(["audit", "person", "bob"]).status == Exit.integrity)
        #expect(try cli.run(["audit", "document", id]).status == Exit.integrity)
    }
}

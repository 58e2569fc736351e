import CofferTestSupport
import Foundation
import Testing

/// Roles, sharing, rotation and revocation through the real binary, with
/// each person's own identity file.
@Suite("Role commands")
struct RoleCommandTests {
    /// A new vault with `count` one-line documents sealed under `docs/`, and a second person, bob.
    static func vaultWithDocuments(_ count: Int) throws -> (CLIHarness, bob: (file: String, publicIdentity: String)) {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        for i in 0..<count { try cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("docs")])
        return (cli, bob)
    }

    @Test("rotate role finds its documents a page at a time through the saved state's role index, in many batches; a role index missing rows fails once (exit 5) and the rerun finishes")
    func rotationThroughTheIndex() throws {
        let (cli, bob) = try Self.vaultWithDocuments(40)
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        let ids = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]]).compactMap { $0["id"] as? String }
        try cli.write("ids.txt", Data(ids.joined(separator: "\n").utf8))
        try cli.ok(["share", "--documents-from", cli.path("ids.txt"), "--role", "eng"])
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "7"
        let plan = try #require(try cli.ok(["rotate", "role", "eng", "--plan", "--json"]).json() as? [String: Any])
        #expect(((plan["roles"] as? [[String: Any]])?.first?["rewrapped"] as? Int) == 40)
        let rotated = try #require(try cli.ok(["rotate", "role", "eng", "--json"]).json() as? [String: Any])
        #expect(((rotated["roles"] as? [[String: Any]])?.first?["rewrapped"] as? Int) == 40)
        #expect(try cli.run(as: bob.file, ["open", ids[23], "-o", "-"]).status == 0)

        // Someone with write access to the state directory deletes half of the role index.
        let stores = try FileManager.default.subpathsOfDirectory(atPath: cli.path("state")).filter { $0.hasSuffix(".sqlite") }
        #expect(!stores.isEmpty)
        for store in stores {
            let edit = try cli.execute("/usr/bin/env", ["python3", "-c", """
                import sqlite3, sys
                db = sqlite3.connect(sys.argv[1])
                rows = db.execute("SELECT id, role FROM holders ORDER BY id").fetchall()
                for id, role in rows[::2]: db.execute("DELETE FROM holders WHERE id = ? AND role = ?", (id, role))
                db.commit()
                """, cli.path("state/" + store)])
            #expect(edit.status == 0, "\(edit.stderr)")
        }
        let refused = try cli.run(["rotate", "role", "eng"])
        #expect(refused.status == Exit.integrity && refused.stderr.contains("role index"), "\(refused.stderr)")
        try cli.ok(["rotate", "role", "eng"])  // rebuilt from the ledger, and finished
        for id in ids { #expect(try cli.run(as: bob.file, ["open", id, "-o", "-"]).status == 0) }
        #expect(try cli.ok(["verify"]).text.contains("vault is consistent"))
    }

    @Test("share --documents-from: a list on a pipe (CRLF, spaces, tabs, blank lines, a repeat) after arguments, half already shared, one entry per batch; a document the role is not cleared for stops it before any commit; an empty list and one over 64 MiB exit 2; killed and rerun, it finishes; two at once wrap each document once")
    func shareList() throws {
        let (cli, bob) = try Self.vaultWithDocuments(30)
        try cli.write("secret.txt", Data("secret\n".utf8))
        try cli.ok(["seal", cli.path("secret.txt"), "--label", "secret"])
        try cli.ok(["role", "create", "eng", "--clearance", "internal"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        let ids = try #require(try cli.ok(["ls", "docs/", "--json"]).json() as? [[String: Any]]).compactMap { $0["id"] as? String }
        #expect(ids.count == 30)
        // Every third document is shared already.
        let already = stride(from: 0, to: 30, by: 3).map { ids[$0] }
        try cli.ok(["share", "--role", "eng"] + already)

        // A list naming the secret document among the others: refused whole, before any commit.
        let entries = try cli.ok(["audit", "verify", "--json"]).json() as? [String: Any]
        let refused = try cli.run(["share", "--documents-from", "-", "--role", "eng"], stdin: Data((ids + ["secret.txt"]).joined(separator: "\n").utf8))
        #expect(refused.status == Exit.accessDenied && refused.stderr.contains("labelled secret"), "\(refused.stderr)")
        #expect(try cli.ok(["audit", "verify", "--json"]).json() as? [String: Any] as NSDictionary? == entries as NSDictionary?, "nothing appended")

        // The first id as an argument, the rest (and the first again) in a list with every kind of line.
        var list = "\r\n"
        for (index, id) in ids.enumerated().dropFirst() {
            list += index % 4 == 0 ? "  \(id)\t\r\n" : index % 4 == 1 ? "\t\(id)\n\n" : "\(id)\n"
        }
        list += "   \n\(ids[0])"
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "4"
        let report = try #require(try cli.ok(["share", ids[0], "--documents-from", "-", "--role", "eng", "--json"], stdin: Data(list.utf8)).json() as? [String: Any])
        let shared = ids.filter { !already.contains($0) }
        #expect(report["documents"] as? [String] == shared)
        #expect(report["unchanged"] as? [String] == already)
        let batches = try cli.ok(["audit", "log", "--json", "--action", "document.share"]).text.split(separator: "\n").count
        #expect(batches == 1 + (shared.count + 3) / 4, "the first share, then one entry per batch of 4")
        for id in [ids[0], ids[1], ids[29]] { #expect(try cli.run(as: bob.file, ["open", id, "-o", "-"]).status == Exit.ok) }

        // Nothing named, and a list over the limit (on a pipe, read in growing steps).
        #expect(try cli.run(["share", "--documents-from", "-", "--role", "eng"], stdin: Data("\n \n\t\n".utf8)).status == Exit.usage)
        let oversized = try cli.run(["share", "--documents-from", "-", "--role", "eng"], stdin: Data(repeating: UInt8(ascii: "a"), count: (64 << 20) + 1))
        #expect(oversized.status == Exit.usage && oversized.stderr.contains("larger than 64 MiB"), "\(oversized.stderr)")

        // Killed between its batches, then run again: each document is wrapped for the role exactly once.
        try cli.ok(["role", "create", "ops", "--clearance", "internal"])
        try cli.write("list.txt", Data(list.utf8))
        let arguments = ["share", "--documents-from", cli.path("list.txt"), "--role", "ops", "--json"]
        try cli.kill(arguments, within: try cli.duration(of: ["share", ids[0], "--role", "ops"]) * 8)
        let rerun = try #require(try cli.ok(arguments).json() as? [String: Any])
        let wrapped = try cli.ok(["audit", "log", "--json", "--action", "document.share"]).text.split(separator: "\n").count - batches
        #expect(Set((rerun["documents"] as? [String] ?? []) + (rerun["unchanged"] as? [String] ?? [])) == Set(ids))
        // The one-document share timed above, then batches of 4 from wherever the kill left off, which fall on the same boundaries.
        #expect(wrapped == 1 + (ids.count - 1 + 3) / 4, "\(wrapped) entries")

        // Two shares of the same list at once: both succeed, and each document is reported wrapped by
        // exactly one of them (a batch committed before the other made it plan again included).
        try cli.ok(["role", "create", "qa", "--clearance", "internal"])
        let both = try (0..<2).map { index -> ChildProcess in
            let output = cli.path("qa-\(index).json")
            #expect(FileManager.default.createFile(atPath: output, contents: nil))
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: CLIHarness.binary)
            process.arguments = ["share", "--documents-from", cli.path("list.txt"), "--role", "qa", "--json"]
            process.environment = cli.environment
            process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: output))
            process.standardError = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in both {
            process.waitUntilExit()
            #expect(process.terminationReason == .exit && process.terminationStatus == Exit.ok)
        }
        let wrappedByEach = try (0..<2).map { index in
            let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: cli.path("qa-\(index).json")))) as? [String: Any])
            return Set(report["documents"] as? [String] ?? [])
        }
        #expect(wrappedByEach[0].isDisjoint(with: wrappedByEach[1]) && wrappedByEach[0].union(wrappedByEach[1]) == Set(ids), "\(wrappedByEach)")
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    @Test("create, add, share, access, remove: JSON reports and exit codes")
    func roleLifecycle() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.write("plan.txt", Data("the plan\n".utf8))
        try cli.ok(["seal", cli.path("plan.txt"), "--label", "confidential"])

        let created = try #require(try cli.ok(["role", "create", "eng", "--clearance", "confidential", "--json"]).json() as? [String: Any])
        #expect(created["keyVersion"] as? Int == 1 && created["clearance"] as? String == "confidential")
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        #expect(try cli.run(["role", "add", "eng", bob.publicIdentity]).status == Exit.conflict)
        #expect(try cli.run(as: bob.file, ["open", "plan.txt", "-o", "-"]).status == Exit.notFound)
        try cli.ok(["share", "plan.txt", "--role", "eng"])
        #expect(try cli.run(as: bob.file, ["open", "plan.txt", "-o", "-"]).stdout == Data("the plan\n".utf8))

        let access = try #require(try cli.ok(["access", "plan.txt", "--json"]).json() as? [String: Any])
        let readers = try #require(access["readers"] as? [[String: Any]])
        #expect(Set(readers.compactMap { ($0["member"] as? [String: Any])?["name"] as? String }) == ["alice", "bob"])
        // Text for people: the owner's personal role by name, not by fingerprint.
        let text = try cli.ok(["access", "plan.txt"]).text
        let ownerFingerprint = try #require((access["owner"] as? [String: Any])?["fingerprint"] as? String)
        #expect(text.contains("via @alice, admin") && !text.contains("@" + ownerFingerprint), "\(text)")
        let planID = try #require(access["document"] as? String)
        #expect(try cli.ok(["audit", "log", "--action", "document.share"]).text.contains("document.share  \(planID)"))
        let shown = try #require(try cli.ok(["role", "show", "eng", "--json"]).json() as? [String: Any])
        #expect(shown["documents"] as? Int == 1 && (shown["members"] as? [Any])?.count == 1)
        let listed = try #require(try cli.ok(["role", "list", "--json"]).json() as? [[String: Any]])
        #expect(listed.compactMap { $0["name"] as? String } == ["admin", "eng"])

        // Non-administrators change nothing; unknown roles are not found.
        #expect(try cli.run(as: bob.file, ["role", "create", "x"]).status == Exit.accessDenied)
        #expect(try cli.run(["role", "show", "nope"]).status == Exit.notFound)
        try cli.write("secret.txt", Data("s".utf8))
        try cli.ok(["seal", cli.path("secret.txt"), "--label", "secret"])
        #expect(try cli.run(["share", "secret.txt", "--role", "eng"]).status == Exit.accessDenied)

        let planned = try #require(try cli.ok(["role", "remove", "eng", "bob", "--plan", "--json"]).json() as? [String: Any])
        #expect(planned["planned"] as? Bool == true)
        // The plan for people names bob, and a revocation plan his personal role as @bob.
        let bobFingerprint = try #require((planned["removed"] as? [[String: Any]])?.first?["member"] as? String)
        #expect(try cli.ok(["role", "remove", "eng", "bob", "--plan"]).text.contains("would remove bob (\(bobFingerprint)) from eng"))
        let revokePlan = try cli.ok(["revoke", "bob", "--plan"]).text
        #expect(revokePlan.contains("from @bob") && revokePlan.contains("role @bob:") && !revokePlan.contains("@" + bobFingerprint), "\(revokePlan)")
        #expect(try cli.ok(["role", "list", "--all"]).text.contains("@bob "))
        #expect(try cli.run(as: bob.file, ["open", "plan.txt", "-o", "-"]).status == Exit.ok)
        let removed = try #require(try cli.ok(["role", "remove", "eng", "bob", "--json"]).json() as? [String: Any])
        let rotation = try #require((removed["roles"] as? [[String: Any]])?.first)
        #expect(rotation["keyVersion"] as? Int == 2 && rotation["rewrapped"] as? Int == 1 && rotation["retired"] as? [Int] == [1])
        #expect(try cli.run(as: bob.file, ["open", "plan.txt", "-o", "-"]).status == Exit.notFound)
        #expect(try cli.run(["admin", "remove", "alice"]).status == Exit.usage)  // never oneself
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("after revoke, the revoked identity opens nothing sealed before or after, even its own")
    func revokeEndToEnd() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob"), carol = try cli.person("carol")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["role", "add", "eng", carol.publicIdentity, "--name", "carol"])
        try cli.write("before.txt", Data("before\n".utf8))
        try cli.ok(["seal", cli.path("before.txt")])
        try cli.ok(["share", "before.txt", "--role", "eng"])
        try cli.write("bobs.txt", Data("bob's own\n".utf8))
        #expect(try cli.run(as: bob.file, ["seal", cli.path("bobs.txt")]).status == Exit.ok)
        #expect(try cli.run(as: bob.file, ["open", "before.txt", "-o", "-"]).status == Exit.ok)

        let revoked = try #require(try cli.ok(["revoke", "bob", "--rekey", "--json"]).json() as? [String: Any])
        #expect((revoked["rekeyed"] as? [Any])?.count == 2)
        try cli.write("after.txt", Data("after\n".utf8))
        try cli.ok(["seal", cli.path("after.txt")])
        try cli.ok(["share", "after.txt", "--role", "eng"])

        for command in [["ls"], ["open", "before.txt", "-o", "-"], ["open", "after.txt", "-o", "-"], ["open", "bobs.txt", "-o", "-"], ["seal", cli.path("after.txt")]] {
            let result = try cli.run(as: bob.file, command)
            #expect(result.status == Exit.accessDenied, "\(command): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        // Everyone still entitled reads on.
        #expect(try cli.run(as: carol.file, ["open", "before.txt", "-o", "-"]).stdout == Data("before\n".utf8))
        #expect(try cli.run(as: carol.file, ["open", "after.txt", "-o", "-"]).stdout == Data("after\n".utf8))
        #expect(try cli.ok(["open", "bobs.txt", "-o", "-"]).stdout == Data("bob's own\n".utf8))
        #expect(try cli.run(["role", "add", "eng", bob.publicIdentity]).status == Exit.conflict)
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("unshare re-keys by default; --no-rekey only removes the wrap")
    func unshare() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        for name in ["a.txt", "b.txt"] {
            try cli.write(name, Data(name.utf8))
            try cli.ok(["seal", cli.path(name)])
            try cli.ok(["share", name, "--role", "eng"])
        }
        let rekeyed = try #require(try cli.ok(["unshare", "a.txt", "--role", "eng", "--json"]).json() as? [String: Any])
        #expect((rekeyed["rekeyed"] as? [Any])?.count == 1)
        let kept = try #require(try cli.ok(["unshare", "b.txt", "--role", "eng", "--no-rekey", "--json"]).json() as? [String: Any])
        #expect((kept["rekeyed"] as? [Any])?.isEmpty == true)
        let access = try #require(try cli.ok(["access", "a.txt", "--json"]).json() as? [String: Any])
        #expect(access["generation"] as? Int == 2)
        for name in ["a.txt", "b.txt"] {
            #expect(try cli.run(as: bob.file, ["open", name, "-o", "-"]).status == Exit.notFound)
            #expect(try cli.ok(["open", name, "-o", "-"]).stdout == Data(name.utf8))
        }
        let rotated = try #require(try cli.ok(["rotate", "doc", "b.txt", "--json"]).json() as? [String: Any])
        #expect((rotated["rekeyed"] as? [Any])?.count == 1)
        #expect(try cli.run(["verify", "--deep"]).status == Exit.ok)
    }

    @Test("role policy, rotate due and rotate --due through the binary: administrators only (exit 4), usage errors (exit 2), nothing due on fresh keys, JSON for scripts")
    func rotationPolicy() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "finance", "--clearance", "secret"])
        try cli.ok(["role", "add", "finance", bob.publicIdentity, "--name", "bob"])
        #expect(try cli.ok(["role", "policy", "finance", "--max-key-age", "90d"]).text.contains("role finance: keys may live 90d"))
        #expect(try cli.ok(["role", "policy", "--label", "trade-secret", "--max-key-age", "30d", "--json"]).json() as? [String: String] == [
            "subject": "label trade-secret", "maxKeyAge": "2592000",
        ])
        #expect(try cli.run(as: bob.file, ["role", "policy", "finance", "--max-key-age", "1d"]).status == Exit.accessDenied)
        #expect(try cli.run(["role", "policy", "finance", "--max-key-age", "soon"]).status == Exit.usage)
        #expect(try cli.run(["role", "policy", "finance", "--label", "secret", "--max-key-age", "1d"]).status == Exit.usage)
        #expect(try cli.run(["role", "policy", "--label", "nosuch", "--max-key-age", "1d"]).status == Exit.usage)
        #expect(try cli.run(["role", "policy", "nosuch", "--max-key-age", "1d"]).status == Exit.notFound)
        #expect(try cli.ok(["audit", "log", "--action", "role.policy"]).text.split(separator: "\n").count == 2)

        #expect((try cli.ok(["rotate", "due", "--json"]).json() as? [Any])?.isEmpty == true)
        #expect(try cli.ok(["rotate", "due"]).text.contains("no role is due"))
        let plan = try #require(try cli.ok(["rotate", "--due", "--plan", "--json"]).json() as? [String: Any])
        #expect(plan["planned"] as? Bool == true && (plan["roles"] as? [Any])?.isEmpty == true)
        try cli.ok(["rotate", "--due"])
        #expect(try cli.ok(["role", "policy", "finance", "--max-key-age", "none"]).text.contains("removed"))
        // The subcommands still take their own options after the group's.
        #expect(try cli.ok(["rotate", "role", "finance", "--plan", "--json"]).json() as? [String: Any] != nil)
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }
}

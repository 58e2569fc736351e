import Foundation
import Testing

/// `coffer delete` through the real binary: who may delete, what a plan
/// shows, what is left afterwards, and deletions that race or are killed.
@Suite("Delete command")
struct DeleteCommandTests {
    @Test("owner and administrator delete, others may not; --plan changes nothing; the deleted document opens for nobody; gc deletes its objects; the ledger names it")
    func deleteEndToEnd() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        for name in ["a", "b", "c"] { try cli.write("drafts/\(name).txt", Data("draft \(name)\n".utf8)) }
        try cli.ok(["seal", cli.path("drafts")])
        try cli.write("keep.txt", Data("keep me\n".utf8))
        try cli.ok(["seal", cli.path("keep.txt")])
        try cli.ok(["share", "keep.txt", "--role", "eng"])
        try cli.write("bobs.txt", Data("bob's own\n".utf8))
        try cli.ok(["seal", cli.path("bobs.txt")])
        #expect(try cli.run(as: bob.file, ["seal", cli.path("bobs.txt"), "--name", "bob/own.txt"]).status == Exit.ok)
        let objectsBefore = try cli.objectFiles().count
        let entriesBefore = try Self.entries(cli)

        // A plan shows what goes and changes nothing.
        let plan = try #require(try cli.ok(["delete", "drafts/", "--plan", "--json"]).json() as? [String: Any])
        let planned = try #require(plan["documents"] as? [[String: Any]])
        #expect(plan["planned"] as? Bool == true && planned.count == 3)
        #expect(planned.allSatisfy { ($0["versions"] as? Int) == 1 && ($0["objects"] as? Int ?? 0) >= 2 && ($0["roles"] as? [String])?.contains("admin") == true })
        #expect(try Self.entries(cli) == entriesBefore && cli.objectFiles().count == objectsBefore)

        // Bob reads keep.txt through eng but owns it not: refused (4); an unknown name: 6.
        let refused = try cli.run(as: bob.file, ["delete", "keep.txt"])
        #expect(refused.status == Exit.accessDenied && refused.stderr.contains("owner or an administrator"), "\(refused.stderr)")
        #expect(try cli.run(as: bob.file, ["delete", "drafts/a.txt"]).status == Exit.notFound)
        #expect(try cli.run(["delete"]).status == Exit.usage)
        #expect(try Self.entries(cli) == entriesBefore)
        // His own: yes.
        let own = try cli.run(as: bob.file, ["delete", "bob/own.txt"])
        #expect(own.status == Exit.ok && own.text.contains("deleted") && own.text.contains("coffer gc"), "\(own.text)")

        // The administrator deletes a folder of alice's documents.
        let ids = planned.compactMap { $0["id"] as? String }
        let deleted = try #require(try cli.ok(["delete", "drafts/", "--json"]).json() as? [String: Any])
        #expect((deleted["documents"] as? [[String: Any]])?.compactMap { $0["id"] as? String }.sorted() == ids.sorted())
        let listed = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
        #expect(Set(listed.compactMap { $0["name"] as? String }) == ["keep.txt", "bobs.txt"])
        for id in ids {
            for person in [cli.environment["COFFER_IDENTITY"]!, bob.file] {
                let opened = try cli.run(as: person, ["open", id, "-o", "-"])
                #expect(opened.status == Exit.notFound && opened.stdout.isEmpty && opened.stderr.contains("was deleted by alice"), "\(opened.stderr)")
            }
            #expect(try cli.run(["access", id]).status == Exit.notFound)
            #expect(try cli.run(["share", id, "--role", "eng"]).status == Exit.notFound)
        }
        #expect(try cli.run(["open", "drafts/a.txt", "-o", "-"]).status == Exit.notFound)
        // Again: reported, exit 0, nothing appended.
        let entries = try Self.entries(cli)
        let again = try cli.ok(["delete", ids[0]])
        #expect(again.text.contains("already deleted"), "\(again.text)")
        #expect(try Self.entries(cli) == entries)

        // The ledger says who deleted what; gc deletes the objects; everything else still opens.
        let log = try cli.ok(["audit", "log", "--action", "document.delete"]).text
        #expect(log.contains("3 documents") && log.contains("alice") && log.contains("bob"), "\(log)")
        let collected = try #require(try cli.ok(["gc", "--grace", "0m", "--json"]).json() as? [String: Any])
        #expect((collected["objectsRemoved"] as? Int ?? 0) >= 8, "\(collected)")
        #expect(try cli.objectFiles().count == objectsBefore - (collected["objectsRemoved"] as? Int ?? 0))
        #expect(try cli.run(as: bob.file, ["open", "keep.txt", "-o", "-"]).stdout == Data("keep me\n".utf8))
        #expect(try cli.ok(["open", "bobs.txt", "-o", "-"]).stdout == Data("bob's own\n".utf8))
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
        #expect(try cli.run(["audit", "verify"]).status == Exit.ok)
        // The name is free again: a new document under it, with a new id.
        try cli.ok(["seal", cli.path("drafts/a.txt"), "--name", "drafts/a.txt"])
        let reborn = try #require(try cli.ok(["ls", "drafts/", "--json"]).json() as? [[String: Any]])
        #expect(reborn.count == 1 && !(ids.contains(reborn[0]["id"] as? String ?? "")))
    }

    @Test("two administrators delete the same 40 documents at once: both succeed, each document is deleted by exactly one entry, the rest is untouched")
    func concurrentDeletes() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let carol = try cli.person("carol")
        try cli.ok(["admin", "add", carol.publicIdentity, "--name", "carol"])
        for i in 0..<40 { try cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("docs")])
        try cli.write("keep.txt", Data("keep\n".utf8))
        try cli.ok(["seal", cli.path("keep.txt")])
        let ids = try #require(try cli.ok(["ls", "docs/", "--json"]).json() as? [[String: Any]]).compactMap { $0["id"] as? String }
        try cli.write("ids.txt", Data(ids.joined(separator: "\n").utf8))
        let arguments = ["delete", "--documents-from", cli.path("ids.txt"), "--json"]
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "3"
        let alice = cli.environment["COFFER_IDENTITY"]!
        let both = try [alice, carol.file].map { identity in
            cli.environment["COFFER_IDENTITY"] = identity
            return try cli.start(arguments)
        }
        cli.environment["COFFER_IDENTITY"] = alice
        for process in both {
            process.waitUntilExit()
            #expect(process.terminationStatus == Exit.ok)
        }
        let deletedIDs = try Self.log(cli, action: "document.delete").flatMap { (($0["data"] as? [String: Any])?["documents"] as? [String]) ?? [] }
        #expect(deletedIDs.sorted() == ids.sorted(), "each document deleted exactly once")
        let listed = try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]])
        #expect(listed.compactMap { $0["name"] as? String } == ["keep.txt"])
        #expect(try cli.ok(["open", "keep.txt", "-o", "-"]).stdout == Data("keep\n".utf8))
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    @Test("hold and release through the binary: a held document is not deleted (exit 7), administrators only (exit 4), the reason shown only with --details; a hold racing a delete never leaves a document both held and deleted")
    func legalHold() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        for i in 0..<3 { try cli.write("contracts/c\(i).txt", Data("contract \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("contracts")])
        try cli.ok(["share", "contracts/c0.txt", "--role", "eng"])
        #expect(try cli.run(as: bob.file, ["hold", "contracts/c0.txt", "--reason", "x"]).status == Exit.accessDenied)
        #expect(try cli.run(["hold", "contracts/c0.txt"]).status == Exit.usage)  // a reason is required

        let placed = try #require(try cli.ok(["hold", "contracts/", "--reason", "Acme v. Us, case 26-1187", "--json"]).json() as? [String: Any])
        let hold = try #require(((placed["holds"] as? [[String: Any]])?.first)?["hold"] as? String)
        let refused = try cli.run(["delete", "contracts/c1.txt"])
        #expect(refused.status == Exit.conflict && refused.stderr.contains("legal hold \(hold)"), "\(refused.stderr)")
        #expect(try cli.ok(["audit", "log", "--action", "document.hold"]).text.contains("(sealed details)"))
        #expect(try cli.ok(["audit", "log", "--action", "document.hold", "--details"]).text.contains("reason: Acme v. Us, case 26-1187"))
        #expect(try cli.run(["release", "contracts/c1.txt", "--hold", "0123456789abcdef0123456789abcdef"]).status == Exit.notFound)
        #expect(try cli.run(as: bob.file, ["release", "contracts/c0.txt"]).status == Exit.accessDenied)
        let released = try cli.ok(["release", "contracts/c1.txt", "--hold", hold]).text
        #expect(released.contains("hold \(hold): released 1 document"), "\(released)")
        try cli.ok(["delete", "contracts/c1.txt"])
        #expect(try cli.run(["delete", "contracts/c2.txt"]).status == Exit.conflict)
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))

        // A hold and a delete of the same 30 documents at once: each ends deleted or held, never both, never neither.
        for i in 0..<30 { try cli.write("race/r\(i).txt", Data("race \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("race")])
        let raceIDs = Set(try Self.listed(cli).filter { $0.name.hasPrefix("race/") }.map(\.id))
        #expect(raceIDs.count == 30)
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "2"
        let racers = [try cli.start(["delete", "race/"]), try cli.start(["hold", "race/", "--reason", "race"])]
        for racer in racers { racer.waitUntilExit() }
        let deleted = Set(try Self.log(cli, action: "document.delete").flatMap { (($0["data"] as? [String: Any])?["documents"] as? [String]) ?? [] })
        let held = Set(try Self.log(cli, action: "document.hold").flatMap { (($0["data"] as? [String: Any])?["documents"] as? [String]) ?? [] })
        #expect(deleted.intersection(raceIDs).isDisjoint(with: held), "a document both held and deleted")
        #expect(deleted.intersection(raceIDs).union(held.intersection(raceIDs)) == raceIDs, "a document neither held nor deleted")
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }


    @Test("retention set, due and shred, and role retire, through the binary: administrators only, usage errors, nothing due on fresh documents, JSON")
    func retentionAndRetire() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        try cli.ok(["role", "create", "eng"])
        try cli.ok(["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        try cli.write("memo.txt", Data("memo\n".utf8))
        try cli.ok(["seal", cli.path("memo.txt"), "--label", "internal"])
        #expect(try cli.ok(["retention", "set", "--label", "internal", "--period", "7y"]).text.contains("kept 7y"))
        #expect(try cli.run(as: bob.file, ["retention", "set", "--label", "internal", "--period", "1d"]).status == Exit.accessDenied)
        #expect(try cli.run(["retention", "set", "--label", "internal", "--period", "forever"]).status == Exit.usage)
        #expect(try cli.run(["retention", "set", "--label", "nosuch", "--period", "1d"]).status == Exit.usage)
        #expect((try cli.ok(["retention", "due", "--json"]).json() as? [Any])?.isEmpty == true)
        #expect(try cli.ok(["retention", "due"]).text.contains("no document is past"))
        let plan = try #require(try cli.ok(["retention", "shred", "--plan", "--json"]).json() as? [String: Any])
        #expect(((plan["deleted"] as? [String: Any])?["documents"] as? [Any])?.isEmpty == true && (plan["held"] as? [Any])?.isEmpty == true)
        #expect(try cli.run(as: bob.file, ["retention", "shred"]).status == Exit.accessDenied)
        #expect(try cli.ok(["retention", "set", "--label", "internal", "--period", "none"]).text.contains("removed"))
        #expect(try cli.ok(["audit", "log", "--action", "label.retention"]).text.split(separator: "\n").count == 2)

        #expect(try cli.ok(["role", "retire", "eng", "--plan"]).text.contains("no older key version"))
        #expect(try cli.ok(["role", "retire", "eng", "--json"]).json() as? [String: Any] != nil)
        #expect(try cli.run(as: bob.file, ["role", "retire", "eng"]).status == Exit.accessDenied)
        #expect(try cli.run(["role", "retire", "nosuch"]).status == Exit.notFound)
        #expect(try cli.ok(["open", "memo.txt", "-o", "-"]).stdout == Data("memo\n".utf8))
    }

    @Test("SIGKILL during delete: each document is deleted (in the ledger) or listed and opens byte-identical, never both or neither; verify is clean; a rerun finishes")
    func killDuringDelete() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "4"
        for i in 0..<80 { try cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        try cli.ok(["seal", cli.path("docs")])
        let names = Dictionary(uniqueKeysWithValues: try Self.listed(cli).map { ($0.id, $0.name) })
        let span = try cli.duration(of: ["delete", "docs/", "--plan"]) * 2
        var landed = 0
        for round in 0..<5 {
            if try cli.kill(["delete", "docs/"], within: span) { landed += 1 }
            #expect(try cli.run(["verify"]).status == Exit.ok, "round \(round)")
            let listed = Set(try Self.listed(cli).map(\.id))
            let deleted = try Self.log(cli, action: "document.delete").flatMap { (($0["data"] as? [String: Any])?["documents"] as? [String]) ?? [] }
            #expect(Set(deleted).count == deleted.count && listed.isDisjoint(with: deleted), "round \(round)")
            #expect(listed.union(deleted) == Set(names.keys), "round \(round)")
            guard !listed.isEmpty else { continue }
            let restored = cli.path("restored-\(round)")
            try cli.ok(["open", "docs/", "-o", restored])
            for id in listed {
                let name = try #require(names[id])
                let number = name.dropFirst("docs/d".count).dropLast(".txt".count)
                #expect(FileManager.default.contents(atPath: restored + "/" + name.dropFirst("docs/".count)) == Data("document \(number)\n".utf8), "round \(round) \(name)")
            }
        }
        #expect(landed > 0, "no kill landed while delete ran")
        if try !Self.listed(cli).isEmpty { try cli.ok(["delete", "docs/"]) }
        #expect(try Self.listed(cli).isEmpty)
        try cli.ok(["gc", "--grace", "0m"])
        #expect(try cli.objectFiles().isEmpty)
        #expect(try cli.ok(["verify", "--deep"]).text.contains("vault is consistent"))
    }

    /// The documents `ls` lists: ids and names.
    private static func listed(_ cli: CLIHarness) throws -> [(id: String, name: String)] {
        try #require(try cli.ok(["ls", "--json"]).json() as? [[String: Any]]).compactMap { row in
            guard let id = row["id"] as? String, let name = row["name"] as? String else { return nil }
            return (id, name)
        }
    }

    /// How many entries the ledger holds.
    private static func entries(_ cli: CLIHarness) throws -> Int {
        try log(cli).count
    }

    /// The ledger's entries (of `action`), as `audit log --json` prints them: one JSON object per line.
    private static func log(_ cli: CLIHarness, action: String? = nil) throws -> [[String: Any]] {
        let printed = try cli.ok(["audit", "log", "--json"] + (action.map { ["--action", $0] } ?? []))
        return try printed.text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }
}

import Foundation
import Testing

@testable import CofferKit

/// `audit verify`, `audit log`, `audit export` / `check-export`, and `gc`, on real vaults.
@Suite("Audit and garbage collection")
struct AuditTests {
    let fixture: VaultFixture

    init() throws {
        fixture = try VaultFixture()
        try fixture.seal("a.txt", Array("alpha".utf8))
        try fixture.seal("b.txt", Array("beta".utf8))
        _ = try fixture.read("a.txt")
    }

    @Test("audit verify replays everything and names the first bad entry")
    func verify() throws {
        let clean = try Audit.verify(vaultAt: fixture.path)
        #expect(clean.isValid && clean.entries == 9)
        let database = try fixture.database()
        try database.run("UPDATE ledger SET body = CAST(replace(CAST(body AS TEXT), '\"generation\":1', '\"generation\":2') AS BLOB) WHERE seq = 7")
        let edited = try Audit.verify(vaultAt: fixture.path)
        #expect(edited.failure?.sequence == 7 && edited.entries == 7)
        try database.run("DELETE FROM ledger WHERE seq = 7")
        let deleted = try Audit.verify(vaultAt: fixture.path)
        #expect(deleted.failure?.sequence == 8 && deleted.entries == 7)
        #expect(deleted.failure?.reason.contains("does not link") == true)
    }

    @Test("audit log filters by action, document, actor and time")
    func log() throws {
        let a = try fixture.open().resolve("a.txt").id
        func actions(_ filter: AuditFilter) throws -> [String] {
            var seen: [String] = []
            try Audit.log(vaultAt: fixture.path, filter: filter) { seen.append($0.entry.contents.event.action) }
            return seen
        }
        var filter = AuditFilter()
        #expect(try actions(filter).count == 9)
        filter.action = "document"
        #expect(try actions(filter) == ["document.seal", "document.seal", "document.open"])
        filter.document = a
        #expect(try actions(filter) == ["document.seal", "document.open"])
        filter = AuditFilter()
        filter.actor = "owner"
        #expect(try actions(filter).count == 9)
        filter.actor = "nobody"
        #expect(try actions(filter).isEmpty)
        filter = AuditFilter()
        filter.since = Date().addingTimeInterval(3600)
        #expect(try actions(filter).isEmpty)
        filter.since = nil
        filter.until = Date().addingTimeInterval(-3600)
        #expect(try actions(filter).isEmpty)
        var line = ""
        try Audit.log(vaultAt: fixture.path, filter: AuditFilter()) { if line.isEmpty { line = try $0.jsonLine() } }
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["action"] as? String == "vault.create" && object["actorName"] as? String == "owner" && object["hash"] is String)
    }

    @Test("an export checks with no vault; any change to it is caught")
    func export() throws {
        let file = fixture.scratch.join("audit.jsonl")
        let exported = try AuditExport.write(vaultAt: fixture.path, to: .file(path: file, overwrite: false), signer: fixture.owner)
        let checked = try AuditExport.check(file)
        #expect(checked.isValid && checked == exported)
        #expect(throws: IdentityError.self) {
            try AuditExport.write(vaultAt: fixture.path, to: .file(path: fixture.scratch.join("x.jsonl"), overwrite: false), signer: Identity.generate(name: "outsider"))
        }
        // Checked without the vault: remove it.
        try FileManager.default.removeItem(atPath: fixture.path)
        #expect(try AuditExport.check(file).isValid)

        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n").map(String.init)
        func check(_ changed: [String]) throws -> AuditVerification? {
            let path = fixture.scratch.join("changed-\(UUID().uuidString).jsonl")
            try changed.joined(separator: "\n").write(toFile: path, atomically: false, encoding: .utf8)
            return try? AuditExport.check(path)
        }
        // A flipped byte of one entry's body: that entry fails.
        var entry = try #require(try JSONSerialization.jsonObject(with: Data(lines[5].utf8)) as? [String: Any])
        var body = try #require(Data(base64Encoded: entry["body"] as! String))
        body[body.count - 3] ^= 0x01
        entry["body"] = body.base64EncodedString()
        var flipped = lines
        flipped[5] = String(decoding: try JSONSerialization.data(withJSONObject: entry), as: UTF8.self)
        #expect(try check(flipped)?.failure?.sequence == 4)
        // A dropped entry, swapped entries, a dropped last entry, an edited header: all caught.
        var dropped = lines
        dropped.remove(at: 4)
        #expect(try check(dropped)?.failure?.sequence == 4)
        var swapped = lines
        swapped.swapAt(4, 5)
        #expect(try check(swapped)?.failure != nil)
        #expect(try check(Array(lines.dropLast()))?.failure != nil)
        var header = lines
        header[0] = header[0].replacingOccurrences(of: "\"entries\":9", with: "\"entries\":10")
        #expect(try check(header)?.failure != nil)
        #expect(try check([String(lines[0].prefix(40))]) == nil)
        // Shortened with a header rewritten to match: the exporter's signature no longer matches.
        var shortened = Array(lines.dropLast(3)) + [lines.last!]
        shortened[0] = shortened[0].replacingOccurrences(of: "\"entries\":9", with: "\"entries\":7")
            .replacingOccurrences(of: exported.head, with: try #require(try JSONSerialization.jsonObject(with: Data(lines[lines.count - 4].utf8)) as? [String: Any])["hash"] as! String)
        #expect(try check(shortened)?.failure?.reason.contains("signature") == true)
        #expect(try check(Array(lines.dropLast()))?.failure?.reason.contains("not signed") == true)
        // The expected signer, or someone else.
        #expect(try AuditExport.check(file, signer: fixture.owner.fingerprint).isValid)
        #expect(try AuditExport.check(file, signer: Identity.generate(name: "x").fingerprint).isValid == false)
    }

    @Test("gc deletes superseded and orphaned objects past the grace period, and keeps everything referenced")
    func collect() throws {
        let vault = try fixture.open()
        let before = try FileManager.default.subpathsOfDirectory(atPath: Vault.objectsPath(fixture.path)).filter { $0.count == 67 }.count
        _ = try vault.rekey(["a.txt"], plan: false)
        let stray = Vault.objectsPath(fixture.path) + "/00/.coffer-stray.tmp"
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: stray))
        // A name Coffer never writes is never touched.
        let foreign = Vault.objectsPath(fixture.path) + "/00/notes.txt"
        try Data([4]).write(to: URL(fileURLWithPath: foreign))
        // Within the grace period nothing unreferenced goes.
        let kept = try fixture.open().collectGarbage(grace: 3600, plan: false)
        #expect(kept.objectsRemoved == 0 && kept.objectsKeptRecent == 2 && kept.temporaryFilesRemoved == 0)
        let plan = try fixture.open().collectGarbage(grace: 0, plan: true)
        #expect(plan.objectsRemoved == 2 && plan.temporaryFilesRemoved == 1 && FileManager.default.fileExists(atPath: stray))
        let done = try fixture.open().collectGarbage(grace: 0, plan: false)
        #expect(done.objectsRemoved == 2 && done.bytesFreed > 0 && done.objectsReferenced == before)
        #expect(!FileManager.default.fileExists(atPath: stray))
        #expect(FileManager.default.fileExists(atPath: foreign))
        try FileManager.default.removeItem(atPath: foreign)
        #expect(try fixture.read("a.txt") == Array("alpha".utf8) && fixture.read("b.txt") == Array("beta".utf8))
        let report = try fixture.verify(deep: true)
        #expect(report.isClean && report.counts.objectsUnreferenced == 0)
        #expect(try Audit.verify(vaultAt: fixture.path).isValid)
        let bob = Identity.generate(name: "bob")
        try fixture.open().addAdministrator(bob.publicIdentity, name: "bob")
        _ = try fixture.open().removeAdministrator("bob", plan: false)
        #expect(throws: VaultError.self) { try fixture.open(as: bob).collectGarbage(plan: true) }
    }
}

import Foundation
import Testing

@testable import CofferKit

/// `auditDocument` and `auditPerson`: the incident questions, answered from
/// a verified replay of the ledger.
@Suite("Incident questions")
struct IncidentTests {
    /// Alice's vault: bob joins finance, reads q3 under key v1, the role rotates,
    /// he reads it under v2 and exports it, then he is revoked (q3 re-keyed).
    static func history() throws -> (VaultFixture, Identity, DocumentID) {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let q3 = try fixture.seal("q3.txt", Array("numbers".utf8))
        _ = try fixture.seal("other.txt", Array("not his".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "finance", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "finance")
        _ = try vault.share(["q3.txt"], withRole: "finance")
        _ = try fixture.read("q3.txt", as: bob)
        _ = try fixture.open().rotateRole(named: "finance", plan: false)
        _ = try fixture.read("q3.txt", as: bob)
        _ = try fixture.open(as: bob).createBundle(BundleRequest(
            documents: ["q3.txt"], recipients: [bob.publicIdentity.ageRecipient],
            output: .file(path: fixture.scratch.join("q3.bundle"), overwrite: false)))
        _ = try fixture.open().revoke("bob", rekey: true, plan: false)
        return (fixture, bob, q3.id)
    }

    @Test("audit document: every read with the role and key version of the wrap that opened it, the export, the re-key; readers now")
    func documentHistory() throws {
        let (fixture, bob, q3) = try Self.history()
        let audit = try fixture.open().auditDocument("q3.txt")
        #expect(audit.name == "q3.txt" && audit.deleted == nil && audit.owner.fingerprint == fixture.owner.fingerprint)
        let opens = audit.events.filter { $0.action == "document.open" }
        #expect(opens.map(\.at.actor.fingerprint) == [bob.fingerprint, bob.fingerprint])
        #expect(opens.map(\.role) == ["finance", "finance"] && opens.map(\.keyVersion) == [1, 2])
        #expect(audit.events.map(\.action).contains("bundle.create") && audit.events.last?.action == "document.rekey")
        #expect(audit.events.map(\.at.sequence) == audit.events.map(\.at.sequence).sorted())
        #expect(audit.readers.map(\.member.fingerprint) == [fixture.owner.fingerprint])

        // Deleted: named by its full id, with the deletion; nobody reads it now.
        _ = try fixture.open().delete(["q3.txt"], plan: false)
        let deleted = try fixture.open().auditDocument(q3.description)
        #expect(deleted.name == nil && deleted.deleted?.actor.fingerprint == fixture.owner.fingerprint && deleted.readers.isEmpty)
        #expect(deleted.events.last?.action == "document.delete" && deleted.events.filter { $0.action == "document.open" }.count == 2)
        #expect(throws: VaultError.self) { _ = try fixture.open().auditDocument("nothing.txt") }
    }

    @Test("audit person: each role joined and left, reads with role and key version, exports, the revocation; --since narrows reads and exports")
    func personHistory() throws {
        let (fixture, bob, q3) = try Self.history()
        let audit = try fixture.open().auditPerson("bob")
        #expect(audit.member.fingerprint == bob.fingerprint && audit.revoked != nil && audit.readableNow == 0)
        #expect(Set(audit.memberships.map(\.role)) == ["finance", "@" + bob.fingerprint])
        #expect(audit.memberships.allSatisfy { $0.ended == "revoked" && $0.until?.sequence == audit.revoked?.sequence })
        #expect(audit.reads.map(\.document) == [q3, q3] && audit.reads.map(\.keyVersion) == [1, 2] && audit.reads.allSatisfy { $0.role == "finance" })
        #expect(audit.exports.count == 1 && audit.exports[0].documents == [q3] && audit.exports[0].recipients == 1)
        let later = try fixture.open().auditPerson(bob.fingerprint, since: Date().addingTimeInterval(3600))
        #expect(later.reads.isEmpty && later.exports.isEmpty && later.memberships == audit.memberships)
        let alice = try fixture.open().auditPerson("owner")
        #expect(alice.memberships.contains { $0.role == "admin" && $0.until == nil && $0.from.sequence == 0 } && alice.readableNow == 2)
        #expect(throws: VaultError.self) { _ = try fixture.open().auditPerson("mallory") }
    }

    @Test("a ledger edited after the fact fails both questions with the ledger's error, never a partial answer")
    func tamperedLedger() throws {
        let (fixture, _, _) = try Self.history()
        let vault = try fixture.open()
        let row = try fixture.database().query("SELECT body FROM ledger WHERE seq = 8")[0][0].blob!
        var edited = row
        edited[edited.count / 2] ^= 1
        try fixture.database().run("UPDATE ledger SET body = ? WHERE seq = 8", [.blob(edited)])
        #expect(throws: (any Error).self) { _ = try vault.auditPerson("bob") }
        #expect(throws: (any Error).self) { _ = try vault.auditDocument("q3.txt") }
    }
}

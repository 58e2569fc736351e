import Foundation
import Testing

@testable import CofferKit

/// `Vault.delete` and the `document.delete` rules: who may delete, what
/// disappears, and that the ledger refuses anything further on a deleted
/// document, whoever signs it.
@Suite("Delete and legal hold")
struct DeleteTests {
    @Test("owner deletes a shared, re-keyed document: every wrap goes, nothing opens it, gc collects both versions' objects, a replay agrees")
    func ownerDeletes() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let doomed = try fixture.seal("doomed.txt", Array("to be erased".utf8))
        let kept = try fixture.seal("kept.txt", Array("stays".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([doomed.id.description, kept.id.description], withRole: "eng")
        _ = try vault.rekey([doomed.id.description], plan: false)
        let versions = try #require(fixture.open().state.documents[doomed.id]).older + [try #require(fixture.open().state.documents[doomed.id]).current]
        let doomedObjects = versions.flatMap { [$0.manifest] + $0.segments }
        #expect(versions.count == 2)
        #expect(doomedObjects.allSatisfy { FileManager.default.fileExists(atPath: fixture.objectPath($0)) })

        // A member who neither owns it nor administers may not; nothing changes.
        let before = try fixture.open().state.entryCount
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).delete(["doomed.txt"], plan: false) }
        let plan = try fixture.open().delete(["doomed.txt"], plan: true)
        #expect(plan.planned && plan.documents.map(\.id) == [doomed.id] && plan.documents[0].versions == 2)
        #expect(plan.documents[0].objects == Set(doomedObjects).count && plan.documents[0].roles.contains("eng"))
        #expect(try fixture.open().state.entryCount == before)

        let report = try fixture.open().delete(["doomed.txt"], plan: false)
        #expect(!report.planned && report.documents.map(\.id) == [doomed.id] && report.alreadyDeleted.isEmpty)
        let state = try fixture.open().state
        #expect(state.documents[doomed.id] == nil)
        let record = try #require(state.documents.record(doomed.id))
        #expect(record.deletion?.actor == fixture.owner.fingerprint && record.deletion?.sequence == before)
        #expect(record.current.wraps.keys.isEmpty && record.older.count == 1)
        let eng = try #require(state.role(named: "eng"))
        #expect(state.documentCount(of: eng.id) == 1)  // only kept.txt
        #expect(state.documents.values.map(\.id) == [kept.id])

        // Nothing opens it: by name it is unknown, by id the deletion is named.
        #expect(throws: VaultError.documentNotFound("doomed.txt")) { _ = try fixture.read("doomed.txt") }
        do {
            _ = try fixture.read(doomed.id.description, as: bob)
            Issue.record("a deleted document opened")
        } catch let error as VaultError {
            guard case .documentDeleted(let id, _, _, let entry) = error else { throw error }
            #expect(id == doomed.id.description && entry == before)
        }
        #expect(try fixture.open().list().documents.map(\.id) == [kept.id])
        #expect(throws: VaultError.self) { _ = try fixture.open().share([doomed.id.description], withRole: "eng") }
        // Again, by id: reported, not refused, and nothing is appended.
        let again = try fixture.open().delete([doomed.id.description], plan: false)
        #expect(again.documents.isEmpty && again.alreadyDeleted == [doomed.id])
        #expect(try fixture.open().state.entryCount == before + 1)

        // gc deletes both versions' objects and keeps the other document's.
        _ = try fixture.open().collectGarbage(grace: 0, plan: false)
        #expect(doomedObjects.allSatisfy { !FileManager.default.fileExists(atPath: fixture.objectPath($0)) })
        #expect(try fixture.read("kept.txt", as: bob) == Array("stays".utf8))
        let verification = try fixture.verify(deep: true)
        #expect(verification.findings.isEmpty, "\(verification.findings)")

        // A reader replaying from the first entry reaches the same state.
        let replayed = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .withoutRollbackDetection).state
        #expect(replayed.documents.record(doomed.id)?.deletion == record.deletion)
        #expect(replayed.documents.values.map(\.id) == [kept.id])
    }

    @Test("the ledger refuses, whoever signs it: a delete by a non-owner member, a repeated or duplicate delete, and any open, share, re-seal or export of a deleted document")
    func ledgerRules() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let owners = try fixture.seal("owners.txt", Array("o".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([owners.id.description], withRole: "eng")
        let bobs = try Self.sealed(by: bob, fixture, "bobs.txt")
        _ = try fixture.open().delete([bobs.description], plan: false)  // an administrator may delete anyone's
        let state = try fixture.open().state
        let personal = try #require(state.personalRole(of: fixture.owner.fingerprint)).id
        let deleted = try #require(state.documents.record(bobs))

        func refused(_ event: LedgerEvent, by actor: Identity, _ comment: Comment) { Self.expectRefused(event, by: actor, after: state, comment) }
        refused(.documentsDeleted(DocumentsDeleted(documents: [owners.id])), by: bob, "a member deletes a document it can read but does not own")
        refused(.documentsDeleted(DocumentsDeleted(documents: [bobs])), by: fixture.owner, "deleted twice")
        refused(.documentsDeleted(DocumentsDeleted(documents: [])), by: fixture.owner, "nothing named")
        refused(.documentsDeleted(DocumentsDeleted(documents: [owners.id, owners.id])), by: fixture.owner, "the same document twice")
        refused(.documentOpened(DocumentOpened(document: bobs, generation: 1, via: personal)), by: fixture.owner, "an open after the deletion")
        let reseal = DocumentSealed(
            document: bobs, generation: 1, manifest: deleted.current.manifest.description, segments: deleted.current.segments.map(\.description),
            label: deleted.label, commitment: Data(deleted.current.commitment), metadata: Data(deleted.current.metadata), wraps: [], objectHash: "sha256")
        refused(.documentSealed(reseal), by: fixture.owner, "a new document under the deleted one's id")
        var rekey = reseal
        rekey.generation = 2
        refused(.documentRekeyed(rekey), by: fixture.owner, "a re-key of a deleted document")
        let role = try #require(state.role(named: "eng"))
        refused(
            .documentsShared(WrapBatch(role: role.id, version: role.currentVersion, records: PackedWrap.pack([PackedWrap(document: bobs, generation: 1, wrapped: [UInt8](repeating: 1, count: 72))]))),
            by: fixture.owner, "a share of a deleted document")
        refused(
            .bundleCreated(BundleCreated(
                bundle: "b1", recipients: ["age1x"], expires: nil, files: [BundleFileRecord(document: bobs, generation: 1, label: deleted.label)])),
            by: fixture.owner, "an export of a deleted document")
    }

    @Test("a legal hold blocks deletion until released; only administrators hold and release; the reason is sealed for them, also after the admin key rotates; the ledger refuses what the rules forbid")
    func legalHold() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let a = try fixture.seal("a.txt", Array("a".utf8)), b = try fixture.seal("b.txt", Array("b".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["a.txt", "b.txt"], withRole: "eng")
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).hold(["a.txt"], reason: "no") }
        #expect(throws: VaultError.self) { _ = try fixture.open().hold(["a.txt"], reason: "") }

        let reason = "Acme v. Us, case 26-1187"
        let placed = try fixture.open().hold(["a.txt", "b.txt"], reason: reason)
        let hold = try #require(placed.holds.first?.hold)
        #expect(placed.holds.count == 1 && placed.holds[0].documents == [a.id, b.id] && HoldID.isWellFormed(hold))
        do {
            _ = try fixture.open().delete(["a.txt"], plan: false)
            Issue.record("a held document was deleted")
        } catch VaultError.conflict(let message) {
            #expect(message.contains(hold), "\(message)")
        }
        // The reason is not in the ledger in clear; administrators read it, others do not.
        let bodies = try fixture.database().query("SELECT body FROM ledger").compactMap { $0[0].blob }
        #expect(!bodies.contains { String(decoding: $0, as: UTF8.self).contains("Acme") })
        let entry = try #require(try Catalog.open(at: Vault.catalogPath(fixture.path)).ledgerEntries().last)
        #expect(try fixture.open().details(of: entry) == .hold(HoldDetails(reason: reason)))
        #expect(try fixture.open(as: bob).details(of: entry) == nil)
        _ = try fixture.open().rotateRole(named: "admin", plan: false)
        #expect(try fixture.open().details(of: entry) == .hold(HoldDetails(reason: reason)))

        // Forged entries, whoever signs them, are refused.
        let state = try fixture.open().state
        func refused(_ event: LedgerEvent, by actor: Identity, _ comment: Comment) { Self.expectRefused(event, by: actor, after: state, comment) }
        refused(.documentsDeleted(DocumentsDeleted(documents: [a.id])), by: fixture.owner, "a delete of a held document")
        refused(.documentsReleased(DocumentsReleased(hold: hold, documents: [a.id])), by: bob, "a release by a member")
        refused(.documentsReleased(DocumentsReleased(hold: HoldID.random(), documents: [a.id])), by: fixture.owner, "a release of an unknown hold")
        let sealed = try #require(Self.holdDetails(in: entry))
        refused(.documentsHeld(DocumentsHeld(hold: hold, documents: [a.id], details: sealed)), by: fixture.owner, "a hold id used again")
        refused(.documentsHeld(DocumentsHeld(hold: "ABC", documents: [a.id], details: sealed)), by: fixture.owner, "a malformed hold id")
        refused(.documentsHeld(DocumentsHeld(hold: HoldID.random(), documents: [a.id], details: sealed)), by: bob, "a hold by a member")

        // Released from this hold: deletable; the other document stays held until released from every hold.
        let released = try fixture.open().release(["a.txt"], hold: hold)
        #expect(released.holds == [.init(hold: hold, documents: [a.id])])
        _ = try fixture.open().delete(["a.txt"], plan: false)
        _ = try fixture.open().hold(["b.txt"], reason: "second matter")
        let both = try fixture.open().release(["b.txt"], hold: nil)
        #expect(both.holds.count == 2 && both.unchanged.isEmpty)
        #expect(try fixture.open().release(["b.txt"], hold: nil).unchanged == [b.id])
        _ = try fixture.open().delete(["b.txt"], plan: false)
        #expect(try fixture.verify(deep: true).findings.isEmpty)
        let replayed = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .withoutRollbackDetection).state
        #expect(replayed.holds == (try fixture.open().state.holds) && replayed.holds.count == 2)
    }

    /// Expects the ledger to refuse `event`, signed by `actor`, as the next entry after `state`.
    private static func expectRefused(_ event: LedgerEvent, by actor: Identity, after state: VaultState, _ comment: Comment) {
        let entry = try? LedgerEntry.make(event: event, vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: Date(), actor: actor)
        var verifier = LedgerVerifier(state: state)
        #expect(throws: LedgerError.self, comment) { try verifier.append(try #require(entry)) }
    }

    /// The sealed details of a `document.hold` entry.
    private static func holdDetails(in entry: LedgerEntry) -> SealedDetails? {
        if case .documentsHeld(let p) = entry.contents.event { p.details } else { nil }
    }

    @Test("a deleted document's state record round-trips, and its truncations and flips are refused")
    func stateRecord() throws {
        let fixture = try VaultFixture()
        let sealed = try fixture.seal("x.txt", Array("x".utf8))
        _ = try fixture.open().delete(["x.txt"], plan: false)
        let record = try #require(try fixture.open().state.documents.record(sealed.id))
        let bytes = StateCodec.encodeDocument(record)
        var reader = ByteReader(bytes, what: "vault state")
        #expect(try StateCodec.decodeDocument(&reader) == record)
        for length in 0..<bytes.count {
            var truncated = ByteReader(Array(bytes[..<length]), what: "vault state")
            #expect(throws: (any Error).self, "truncated to \(length)") { _ = try StateCodec.decodeDocument(&truncated) }
        }
        var longer = ByteReader(bytes + [0], what: "vault state")
        #expect(throws: (any Error).self) { _ = try StateCodec.decodeDocument(&longer) }
    }

    /// Seals a document as `identity` (a member with a personal role) and returns its id.
    private static func sealed(by identity: Identity, _ fixture: VaultFixture, _ name: String) throws -> DocumentID {
        let input = try fixture.scratch.write("inputs/\(UUID().uuidString)", Array(name.utf8))
        return try fixture.open(as: identity).seal(paths: [input], name: name, label: nil)[0].id
    }
}

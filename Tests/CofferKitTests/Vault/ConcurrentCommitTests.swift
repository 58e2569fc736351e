import Foundation
import Testing

@testable import CofferKit

/// Compare-and-append: a command plans against the state it read, and its
/// commit re-validates that plan against the head it finds in the write
/// transaction. Two open vaults stand in for two processes: the second one's
/// state is stale by construction, which makes each race deterministic.
@Suite("Concurrent commits")
struct ConcurrentCommitTests {
    let fixture: VaultFixture
    let bob = Identity.generate(name: "bob")
    let second = Identity.generate(name: "second admin")

    init() throws {
        fixture = try VaultFixture()
        try fixture.open().addAdministrator(second.publicIdentity, name: "second admin")
    }

    /// The owner's vault, with role `eng` (Bob a member when `withBob`) and
    /// `documents` shared with it.
    func engineering(sharing documents: [DocumentID], withBob: Bool = true) throws -> Vault {
        let admin = try fixture.open()
        try admin.createRole(named: "eng", clearance: "confidential")
        if withBob { try admin.addMember(bob.publicIdentity, name: "bob", toRole: "eng") }
        if !documents.isEmpty { _ = try admin.share(documents.map(\.description), withRole: "eng") }
        return admin
    }

    @Test("a re-key planned before another re-key committed records the generation it sealed, and every document still opens after gc")
    func rekeyAgainstStaleState() throws {
        let contents = (0..<6).map { patternBytes(3_000 + $0 * 700, seed: UInt64($0) + 1) }
        let ids = try contents.enumerated().map { try fixture.seal("doc-\($0.offset)", $0.element).id }
        let stale = try fixture.open(as: second)  // plans from generation 1
        let first = try fixture.open()
        _ = try first.rekey(ids.map(\.description), plan: false)  // generation 2 committed meanwhile
        let report = try stale.rekey(ids.map(\.description), plan: false)
        #expect(report.rekeyed == ids)

        let state = try fixture.open().state
        for id in ids { #expect(state.documents[id]?.currentGeneration == 3) }
        for (id, bytes) in zip(ids, contents) { #expect(try fixture.read(id.description) == bytes) }
        #expect(try fixture.verify(deep: true).isClean)
        _ = try fixture.open().collectGarbage(grace: 0, plan: false)
        for (id, bytes) in zip(ids, contents) { #expect(try fixture.read(id.description) == bytes) }
    }

    @Test("a race in the first of several re-key batches is re-keyed again, not lost when a later batch commits cleanly")
    func rekeyRaceInEarlierBatch() throws {
        let count = Vault.rekeyBatchSize + 3
        let ids = try (0..<count).map { try fixture.seal("doc-\($0)", patternBytes(200 + $0, seed: UInt64($0) + 1)).id }
        let raced = [ids[0], ids[5]]  // both in the first batch
        let stale = try fixture.open(as: second)
        _ = try fixture.open().rekey(raced.map(\.description), plan: false)
        let report = try stale.rekey(ids.map(\.description), plan: false)
        #expect(report.rekeyed == ids)

        let state = try fixture.open().state
        for id in ids { #expect(state.documents[id]?.currentGeneration == (raced.contains(id) ? 3 : 2), "\(id)") }
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a share planned under a role key another administrator has since rotated is planned again, not reported as tampering")
    func shareAfterConcurrentRotation() throws {
        let doc = try fixture.seal("plan.txt", Array("plan".utf8), label: "internal")
        let admin = try engineering(sharing: [])
        let stale = try fixture.open(as: second)  // plans with eng v1
        _ = try admin.rotateRole(named: "eng", plan: false)  // eng v2 committed, v1 retired
        let report = try stale.share([doc.id.description], withRole: "eng")
        #expect(report.documents == [doc.id])
        #expect(try fixture.open().state.documents[doc.id]?.current.wraps[try #require(fixture.open().state.role(named: "eng")).id]?.roleVersion == 2)
        #expect(try fixture.read(doc.id.description, as: bob) == Array("plan".utf8))
        #expect(try fixture.verify().isClean)
    }

    @Test("a rotation planned before another administrator's rotation of the same role committed finishes under one settled key")
    func rotationRacesRotation() throws {
        let docs = try (0..<5).map { try fixture.seal("d\($0)", [UInt8($0)], label: "internal").id }
        let admin = try engineering(sharing: docs)
        let stale = try fixture.open(as: second)
        _ = try admin.rotateRole(named: "eng", plan: false)
        _ = try stale.rotateRole(named: "eng", plan: false)
        let eng = try #require(try fixture.open().state.role(named: "eng"))
        #expect(eng.versions.keys.sorted() == [eng.currentVersion])
        for doc in docs { #expect(try fixture.read(doc.description, as: bob) == [UInt8(docs.firstIndex(of: doc)!)]) }
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a member whose revocation committed while he was opening a document is told he was revoked (access denied), not tampering")
    func openDuringOwnRevocation() throws {
        let doc = try fixture.seal("plan.txt", Array("plan".utf8), label: "internal")
        let admin = try engineering(sharing: [doc.id])
        let bobs = try fixture.open(as: bob)  // opened before the revocation
        _ = try admin.revoke("bob", rekey: false, plan: false)
        #expect(throws: VaultError.revoked(fingerprint: bob.fingerprint)) {
            try bobs.open(doc.id.description, to: .file(path: fixture.scratch.join("bob-out"), overwrite: false))
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.join("bob-out")))
        #expect(try fixture.verify().isClean)
    }

    @Test("a request the ledger's rules refuse, with no concurrent change, is refused as not permitted")
    func ownRefusalIsNotTampering() throws {
        let admin = try engineering(sharing: [], withBob: false)
        // Sign an entry the rules refuse (a member added without its seal) through the commit path.
        expectFailure(.accessDenied) {
            try admin.commit { _ in [.roleMemberAdded(RoleMemberChange(role: admin.state.role(named: "eng")!.id, member: bob.fingerprint))] }
        }
        #expect(try fixture.verify().isClean)
    }

    @Test("verify reads the ledger and the index tables as one snapshot while rotations commit")
    func verifyDuringRotation() throws {
        let docs = try (0..<40).map { try fixture.seal("d\($0)", [UInt8($0)], label: "internal").id }
        _ = try engineering(sharing: docs, withBob: false)
        let rotator = Shared(try fixture.open())
        let failure = Shared<(any Error)?>(nil)
        let rotations = DispatchGroup()
        DispatchQueue.global().async(group: rotations) {
            do {
                for _ in 0..<12 { _ = try rotator.value.rotateRole(named: "eng", plan: false) }
            } catch {
                failure.value = error
            }
        }
        var reports: [VerificationReport] = []
        while rotations.wait(timeout: .now()) == .timedOut {
            reports.append(try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false))
        }
        #expect(failure.value == nil)
        #expect(reports.count >= 2, "the rotations finished before verify could run twice")
        for report in reports { #expect(report.isClean, "\(report.findings)") }
    }
}

/// A value handed to one other thread, which alone uses it until the
/// handing thread waits for it (a dispatch group orders the accesses).
private final class Shared<Value>: @unchecked Sendable {
    var value: Value

    init(_ value: Value) {
        self.value = value
    }
}

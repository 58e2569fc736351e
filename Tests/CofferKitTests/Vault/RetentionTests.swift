import Foundation
import Testing

@testable import CofferKit

/// Retention periods (`label.retention`, `retentionDue`, `shredDueDocuments`)
/// and the explicit retirement of old role keys (`retireOlderKeys`).
@Suite("Retention and key retirement")
struct RetentionTests {
    @Test("retention: administrators set it per label; due by first seal; shred deletes what no hold keeps and reports the held; the ledger refuses a member's or a bad period")
    func retention() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let old = try fixture.seal("old.txt", Array("old".utf8), label: "internal")
        let held = try fixture.seal("held.txt", Array("held".utf8), label: "internal")
        let secret = try fixture.seal("secret.txt", Array("kept".utf8), label: "secret")
        try fixture.open().createRole(named: "eng", clearance: nil)
        try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let year: TimeInterval = 365 * 86_400
        #expect(throws: VaultError.self) { try fixture.open(as: bob).setRetention(label: "internal", period: year) }
        #expect(throws: VaultError.self) { try fixture.open().setRetention(label: "nosuch", period: year) }
        #expect(throws: VaultError.self) { try fixture.open().setRetention(label: "internal", period: 0) }
        try fixture.open().setRetention(label: "internal", period: year)
        _ = try fixture.open().hold(["held.txt"], reason: "a matter")

        #expect(try fixture.open().retentionDue(at: Date().addingTimeInterval(0.5 * year)).isEmpty)
        let later = Date().addingTimeInterval(2 * year)
        let due = try fixture.open().retentionDue(at: later)
        #expect(due.map(\.id) == [old.id, held.id] && due.map(\.name) == ["old.txt", "held.txt"] && due[1].holds.count == 1)
        #expect(due.allSatisfy { $0.periodDays == 365 && $0.ageDays >= 729 })

        let before = try fixture.open().state.entryCount
        let plan = try fixture.open().shredDueDocuments(at: later, plan: true)
        #expect(plan.deleted.planned && plan.deleted.documents.map(\.id) == [old.id] && plan.held.map(\.id) == [held.id])
        #expect(try fixture.open().state.entryCount == before)
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).shredDueDocuments(at: later, plan: false) }
        let shredded = try fixture.open().shredDueDocuments(at: later, plan: false)
        #expect(shredded.deleted.documents.map(\.id) == [old.id] && shredded.held.map(\.id) == [held.id])
        let state = try fixture.open().state
        #expect(state.documents[old.id] == nil && state.documents[held.id] != nil && state.documents[secret.id] != nil)
        #expect(try fixture.open().retentionDue(at: later).map(\.id) == [held.id])

        // Removed: nothing is due any more.
        try fixture.open().setRetention(label: "internal", period: nil)
        #expect(try fixture.open().retentionDue(at: later).isEmpty)
        for (event, actor) in [
            (LabelRetentionSet(label: "internal", period: 86_400), bob), (LabelRetentionSet(label: "nosuch", period: 86_400), fixture.owner),
            (LabelRetentionSet(label: "internal", period: 0), fixture.owner),
        ] {
            let current = try fixture.open().state
            let entry = try LedgerEntry.make(
                event: .labelRetentionSet(event), vault: current.vaultID, sequence: current.entryCount, previous: current.head, time: Date(), actor: actor)
            var verifier = LedgerVerifier(state: current)
            #expect(throws: LedgerError.self) { try verifier.append(entry) }
        }
        #expect(try fixture.verify(deep: true).findings.isEmpty)
    }

    @Test("role retire: refused (naming documents) while an interrupted rotation left wraps under the old key; after the rewrap it destroys the old versions; the evidence report lists them")
    func retire() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let doc = try fixture.seal("plan.txt", Array("plan".utf8))
        try fixture.open().createRole(named: "eng", clearance: nil)
        try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try fixture.open().share(["plan.txt"], withRole: "eng")
        #expect(try fixture.open().retireOlderKeys(ofRole: "eng", plan: false).retired.isEmpty)
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).retireOlderKeys(ofRole: "eng", plan: true) }

        // A rotation interrupted after its new key: v2 issued, plan.txt still wrapped under v1.
        let vault = try fixture.open()
        let eng = try #require(vault.state.role(named: "eng"))
        try vault.commit(building: { draft in try draft.append(try vault.newKeyEvent(for: draft.state.roles[eng.id]!, in: draft.state)) })
        do {
            _ = try fixture.open().retireOlderKeys(ofRole: "eng", plan: false)
            Issue.record("retired keys that still wrap a document")
        } catch VaultError.conflict(let message) {
            #expect(message.contains(doc.id.description) && message.contains("coffer rotate role eng"), "\(message)")
        }
        _ = try fixture.open().rotateRole(named: "eng", plan: false)  // finishes the rotation: rewraps under v2, retires v1
        let settled = try #require(try fixture.open().state.role(named: "eng"))
        #expect(settled.olderVersions.isEmpty && settled.currentVersion >= 2)
        let report = try fixture.open().evidence(policy: AuditPolicy(since: Date().addingTimeInterval(-86_400)))
        #expect(report.roles.first { $0.role == "eng" }?.retired == Array(1..<settled.currentVersion))
        #expect(try fixture.read("plan.txt", as: bob) == Array("plan".utf8))
    }
}

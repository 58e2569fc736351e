import Foundation
import Testing

@testable import CofferKit

/// Key-age policies (`role.policy`), `rotationsDue` and `rotateDueRoles`.
@Suite("Rotation policy")
struct RotationPolicyTests {
    @Test("role and label policies: administrators only, the smallest applies to each role cleared for the label, due by key age; rotating the due roles makes none due")
    func policies() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        _ = try fixture.seal("plan.txt", Array("plan".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "internal")
        try vault.createRole(named: "ops", clearance: "trade-secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let day: TimeInterval = 86_400
        let now = Date()

        #expect(throws: VaultError.self) { try fixture.open(as: bob).setKeyAgePolicy(role: "eng", label: nil, maxKeyAge: day) }
        #expect(throws: VaultError.self) { try fixture.open().setKeyAgePolicy(role: "eng", label: "internal", maxKeyAge: day) }
        #expect(throws: VaultError.self) { try fixture.open().setKeyAgePolicy(role: nil, label: "nosuch", maxKeyAge: day) }
        #expect(throws: VaultError.self) { try fixture.open().setKeyAgePolicy(role: "eng", label: nil, maxKeyAge: 0) }

        try fixture.open().setKeyAgePolicy(role: "eng", label: nil, maxKeyAge: 10 * day)
        #expect(try fixture.open().rotationsDue(at: now.addingTimeInterval(5 * day)).isEmpty)
        let engDue = try fixture.open().rotationsDue(at: now.addingTimeInterval(11 * day))
        #expect(engDue.map(\.role) == ["eng"] && engDue[0].policy == "role eng" && engDue[0].maxKeyAgeSeconds == Int64(10 * day))

        // A label's policy reaches every role cleared for it: admin, the personal roles, ops; not eng.
        try fixture.open().setKeyAgePolicy(role: nil, label: "trade-secret", maxKeyAge: 3 * day)
        let personal = "@" + fixture.owner.fingerprint, bobs = "@" + bob.fingerprint
        let labelDue = try fixture.open().rotationsDue(at: now.addingTimeInterval(4 * day))
        #expect(labelDue.map(\.role) == ["admin", personal, bobs, "ops"].sorted { ($0 == "admin" ? 0 : 1, $0) < ($1 == "admin" ? 0 : 1, $1) })
        #expect(labelDue.allSatisfy { $0.policy == "label trade-secret" })
        // The smallest limit wins, and says where it comes from.
        try fixture.open().setKeyAgePolicy(role: nil, label: "public", maxKeyAge: day)
        let smallest = try fixture.open().rotationsDue(at: now.addingTimeInterval(2 * day))
        #expect(smallest.count == 5 && smallest.allSatisfy { $0.policy == "label public" && $0.maxKeyAgeSeconds == Int64(day) })

        // Rotating what is due: a plan changes nothing; the rotation leaves every key fresh.
        let before = try fixture.open().state.entryCount
        let plan = try fixture.open().rotateDueRoles(at: now.addingTimeInterval(2 * day), plan: true)
        #expect(plan.planned && plan.roles.map(\.role).first == "admin" && plan.roles.count == 5)
        #expect(try fixture.open().state.entryCount == before)
        let rotated = try fixture.open().rotateDueRoles(at: now.addingTimeInterval(2 * day), plan: false)
        #expect(rotated.roles.count == 5 && rotated.roles.allSatisfy(\.newKey))
        #expect(try fixture.open().rotationsDue(at: Date().addingTimeInterval(0.5 * day)).isEmpty)
        #expect(try fixture.read("plan.txt") == Array("plan".utf8))

        // Removing a policy.
        try fixture.open().setKeyAgePolicy(role: nil, label: "public", maxKeyAge: nil)
        #expect(try fixture.open().state.labelMaxKeyAge == ["trade-secret": Int64(3 * day)])
        #expect(try fixture.verify(deep: true).findings.isEmpty)
        let replayed = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .withoutRollbackDetection).state
        #expect(replayed.labelMaxKeyAge == ["trade-secret": Int64(3 * day)] && replayed.role(named: "eng")?.maxKeyAge == Int64(10 * day))
    }

    @Test("the ledger refuses a policy from a member, for nothing, for both, for an unknown label, or of no or endless age")
    func ledgerRules() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let state = try fixture.open().state
        let eng = try #require(state.role(named: "eng")).id
        let cases: [(RolePolicySet, Identity, Comment)] = [
            (RolePolicySet(role: eng, label: nil, maxKeyAge: 86_400), bob, "a member"),
            (RolePolicySet(role: nil, label: nil, maxKeyAge: 86_400), fixture.owner, "nothing named"),
            (RolePolicySet(role: eng, label: "public", maxKeyAge: 86_400), fixture.owner, "both named"),
            (RolePolicySet(role: nil, label: "nosuch", maxKeyAge: 86_400), fixture.owner, "an unknown label"),
            (RolePolicySet(role: eng, label: nil, maxKeyAge: 0), fixture.owner, "no age"),
            (RolePolicySet(role: eng, label: nil, maxKeyAge: RolePolicySet.longestMaxKeyAge + 1), fixture.owner, "an endless age"),
        ]
        for (policy, actor, comment) in cases {
            let entry = try LedgerEntry.make(
                event: .rolePolicySet(policy), vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: Date(), actor: actor)
            var verifier = LedgerVerifier(state: state)
            #expect(throws: LedgerError.self, comment) { try verifier.append(entry) }
        }
    }
}

import Foundation
import Testing

@testable import CofferKit

/// Roles, sharing, clearance, rotation and revocation through the library,
/// on a real vault; the ledger's rules are also checked against forged entries.
@Suite("Roles and rotation")
struct RoleTests {
    let fixture: VaultFixture
    let bob = Identity.generate(name: "bob")
    let carol = Identity.generate(name: "carol")

    init() throws {
        fixture = try VaultFixture()
    }

    /// Every (role, version) whose current key is sealed to `fingerprint`.
    func sealsHeld(by fingerprint: String, in state: VaultState) -> [String] {
        state.roles.values.flatMap { role in
            role.versions.compactMap { version, key in key.seals[fingerprint] != nil ? "\(role.name) v\(version)" : nil }
        }
    }

    @Test("a member reads what is shared with the role, and nothing after removal")
    func shareAndRemove() throws {
        let doc = try fixture.seal("plan.txt", Array("the plan".utf8), label: "confidential")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([doc.id.description], withRole: "eng")
        #expect(try fixture.read(doc.id.description, as: bob) == Array("the plan".utf8))
        #expect(try vault.access(doc.id.description).readers.map(\.member.name).sorted() == ["bob", "owner"])

        let report = try vault.removeMember("bob", fromRole: "eng", plan: false)
        #expect(report.roles.first?.rewrapped == 1)
        #expect(report.roles.first?.retired == [1])
        let state = try fixture.open().state
        let eng = try #require(state.role(named: "eng"))
        #expect(eng.currentVersion == 2 && eng.versions.keys.sorted() == [2])
        #expect(sealsHeld(by: bob.fingerprint, in: state).filter { $0.hasPrefix("eng") }.isEmpty)
        #expect(throws: VaultError.accessDenied(document: doc.id.description)) { try fixture.read(doc.id.description, as: bob) }
        #expect(try fixture.read(doc.id.description) == Array("the plan".utf8))
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a plan changes nothing")
    func planTouchesNothing() throws {
        try fixture.seal("a", [1])
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let before = vault.state.entryCount
        let plan = try vault.removeMember("bob", fromRole: "eng", plan: true)
        #expect(plan.planned && plan.removed.count == 1 && plan.roles.first?.newKey == true)
        _ = try vault.rotateRole(named: "admin", plan: true)
        _ = try vault.revoke("bob", rekey: true, plan: true)
        #expect(try fixture.open().state.entryCount == before)
        #expect(try fixture.open().state.role(named: "eng")?.members == [bob.fingerprint])
    }

    @Test("sharing respects clearance, and only owners and administrators share")
    func clearance() throws {
        let secret = try fixture.seal("s", [1], label: "secret")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        #expect(throws: VaultError.self) { try vault.share([secret.id.description], withRole: "eng") }
        // Bob, a member but not the owner, may not share the owner's document on.
        try vault.createRole(named: "ops", clearance: "trade-secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "ops")
        _ = try vault.share([secret.id.description], withRole: "ops")
        try vault.createRole(named: "other", clearance: "trade-secret")
        let asBob = try fixture.open(as: bob)
        #expect(throws: VaultError.notPermitted("only document \(secret.id)'s owner or an administrator may share it")) {
            try asBob.share([secret.id.description], withRole: "other")
        }
        #expect(throws: VaultError.notPermitted("only an administrator may create roles")) { try asBob.createRole(named: "x", clearance: nil) }
    }

    @Test("relabelling above a role's clearance takes the role's access away and re-keys")
    func relabel() throws {
        let doc = try fixture.seal("memo", Array("memo".utf8), label: "internal")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([doc.id.description], withRole: "eng")
        let report = try vault.relabel(doc.id.description, to: "secret", rekey: true)
        #expect(report.roles == ["eng"] && report.rekeyed == [doc.id])
        let document = try #require(try fixture.open().state.documents[doc.id])
        #expect(document.label == "secret" && document.currentGeneration == 2)
        #expect(throws: VaultError.accessDenied(document: doc.id.description)) { try fixture.read(doc.id.description, as: bob) }
        #expect(try fixture.read(doc.id.description) == Array("memo".utf8))
    }

    @Test("the label is bound into each wrap: a changed label does not open it")
    func labelBoundIntoWrap() throws {
        let doc = try fixture.seal("x", [7], label: "confidential")
        let vault = try fixture.open()
        let document = vault.state.documents[doc.id]!
        let admin = vault.state.adminRole!
        let wrap = document.current.wraps[admin.id]!
        let key = try #require(try vault.roleKey(admin.id, version: wrap.roleVersion))
        var context = vault.wrapContext(document: document, version: document.current, role: admin.id)
        _ = try DataKey.unwrap(wrap.wrapped, with: key, context: context)
        context.label = "public"
        #expect(throws: CryptoError.self) { try DataKey.unwrap(wrap.wrapped, with: key, context: context) }
    }

    @Test("rotating a role rewraps without touching content, and keeps every reader")
    func rotateRole() throws {
        var ids: [DocumentID] = []
        for i in 0..<5 { ids.append(try fixture.seal("d\(i)", Array("doc \(i)".utf8)).id) }
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(ids.map(\.description), withRole: "eng")
        let objectsBefore = try FileManager.default.subpathsOfDirectory(atPath: Vault.objectsPath(fixture.path)).sorted()
        let report = try vault.rotateRole(named: "eng", plan: false)
        #expect(report.totalRewrapped == 5)
        #expect(try FileManager.default.subpathsOfDirectory(atPath: Vault.objectsPath(fixture.path)).sorted() == objectsBefore)
        for (i, id) in ids.enumerated() { #expect(try fixture.read(id.description, as: bob) == Array("doc \(i)".utf8)) }
        let admin = try vault.rotateRole(named: "admin", plan: false)
        #expect(admin.roles[0].rewrapped == 5 && admin.roles[0].roleKeysRewrapped >= 2)
        #expect(try fixture.read(ids[0].description) == Array("doc 0".utf8))
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a revoked identity holds no current key and opens nothing sealed before or after")
    func revoke() throws {
        let before = try fixture.seal("before", [1], label: "internal")
        let vault = try fixture.open()
        try vault.addAdministrator(carol.publicIdentity, name: "carol")
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([before.id.description], withRole: "eng")
        let bobsOwn = try fixture.open(as: bob).seal(paths: [try fixture.scratch.write("b", [9])], name: "bobs", label: nil)[0]

        let report = try vault.revoke("bob", rekey: true, plan: false)
        #expect(Set(report.removed.map(\.role)) == ["eng", "@" + bob.fingerprint])
        #expect(Set(report.rekeyed) == [before.id, bobsOwn.id])
        let after = try fixture.seal("after", [2], label: "internal")
        _ = try fixture.open().share([after.id.description], withRole: "eng")

        let state = try fixture.open().state
        #expect(sealsHeld(by: bob.fingerprint, in: state).isEmpty)
        #expect(state.roles.values.allSatisfy { !$0.members.contains(bob.fingerprint) && !$0.hasOlderVersions })
        #expect(throws: VaultError.revoked(fingerprint: bob.fingerprint)) { try fixture.open(as: bob) }
        // The administrators still read everything, Bob's own document included.
        for doc in [before, bobsOwn, after] { #expect(try fixture.read(doc.id.description, as: carol).count == 1) }
        #expect(try fixture.verify(deep: true).isClean)
        // Revoking again finishes nothing new and changes nothing.
        #expect(try fixture.open().revoke("bob", rekey: false, plan: false).roles.isEmpty)
    }

    @Test("revoke --rekey after a revocation without it re-keys what the identity could read then, and nothing else")
    func rekeyAfterRevocation() throws {
        let shared = try fixture.seal("shared", [1])
        let rekeyedSince = try fixture.seal("rekeyed-since", [2])
        let unshared = try fixture.seal("unshared", [3])
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([shared.id.description, rekeyedSince.id.description], withRole: "eng")

        let first = try vault.revoke("bob", rekey: false, plan: false)
        #expect(first.rekeyed.isEmpty)
        _ = try fixture.open().rekey([rekeyedSince.id.description], plan: false)
        let sealedAfter = try fixture.seal("sealed-after", [4])
        _ = try fixture.open().share([sealedAfter.id.description], withRole: "eng")
        let generations = { (state: VaultState) in
            [shared, rekeyedSince, unshared, sealedAfter].map { state.documents[$0.id]!.currentGeneration }
        }
        #expect(generations(try fixture.open().state) == [1, 2, 1, 1])

        let plan = try fixture.open().revoke("bob", rekey: true, plan: true)
        #expect(plan.rekeyed == [shared.id])
        #expect(generations(try fixture.open().state) == [1, 2, 1, 1])
        let later = try fixture.open().revoke("bob", rekey: true, plan: false)
        #expect(later.rekeyed == [shared.id])
        #expect(generations(try fixture.open().state) == [2, 2, 1, 1])
        // Nothing is left: a third run re-keys nothing.
        #expect(try fixture.open().revoke("bob", rekey: true, plan: false).rekeyed.isEmpty)
        #expect(try fixture.read("shared") == [1])
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("the last administrator cannot be removed or revoked")
    func lastAdministrator() throws {
        let vault = try fixture.open()
        #expect(throws: VaultError.self) { try vault.removeAdministrator(fixture.owner.fingerprint, plan: false) }
        try vault.addAdministrator(carol.publicIdentity, name: "carol")
        _ = try vault.removeAdministrator("carol", plan: false)
        #expect(try fixture.open().state.admins == [fixture.owner.fingerprint])
        #expect(throws: VaultError.self) { try fixture.open(as: carol).createRole(named: "x", clearance: nil) }
    }

    @Test("removing an administrator rotates every role: it could unwrap them all")
    func adminRemovalRotatesEveryRole() throws {
        let doc = try fixture.seal("d", [5])
        let vault = try fixture.open()
        try vault.addAdministrator(carol.publicIdentity, name: "carol")
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share([doc.id.description], withRole: "eng")
        let before = try fixture.open().state.roles.mapValues(\.currentVersion)
        #expect(throws: VaultError.self) { try fixture.open(as: carol).removeAdministrator("carol", plan: false) }
        let report = try vault.removeAdministrator("carol", plan: false)
        #expect(report.roles.count == before.count && report.roles.allSatisfy(\.newKey))
        let after = try fixture.open().state
        for (id, version) in before { #expect(after.roles[id]?.currentVersion == version + 1 && after.roles[id]?.hasOlderVersions == false) }
        #expect(sealsHeld(by: carol.fingerprint, in: after) == ["@\(carol.fingerprint) v2"])
        #expect(try fixture.read(doc.id.description, as: bob) == [5])
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a document named twice in one re-key is re-keyed once")
    func rekeyDuplicates() throws {
        let doc = try fixture.seal("twice.txt", Array("twice".utf8))
        let report = try fixture.open().rekey([doc.id.description, "twice.txt"], plan: false)
        #expect(report.rekeyed == [doc.id])
        #expect(try fixture.read("twice.txt") == Array("twice".utf8))
        #expect(try fixture.open().state.documents[doc.id]?.currentGeneration == 2)
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("an attacker's raw-SQL membership (a table planted in the catalog) stops every command, is named by verify, and is never sealed a key")
    func forgedMembership() throws {
        let mallory = Identity.generate(name: "mallory")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        let eng = vault.state.role(named: "eng")!
        let db = try fixture.database()
        try db.execute("CREATE TABLE role_members(role TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY(role, member))")
        try db.run("INSERT INTO role_members VALUES (?, ?)", [.text(eng.id.description), .text(mallory.fingerprint)])
        expectFailure(.integrity) { _ = try fixture.open() }
        let findings = try fixture.verify().findings.filter { $0.subject == "schema" }.map(\.message)
        #expect(findings.contains { $0.contains("\"role_members\" on \"role_members\" is not part of Coffer's schema") }, "\(findings)")
        // Restored by an administrator, the vault works on; its ledger never named mallory.
        try db.execute("DROP TABLE role_members")
        let admin = try fixture.open()
        try admin.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try admin.rotateRole(named: "eng", plan: false)
        #expect(sealsHeld(by: mallory.fingerprint, in: try fixture.open().state).isEmpty)
        for entry in try Catalog.open(at: Vault.catalogPath(fixture.path)).ledgerEntries() {
            #expect(!String(decoding: entry.body, as: UTF8.self).contains(mallory.fingerprint))
        }
        #expect(throws: IdentityError.notInVault(fingerprint: mallory.fingerprint)) { try fixture.open(as: mallory) }
    }

    @Test("the ledger refuses forged role entries", arguments: ForgedEntry.allCases)
    func ledgerRules(_ forged: ForgedEntry) throws {
        let doc = try fixture.seal("d", [1], label: "secret")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let eng = vault.state.role(named: "eng")!
        let (actor, event): (Identity, LedgerEvent)
        switch forged {
        case .memberAddedByNonAdmin:
            actor = bob
            event = .roleMemberAdded(RoleMemberChange(role: eng.id, member: carol.fingerprint, seal: nil))
        case .keyNotSealedToEveryMember:
            actor = fixture.owner
            event = .roleKeyIssued(RoleKeyIssued(role: eng.id, version: 2, publicKey: Data(count: 32), seals: [:], adminWrap: Data(count: 73), adminVersion: 1))
        case .shareAboveClearance:
            actor = fixture.owner
            event = .documentsShared(WrapBatch(role: eng.id, version: 1, records: PackedWrap.pack([PackedWrap(document: doc.id, generation: 1, wrapped: [1])])))
        case .retireWhileWrapped:
            actor = fixture.owner
            event = .roleKeysRetired(RoleKeysRetired(role: eng.id, before: 1))
        case .removeLastAdmin:
            actor = fixture.owner
            event = .adminRemoved(MemberChange(member: fixture.owner.fingerprint, seal: nil))
        case .wrapAfterRemovalWithoutNewKey:
            actor = fixture.owner
            try vault.commit { _ in [.roleMemberRemoved(RoleMemberChange(role: eng.id, member: self.bob.fingerprint, seal: nil))] }
            let plain = try fixture.seal("p", [2], label: "public")
            event = .documentsShared(WrapBatch(role: eng.id, version: 1, records: PackedWrap.pack([PackedWrap(document: plain.id, generation: 1, wrapped: [1])])))
        }
        let state = try fixture.open().state
        var verifier = LedgerVerifier(state: state)
        let entry = try LedgerEntry.make(event: event, vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: Date(), actor: actor)
        #expect(throws: LedgerError.self) { try verifier.append(entry) }
    }

    enum ForgedEntry: CaseIterable, Sendable {
        case memberAddedByNonAdmin, keyNotSealedToEveryMember, shareAboveClearance, retireWhileWrapped, removeLastAdmin, wrapAfterRemovalWithoutNewKey
    }
}

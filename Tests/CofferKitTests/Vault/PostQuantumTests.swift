import Foundation
import Testing

@testable import CofferKit

/// Issue 14, the post-quantum envelope: role keys sealed to members with
/// X-Wing (HPKE), data keys wrapped to a role's X-Wing key, identities that
/// publish their X-Wing key, and the ledger rules that keep a known X-Wing
/// key from being bypassed. Real vaults on disk; forged entries for the rules.
@Suite("Post-quantum envelope")
struct PostQuantumTests {
    let fixture: VaultFixture
    let bob = Identity.generate(name: "bob")
    let carol = Identity.generate(name: "carol")

    init() throws {
        fixture = try VaultFixture()
    }

    /// `identity`'s public identity as Coffer printed it before X-Wing keys (version 1).
    static func classic(_ identity: Identity) throws -> PublicIdentity {
        try PublicIdentity(identity.publicIdentity.classicDescription)
    }

    /// The actions of the vault's ledger with their actors, in order.
    func actions() throws -> [(action: String, actor: String)] {
        try Catalog.open(at: Vault.catalogPath(fixture.path)).ledgerEntries().map { ($0.contents.event.action, $0.contents.actor) }
    }

    /// Signs `event` as `actor` on top of the current ledger and applies it to a copy of the state.
    func apply(_ event: LedgerEvent, as actor: Identity) throws {
        let state = try fixture.open().state
        var verifier = LedgerVerifier(state: state)
        try verifier.append(try LedgerEntry.make(event: event, vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: Date(), actor: actor))
    }

    @Test("public identities: version 2 carries the X-Wing key under a binding signature, version 1 still parses to the same fingerprint")
    func publicIdentityVersions() throws {
        let alice = fixture.owner.publicIdentity
        let text = alice.description
        #expect(text.count == 2165 && text.hasPrefix("coffer1"))
        let parsed = try PublicIdentity(text)
        #expect(parsed == alice && parsed.postQuantum?.key.count == XWing.publicKeyByteCount)
        let old = try Self.classic(fixture.owner)
        #expect(alice.classicDescription.count == 117 && old.postQuantum == nil && old.fingerprint == alice.fingerprint && old.description == alice.classicDescription)

        // Another identity's X-Wing key and binding spliced in: the binding does not verify for these keys.
        let other = bob.publicIdentity
        let spliced = PublicIdentity(signingKey: alice.signingKey, agreementKey: alice.agreementKey, postQuantum: other.postQuantum)
        #expect(throws: IdentityError.self) { try PublicIdentity(spliced.description) }
        // A binding signature that is not over this X-Wing key.
        var binding = alice.postQuantum!.binding
        binding[10] ^= 1
        let forged = PublicIdentity(
            signingKey: alice.signingKey, agreementKey: alice.agreementKey, postQuantum: .init(key: alice.postQuantum!.key, binding: binding))
        #expect(throws: IdentityError.self) { try PublicIdentity(forged.description) }
        #expect(!XWing.isPublicKey(Array(alice.postQuantum!.key.dropLast())) && XWing.isPublicKey(alice.postQuantum!.key))
    }

    @Test("a new vault is post-quantum throughout: every role key version has an X-Wing key and is sealed with X-Wing to every member")
    func newVaultIsPostQuantum() throws {
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        try vault.addAdministrator(carol.publicIdentity, name: "carol")
        let state = try fixture.open().state
        for role in state.roles.values {
            for (number, version) in role.versions {
                #expect(version.postQuantumKey?.count == XWing.publicKeyByteCount, "\(role.name) v\(number)")
                for (member, seal) in version.seals {
                    #expect(seal.count == RoleKeySeal.postQuantumByteCount && seal.first == 2, "\(role.name) v\(number) to \(member)")
                }
                #expect(!version.isClassicOnly)
            }
        }
        #expect(Audit.classicOnlyKeys(in: state).isEmpty)
        #expect(try Audit.report(vaultAt: fixture.path, policy: AuditPolicy(since: .distantPast)).classicOnlyKeys.isEmpty)
    }

    @Test("a member who does not hold admin's key wraps data keys to admin's X-Wing key (form 0x03), which administrators open")
    func wrapToPostQuantumKey() throws {
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let input = try fixture.scratch.write("bob.txt", Array("bob's notes".utf8))
        let sealed = try fixture.open(as: bob).seal(paths: [input], name: "notes.txt")[0]
        let state = try fixture.open().state
        let document = try #require(state.documents[sealed.id])
        let adminRole = try #require(state.adminRole)
        let adminWrap = try #require(document.current.wraps[adminRole.id])
        #expect(adminWrap.wrapped.first == KeyWrap.Form.toPostQuantumKey.rawValue && adminWrap.wrapped.count == 1 + XWing.overhead + 32)
        #expect(try fixture.read(sealed.id.description) == Array("bob's notes".utf8))
        // A sealed-details entry (a bundle or backup) is wrapped for admin the same way.
        let details = try DetailsKey.seal(["note": "x"], context: DetailsContext(vaultID: state.vaultID, action: "bundle.create", subject: "b"), admin: state.adminRole!)
        #expect(details.key.first == KeyWrap.Form.toPostQuantumKey.rawValue)
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("an identity added by its version-1 string is sealed classically, publishes its X-Wing key with its first commit (once), and the next rotation seals to it post-quantum")
    func classicMemberMovesOver() throws {
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(try Self.classic(bob), name: "bob", toRole: "eng")
        var state = try fixture.open().state
        let eng = try #require(state.role(named: "eng"))
        #expect(state.roles[eng.id]!.versions[1]!.seals[bob.fingerprint]?.count == RoleKeySeal.classicByteCount)
        #expect(Audit.classicOnlyKeys(in: state).map(\.role).sorted() == ["@" + bob.fingerprint, "eng"])
        #expect(Audit.classicOnlyKeys(in: state).allSatisfy { $0.withoutKnownPostQuantumKey == [bob.fingerprint] && !$0.withoutPostQuantumKey })

        // Rotating now changes nothing for bob: his X-Wing key is still unknown.
        _ = try vault.rotateClassicOnlyRoles(plan: false)
        #expect(Audit.classicOnlyKeys(in: try fixture.open().state).count == 2)

        // Two of bob's processes commit one after the other from the same planned state: one identity.publish.
        let first = try fixture.open(as: bob)
        let second = try fixture.open(as: bob)
        _ = try first.seal(paths: [try fixture.scratch.write("a", [1])], name: "a")
        _ = try second.seal(paths: [try fixture.scratch.write("b", [2])], name: "b")
        let published = try actions().filter { $0.action == "identity.publish" }
        #expect(published.count == 1 && published.first?.actor == bob.fingerprint)
        state = try fixture.open().state
        #expect(state.identities[bob.fingerprint]?.identity == bob.publicIdentity)

        let report = try fixture.open().rotateClassicOnlyRoles(plan: false)
        #expect(report.roles.map(\.role).sorted() == ["@" + bob.fingerprint, "eng"])
        state = try fixture.open().state
        #expect(Audit.classicOnlyKeys(in: state).isEmpty)
        #expect(state.role(named: "eng")!.versions.values.allSatisfy { RoleKeySeal.isPostQuantum($0.seals[bob.fingerprint]!) })
        #expect(try fixture.read("a", as: bob) == [1])
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("an administrator given the version-2 string of a known classic identity publishes its X-Wing key")
    func administratorPublishes() throws {
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.createRole(named: "ops", clearance: "secret")
        try vault.addMember(try Self.classic(bob), name: "bob", toRole: "eng")
        try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "ops")
        let state = try fixture.open().state
        #expect(state.identities[bob.fingerprint]?.identity.postQuantum != nil)
        #expect(RoleKeySeal.isPostQuantum(state.role(named: "ops")!.versions[1]!.seals[bob.fingerprint]!))
        #expect(try actions().filter { $0.action == "identity.publish" }.map(\.actor) == [fixture.owner.fingerprint])
    }

    @Test("the ledger refuses what would bypass a known X-Wing key", arguments: ForgedEntry.allCases)
    func ledgerRules(_ forged: ForgedEntry) throws {
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        try vault.addMember(try Self.classic(carol), name: "carol", toRole: "eng")
        let state = try fixture.open().state
        let eng = try #require(state.role(named: "eng"))
        let key = RoleKey.generate()
        let adminKey = try #require(try vault.roleKey(state.adminRole!.id, version: 1))
        var issued = try key.issued(
            as: 2, of: eng.id, sealedTo: [bob.publicIdentity, try Self.classic(carol)], vault: state.vaultID, admin: (adminKey, 1))
        let (actor, event): (Identity, LedgerEvent)
        switch forged {
        case .classicSealToPostQuantumMember:
            actor = fixture.owner
            issued.seals[bob.fingerprint] = try key.sealed(to: try Self.classic(bob), role: eng.id, version: 2, vault: state.vaultID)
            event = .roleKeyIssued(issued)
        case .postQuantumSealToClassicMember:
            actor = fixture.owner
            issued.seals[carol.fingerprint] = try key.sealed(to: carol.publicIdentity, role: eng.id, version: 2, vault: state.vaultID)
            event = .roleKeyIssued(issued)
        case .malformedRolePostQuantumKey:
            actor = fixture.owner
            issued.postQuantumKey = Data(repeating: 0xFF, count: XWing.publicKeyByteCount - 1)
            event = .roleKeyIssued(issued)
        case .classicSealOnJoin:
            actor = fixture.owner
            try vault.createRole(named: "ops", clearance: "secret")
            let ops = try fixture.open().state.role(named: "ops")!
            let opsKey = try #require(try fixture.open().roleKey(ops.id, version: 1))
            event = .roleMemberAdded(RoleMemberChange(
                role: ops.id, member: bob.fingerprint, seal: try opsKey.sealed(to: try Self.classic(bob), role: ops.id, version: 1, vault: state.vaultID)))
        case .publishedByAnotherMember:
            actor = bob
            event = .identityPublished(IdentityPublished(identity: carol.publicIdentity.description))
        case .publishedTwice:
            actor = bob
            event = .identityPublished(IdentityPublished(identity: bob.publicIdentity.description))
        case .publishedForUnknownIdentity:
            actor = fixture.owner
            event = .identityPublished(IdentityPublished(identity: Identity.generate(name: "x").publicIdentity.description))
        case .publishedWithoutPostQuantumKey:
            actor = carol
            event = .identityPublished(IdentityPublished(identity: carol.publicIdentity.classicDescription))
        case .partnerWithMalformedPostQuantumRecipient:
            actor = fixture.owner
            let recipient = try AgeHybridIdentity.generate().recipient().encoded
            event = .partnerAdded(PartnerAdded(name: "initech", recipient: String(recipient.dropLast(1)) + (recipient.last == "q" ? "p" : "q")))
        }
        #expect(throws: LedgerError.self) { try apply(event, as: actor) }
        // The honest version of each is accepted (so the refusal is the rule's, not a malformed test entry).
        if case .roleKeyIssued = event {
            try apply(.roleKeyIssued(try key.issued(
                as: 2, of: eng.id, sealedTo: [bob.publicIdentity, try Self.classic(carol)], vault: state.vaultID, admin: (adminKey, 1))), as: fixture.owner)
        }
        if forged == .publishedByAnotherMember || forged == .publishedWithoutPostQuantumKey {
            try apply(.identityPublished(IdentityPublished(identity: carol.publicIdentity.description)), as: carol)
        }
        if forged == .partnerWithMalformedPostQuantumRecipient {
            try apply(.partnerAdded(PartnerAdded(name: "initech", recipient: try AgeHybridIdentity.generate().recipient().encoded)), as: fixture.owner)
        }
    }

    enum ForgedEntry: CaseIterable, Sendable {
        case classicSealToPostQuantumMember, postQuantumSealToClassicMember, malformedRolePostQuantumKey, classicSealOnJoin
        case publishedByAnotherMember, publishedTwice, publishedForUnknownIdentity, publishedWithoutPostQuantumKey
        case partnerWithMalformedPostQuantumRecipient
    }

    @Test("a post-quantum seal opens only in its place: another role, version or member fails to authenticate; cut or flipped seals are refused")
    func sealContext() throws {
        let vault = VaultID.random()
        let role = RoleID.random()
        let key = RoleKey.generate()
        let seal = Array(try key.sealed(to: bob.publicIdentity, role: role, version: 3, vault: vault))
        let context = RoleSealContext(vaultID: vault, roleID: role, roleVersion: 3, member: bob.fingerprint)
        #expect(try RoleKeySeal.open(seal, by: try bob.localSecrets(for: "test"), associatedData: context.associatedData, what: "seal").constantTimeEquals(key.key.bytes))
        for moved in [
            RoleSealContext(vaultID: vault, roleID: RoleID.random(), roleVersion: 3, member: bob.fingerprint),
            RoleSealContext(vaultID: vault, roleID: role, roleVersion: 4, member: bob.fingerprint),
            RoleSealContext(vaultID: VaultID.random(), roleID: role, roleVersion: 3, member: bob.fingerprint),
            RoleSealContext(vaultID: vault, roleID: role, roleVersion: 3, member: carol.fingerprint),
        ] {
            expectFailure(.integrity) { _ = try RoleKeySeal.open(seal, by: try bob.localSecrets(for: "test"), associatedData: moved.associatedData, what: "seal") }
        }
        expectFailure(.integrity) { _ = try RoleKeySeal.open(seal, by: try carol.localSecrets(for: "test"), associatedData: context.associatedData, what: "seal") }
        for (label, bytes) in Damage.truncations(of: seal) + Damage.bitFlips(of: seal) + Damage.oversized(seal, limit: 4096) {
            expectFailure(.integrity, "\(label)") { _ = try RoleKeySeal.open(bytes, by: try bob.localSecrets(for: "test"), associatedData: context.associatedData, what: "seal") }
        }
    }
}

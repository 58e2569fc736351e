import Foundation
import Testing

@testable import CofferKit

/// The export policy with a second, non-administrator identity: it cannot
/// approve exports, and a forged approval in the ledger is refused on replay.
@Suite("Bundle export policy")
struct BundlePolicyTests {
    /// A vault whose owner (an administrator) has added `bob`, who is not one.
    static func vaultWithBob() throws -> (VaultFixture, Identity) {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let owner = try fixture.open()
        let admin = try #require(owner.state.adminRole)
        let adminKey = try #require(try owner.roleKey(admin.id, version: admin.currentVersion))
        try owner.commit { state in
            [.identityAdded(IdentityAdded(identity: bob.publicIdentity.description, name: "bob"))]
                + (try Vault.personalRoleEvents(
                    for: bob.publicIdentity, state: state, adminKey: adminKey, adminVersion: admin.currentVersion, labels: state.labels))
        }
        return (fixture, bob)
    }

    static func request(_ document: String, approve: Bool, in fixture: VaultFixture) -> BundleRequest {
        var request = BundleRequest(
            documents: [document], recipients: [AgeX25519Identity.generate().recipient.encoded],
            output: .file(path: fixture.scratch.join("bundle-\(UUID().uuidString).age"), overwrite: false))
        request.approve = approve
        return request
    }

    @Test("a member who is not an administrator can neither export above the limit nor approve it")
    func nonAdministrator() throws {
        let (fixture, bob) = try Self.vaultWithBob()
        let input = try fixture.scratch.write("plan.txt", Array("crown jewels".utf8))
        let vault = try fixture.open(as: bob)
        try vault.seal(paths: [input], label: "trade-secret")
        expectFailure(.accessDenied) { try vault.createBundle(Self.request("plan.txt", approve: false, in: fixture)) }
        expectFailure(.accessDenied) { try vault.createBundle(Self.request("plan.txt", approve: true, in: fixture)) }
        // Below the limit, bob may export his own document.
        let memo = try fixture.scratch.write("memo.txt", Array("memo".utf8))
        try vault.seal(paths: [memo], label: "secret")
        let manifest = try vault.createBundle(Self.request("memo.txt", approve: false, in: fixture))
        #expect(manifest.files.map(\.name) == ["memo.txt"])
        // The entry's details are sealed for the administrators: bob cannot trace it, the owner (an administrator) can.
        #expect(try fixture.open(as: bob).traceBundles(sha256: manifest.files[0].sha256).isEmpty)
        #expect(try fixture.open(as: bob).untraceableBundles == 1)
        #expect(try fixture.open().traceBundles(sha256: manifest.files[0].sha256).map(\.name) == ["memo.txt"])
        #expect(try fixture.open().untraceableBundles == 0)
    }

    @Test("a forged approval is refused when the ledger is replayed")
    func forgedApproval() throws {
        let (fixture, bob) = try Self.vaultWithBob()
        let input = try fixture.scratch.write("plan.txt", Array("crown jewels".utf8))
        let vault = try fixture.open(as: bob)
        let document = try vault.seal(paths: [input], label: "trade-secret")[0]
        let before = vault.state.entryCount
        let forged = BundleCreated(
            bundle: "00", recipients: ["someone"], expires: nil, note: nil, approvedBy: fixture.owner.fingerprint,
            files: [BundleFileRecord(document: document.id, generation: 1, name: "plan.txt", size: 12, sha256: String(repeating: "0", count: 64), label: "trade-secret")])
        // The ledger's rules refuse the entry on replay...
        var verifier = LedgerVerifier(state: vault.state)
        let entry = try LedgerEntry.make(
            event: .bundleCreated(forged), vault: vault.state.vaultID, sequence: vault.state.entryCount, previous: vault.state.head,
            time: Date(), actor: bob)
        #expect { try verifier.append(entry) } throws: { error in
            guard case LedgerError.unauthorized = error else { return false }
            return true
        }
        // ...so the commit path refuses to sign and store it (its own entry: not permitted, not tampering).
        expectFailure(.accessDenied) { try vault.commit { _ in [.bundleCreated(forged)] } }
        // Nothing was written; the vault still verifies.
        #expect(try fixture.open().state.entryCount == before)
        #expect(try fixture.verify().isClean)
    }
}

import Foundation
import Testing

@testable import CofferKit

/// The per-identity state checkpoint: opening from it gives exactly the
/// state a full replay gives; a damaged or foreign one is ignored; a vault
/// rolled back behind it is refused.
@Suite("State checkpoints")
struct CheckpointTests {
    let fixture: VaultFixture
    let bob = Identity.generate(name: "bob")

    init() throws {
        fixture = try VaultFixture()
    }

    var heads: HeadStore { HeadStore(directory: fixture.stateDirectory) }

    /// A vault with roles, members, shares, a rotation, a re-key, a partner and a bundle.
    func populate() throws {
        let a = try fixture.seal("a.txt", Array("alpha".utf8), label: "confidential")
        try fixture.seal("b.txt", Array("beta".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["a.txt", "b.txt"], withRole: "eng")
        _ = try vault.rotateRole(named: "eng", plan: false)
        _ = try vault.rekey([a.id.description], plan: false)
        try vault.addPartner(name: "acme", recipient: Identity.generate(name: "p").publicIdentity.ageRecipient, minisignKey: nil)
        _ = try vault.createBundle(BundleRequest(documents: ["b.txt"], recipients: ["acme"], output: .file(path: fixture.scratch.join("b.age"), overwrite: false)))
    }

    /// A full replay, trusting nothing.
    func fullReplay() throws -> VaultState {
        let (descriptor, catalog) = try Vault.openStorage(at: fixture.path)
        return try Vault.replay(catalog: catalog, descriptor: descriptor, trustedThrough: nil)
    }

    func expectSame(_ a: VaultState, _ b: VaultState) {
        #expect(a.entryCount == b.entryCount && a.head == b.head && a.labels == b.labels && a.exportLimit == b.exportLimit)
        #expect(a.identities == b.identities && a.admins == b.admins && a.revoked == b.revoked)
        #expect(a.roles == b.roles && a.documents == b.documents && a.wrapCounts == b.wrapCounts)
        #expect(a.partners == b.partners && a.bundles.map(\.record) == b.bundles.map(\.record))
        #expect(a.adminRole?.id == b.adminRole?.id && a.personalRole(of: bob.fingerprint)?.id == b.personalRole(of: bob.fingerprint)?.id)
    }

    @Test("a checkpoint round-trips the whole state, and opening continues from it")
    func roundTrip() throws {
        try populate()
        let state = try fixture.open().state
        try heads.saveCheckpoint(state, of: fixture.owner)
        expectSame(try #require(heads.checkpoint(of: fixture.owner, vault: state.vaultID)), state)
        // Newer entries are replayed on top of it.
        try fixture.seal("c.txt", Array("gamma".utf8))
        _ = try fixture.open().removeMember("bob", fromRole: "eng", plan: false)
        let reopened = try fixture.open()
        expectSame(reopened.state, try fullReplay())
        #expect(reopened.list().documents.map(\.name) == ["a.txt", "b.txt", "c.txt"])
        #expect(try fixture.read("a.txt") == Array("alpha".utf8))
    }

    @Test("a checkpoint that does not authenticate is ignored: another identity's, or a changed byte")
    func damagedIgnored() throws {
        try populate()
        let state = try fixture.open().state
        try heads.saveCheckpoint(state, of: bob)  // made with another identity's key
        let path = fixture.stateDirectory + "/\(fixture.owner.fingerprint)/\(state.vaultID).state"
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: fixture.stateDirectory + "/\(bob.fingerprint)/\(state.vaultID).state", toPath: path)
        #expect(heads.checkpoint(of: fixture.owner, vault: state.vaultID) == nil)
        try heads.saveCheckpoint(state, of: fixture.owner)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        for offset in [0, 20, bytes.count / 2, bytes.count - 1] {
            bytes[offset] ^= 0x40
            try bytes.write(to: URL(fileURLWithPath: path))
            #expect(heads.checkpoint(of: fixture.owner, vault: state.vaultID) == nil, "flip at \(offset)")
            bytes[offset] ^= 0x40
        }
        try bytes.prefix(bytes.count / 3).write(to: URL(fileURLWithPath: path))
        #expect(heads.checkpoint(of: fixture.owner, vault: state.vaultID) == nil)
        expectSame(try fixture.open().state, try fullReplay())
    }

    @Test("a vault rolled back behind the checkpoint is refused")
    func rollback() throws {
        try fixture.seal("a.txt", [1])
        let copy = fixture.scratch.join("old-copy")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        try fixture.seal("b.txt", [2])
        try heads.saveCheckpoint(try fixture.open().state, of: fixture.owner)
        // Forget the remembered head so that only the checkpoint can notice.
        try FileManager.default.removeItem(atPath: fixture.stateDirectory + "/\(fixture.owner.fingerprint)/\(try fixture.open().state.vaultID).head")
        try FileManager.default.removeItem(atPath: fixture.path)
        try FileManager.default.copyItem(atPath: copy, toPath: fixture.path)
        #expect(throws: LedgerError.self) { try fixture.open() }
    }
}

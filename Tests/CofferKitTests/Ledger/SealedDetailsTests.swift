import Foundation
import Testing

@testable import CofferKit

/// Sealed ledger details: what a bundle or a backup recorded is readable
/// by administrators only, and the ledger still verifies without a key.
@Suite("Sealed details")
struct SealedDetailsTests {
    static let documentName = "merger-plan-7f3a.txt"
    static let content = Array("the terms of the merger\n".utf8)
    static let note = "for counsel only 91c2"
    static let partner = "globex-partner-55e1"

    /// A vault with bob (not an administrator), a partner, one document,
    /// one bundle of it to the partner, and one backup.
    static func exported() throws -> (fixture: VaultFixture, bob: Identity, sha256: String, backup: String) {
        let (fixture, bob) = try BundlePolicyTests.vaultWithBob()
        let vault = try fixture.open()
        try fixture.seal(documentName, content)
        try vault.addPartner(name: partner, recipient: AgeX25519Identity.generate().recipient.encoded, minisignKey: nil)
        var request = BundleRequest(
            documents: [documentName], recipients: [partner],
            output: .file(path: fixture.scratch.join("out.age"), overwrite: false))
        request.note = note
        let manifest = try fixture.open().createBundle(request)
        let backup = fixture.scratch.join("backup-dest-4d9b")
        _ = try fixture.open().backup(to: backup)
        return (fixture, bob, manifest.files[0].sha256, URL(fileURLWithPath: backup).standardizedFileURL.path)
    }

    /// Every ledger body, as a storage reader gets it with SQL.
    static func ledgerBodies(_ fixture: VaultFixture) throws -> [(action: String, body: String)] {
        try fixture.database().query("SELECT body FROM ledger ORDER BY seq").map { row in
            let body = String(decoding: row[0].blob ?? [], as: UTF8.self)
            let action = (try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any])?["action"] as? String ?? ""
            return (action, body)
        }
    }

    @Test("a storage reader finds no document name, plaintext hash, note, partner or backup path in the ledger")
    func storageReader() throws {
        let (fixture, _, sha256, backup) = try Self.exported()
        let bodies = try Self.ledgerBodies(fixture)
        #expect(bodies.contains { $0.action == "bundle.create" } && bodies.contains { $0.action == "vault.backup" })
        for (action, body) in bodies {
            for secret in [Self.documentName, sha256, Self.note, backup, "backup-dest-4d9b"] {
                #expect(!body.contains(secret), "\(action) entry shows \(secret)")
            }
            // The partner's name is in its own partner.add entry, but no entry says a bundle went to it.
            if action != "partner.add" { #expect(!body.contains(Self.partner), "\(action) entry shows the partner") }
        }
        // Keyless verification still replays every entry.
        let verification = try Audit.verify(vaultAt: fixture.path)
        #expect(verification.isValid && verification.entries == Int64(bodies.count))
        #expect(try fixture.verify().isClean)
    }

    @Test("an administrator reads the details and traces the bundle; a member who is not one cannot")
    func whoReads() throws {
        let (fixture, bob, sha256, backup) = try Self.exported()
        let admin = try fixture.open()
        let traced = try admin.traceBundles(sha256: sha256)
        #expect(traced.map(\.name) == [Self.documentName] && traced.first?.recipients == [Self.partner])
        let entries = try admin.catalog.ledgerEntries()
        let bundleEntry = try #require(entries.first { $0.contents.event.action == "bundle.create" })
        let backupEntry = try #require(entries.first { $0.contents.event.action == "vault.backup" })
        guard case .bundle(let details) = try admin.details(of: bundleEntry) else { Issue.record("no bundle details"); return }
        #expect(details.note == Self.note && details.recipients == [Self.partner])
        #expect(details.files == [BundleManifest.File(name: Self.documentName, size: UInt64(Self.content.count), sha256: sha256)])
        #expect(try admin.details(of: backupEntry) == .backup(BackupDetails(destination: backup)))
        let member = try fixture.open(as: bob)
        #expect(try member.details(of: bundleEntry) == nil)
        #expect(try member.details(of: backupEntry) == nil)
        #expect(try member.traceBundles(sha256: sha256).isEmpty)
        #expect(member.untraceableBundles == 1)
    }

    @Test("after the admin role rotates, the details keys are rewrapped, old admin keys retire, and details still open")
    func adminRotation() throws {
        let (fixture, _, sha256, backup) = try Self.exported()
        _ = try fixture.open().rotateRole(named: "admin", plan: false)
        let vault = try fixture.open()
        let admin = try #require(vault.state.adminRole)
        #expect(admin.currentVersion == 2 && admin.olderVersions.isEmpty)
        #expect(vault.state.detailsKeys.values.allSatisfy { $0.adminVersion == 2 } && vault.state.detailsKeys.count == 2)
        #expect(try vault.traceBundles(sha256: sha256).map(\.name) == [Self.documentName])
        let entries = try vault.catalog.ledgerEntries()
        let backupEntry = try #require(entries.first { $0.contents.event.action == "vault.backup" })
        #expect(try vault.details(of: backupEntry) == .backup(BackupDetails(destination: backup)))
        // The rewrap is in an admin.rewrap entry, and the ledger verifies without a key.
        #expect(entries.contains { if case .adminRewrapped(let p) = $0.contents.event { (p.details ?? []).count == 2 } else { false } })
        #expect(try Audit.verify(vaultAt: fixture.path).isValid)
        // A fresh replay (no checkpoint) reaches the same wraps.
        var replayed = VaultState(vaultID: vault.state.vaultID)
        for entry in entries { try replayed.apply(entry) }
        #expect(replayed.detailsKeys == vault.state.detailsKeys)
    }

    @Test("entries written before sealed details (names, hashes and paths in clear) still replay, verify and trace")
    func olderEntries() throws {
        let (fixture, bob) = try BundlePolicyTests.vaultWithBob()
        let document = try fixture.seal("old.txt", Array("old".utf8), label: "internal")
        let vault = try fixture.open()
        let hash = String(repeating: "ab", count: 32)
        // As the code before sealed details wrote them.
        try vault.commit { _ in
            [.bundleCreated(BundleCreated(
                bundle: "00112233445566778899aabbccddeeff", recipients: ["acme"], note: "old note",
                files: [BundleFileRecord(document: document.id, generation: 1, name: "old.txt", size: 3, sha256: hash, label: "internal")])),
             .backupStarted(BackupStarted(snapshot: "20261201T000000.000000Z-00000000", destination: "/backups/old"))]
        }
        #expect(try Audit.verify(vaultAt: fixture.path).isValid)
        #expect(try fixture.verify().isClean)
        // Anyone reads what was written in clear.
        let member = try fixture.open(as: bob)
        #expect(try member.traceBundles(sha256: hash).map(\.name) == ["old.txt"])
        let entries = try member.catalog.ledgerEntries()
        let backupEntry = try #require(entries.first { $0.contents.event.action == "vault.backup" })
        #expect(try member.details(of: backupEntry) == .backup(BackupDetails(destination: "/backups/old")))
        #expect(member.untraceableBundles == 0)
    }

    @Test("replay refuses sealed details not wrapped for the admin role's current key version")
    func wrongAdminVersion() throws {
        let fixture = try VaultFixture()
        let vault = try fixture.open()
        let before = vault.state.entryCount
        var details = try vault.sealDetails(BackupDetails(destination: "/x"), action: "vault.backup", subject: "s", state: vault.state)
        details.adminVersion += 1
        let event = LedgerEvent.backupStarted(BackupStarted(snapshot: "s", details: details))
        // The ledger's rules refuse the entry on replay...
        var verifier = LedgerVerifier(state: vault.state)
        let entry = try LedgerEntry.make(
            event: event, vault: vault.state.vaultID, sequence: vault.state.entryCount, previous: vault.state.head, time: Date(),
            actor: fixture.owner)
        #expect { try verifier.append(entry) } throws: { error in
            guard case LedgerError.unauthorized = error else { return false }
            return true
        }
        // ...so the commit path refuses to sign and store it (its own entry: not permitted, not tampering).
        expectFailure(.accessDenied) { try vault.commit { _ in [event] } }
        #expect(try fixture.open().state.entryCount == before)
    }

    @Test("sealed details moved to another subject, action or vault do not open")
    func contextBinding() throws {
        let fixture = try VaultFixture()
        let vault = try fixture.open()
        let admin = try #require(vault.state.adminRole)
        let adminKey = try #require(try vault.roleKey(admin.id, version: admin.currentVersion))
        let context = DetailsContext(vaultID: vault.state.vaultID, action: "vault.backup", subject: "snapshot-a")
        let sealed = try DetailsKey.seal(BackupDetails(destination: "/secret/path"), context: context, admin: admin)
        let key = try DetailsKey.unwrap(Array(sealed.key), adminKey: adminKey, adminVersion: sealed.adminVersion, context: context)
        #expect(try key.open(BackupDetails.self, box: sealed.box, context: context) == BackupDetails(destination: "/secret/path"))
        for other in [
            DetailsContext(vaultID: vault.state.vaultID, action: "vault.backup", subject: "snapshot-b"),
            DetailsContext(vaultID: vault.state.vaultID, action: "bundle.create", subject: "snapshot-a"),
            DetailsContext(vaultID: VaultID.random(), action: "vault.backup", subject: "snapshot-a"),
        ] {
            #expect(throws: CryptoError.self) { try DetailsKey.unwrap(Array(sealed.key), adminKey: adminKey, adminVersion: sealed.adminVersion, context: other) }
            #expect(throws: CryptoError.self) { try key.open(BackupDetails.self, box: sealed.box, context: other) }
        }
        #expect(throws: CryptoError.self) { try DetailsKey.unwrap(Array(sealed.key), adminKey: adminKey, adminVersion: sealed.adminVersion + 1, context: context) }
    }
}

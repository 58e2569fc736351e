import Foundation
import Testing

@testable import CofferKit

/// Restoring from an attacker-written backup directory, restored copies
/// that stay read-only until adopted, and resetting an identity's record.
@Suite("Backup restore")
struct BackupRestoreTests {
    let fixture: VaultFixture
    let destination: String

    init() throws {
        fixture = try VaultFixture()
        destination = fixture.scratch.join("backup")
        try fixture.seal("a.txt", Array("alpha".utf8))
    }

    /// Re-signs the snapshot's manifest after `edit`, as an operator of the
    /// vault would sign it: only the checks against the catalog stand in the way.
    private func resign(_ snapshot: BackupManifest, _ edit: (inout [String: Any]) -> Void) throws {
        let folder = destination + "/snapshots/\(snapshot.id)"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))) as? [String: Any])
        edit(&object)
        let body = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))
        let signature = try fixture.owner.sign(BackupManifest.signaturePrefix + body)
        try Data(body).write(to: URL(fileURLWithPath: folder + "/manifest.json"))
        try Data(Data(signature).base64EncodedString().utf8).write(to: URL(fileURLWithPath: folder + "/manifest.sig"))
    }

    @Test("a signed manifest whose count or head differs from the catalog it names is refused, and nothing is left behind")
    func countAndHead() throws {
        let snapshot = try fixture.open().backup(to: destination).snapshot
        let target = fixture.scratch.join("restored")
        try resign(snapshot) { $0["entries"] = Int(snapshot.entries) - 1 }
        #expect(throws: BackupError.self) { try BackupStore.restore(destination, snapshot: nil, to: target) }
        #expect(!FileSystem.exists(target))
        try resign(snapshot) { $0["entries"] = Int(snapshot.entries); $0["head"] = String(repeating: "0", count: 64) }
        #expect(throws: BackupError.self) { try BackupStore.restore(destination, snapshot: nil, to: target) }
        #expect(!FileSystem.exists(target))
        try resign(snapshot) { $0["head"] = snapshot.head }
        #expect(try BackupStore.restore(destination, snapshot: nil, to: target) == snapshot)
    }

    @Test("an older snapshot's catalog in the newest folder, or an edited one, is refused on the bytes restored")
    func swappedCatalog() throws {
        let first = try fixture.open().backup(to: destination).snapshot
        try fixture.seal("b.txt", Array("beta".utf8))
        let second = try fixture.open().backup(to: destination).snapshot
        let newest = destination + "/snapshots/\(second.id)/catalog.sqlite"
        let kept = try Data(contentsOf: URL(fileURLWithPath: newest))
        try FileManager.default.removeItem(atPath: newest)
        try FileManager.default.copyItem(atPath: destination + "/snapshots/\(first.id)/catalog.sqlite", toPath: newest)
        let target = fixture.scratch.join("restored")
        #expect(throws: BackupError.badManifest("catalog.sqlite is not the one the manifest names (its hash differs)")) {
            try BackupStore.restore(destination, snapshot: nil, to: target)
        }
        #expect(!FileSystem.exists(target))
        // Even with the manifest re-signed to the older catalog's hash, its count and head give it away.
        try resign(second) { $0["catalog"] = first.catalog }
        #expect(throws: BackupError.self) { try BackupStore.restore(destination, snapshot: nil, to: target) }
        #expect(!FileSystem.exists(target))
        try FileManager.default.removeItem(atPath: newest)
        try kept.write(to: URL(fileURLWithPath: newest))
        try resign(second) { $0["catalog"] = second.catalog }
        #expect(try BackupStore.restore(destination, snapshot: nil, to: target).id == second.id)
    }

    @Test("a restored copy is read-only and leaves the identity's record alone; adopting it is ledgered and makes it writable")
    func restoredCopy() throws {
        let bob = Identity.generate(name: "bob")
        _ = try fixture.open().createRole(named: "eng", clearance: nil)
        _ = try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let snapshot = try fixture.open().backup(to: destination).snapshot
        let copy = fixture.scratch.join("copy")
        _ = try BackupStore.restore(destination, snapshot: nil, to: copy)
        let heads = HeadStore(directory: fixture.stateDirectory)
        let before = try heads.head(fingerprint: fixture.owner.fingerprint, vault: snapshot.vault)

        let restored = try Vault.open(at: copy, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory))
        #expect(try restored.list().documents.map(\.name) == ["a.txt"])
        #expect(throws: VaultError.self) { try restored.open("a.txt", to: .file(path: fixture.scratch.join("out"), overwrite: false)) }
        #expect(throws: VaultError.self) { try restored.seal(paths: [try fixture.scratch.write("in", [1])], name: "x") }
        #expect(try heads.head(fingerprint: fixture.owner.fingerprint, vault: snapshot.vault) == before)
        #expect(try fixture.open().list().documents.count == 1)  // the live vault still opens

        // Only an administrator may adopt.
        #expect(throws: VaultError.notPermitted("only an administrator may adopt a restored vault")) {
            try Vault.adopt(at: copy, identity: bob, stateDirectory: .directory(fixture.scratch.join("bob-state")))
        }
        #expect(FileSystem.exists(copy + "/restored.json"))
        let report = try Vault.adopt(at: copy, identity: fixture.owner, stateDirectory: .directory(fixture.scratch.join("drill-state")))
        #expect(report.snapshot == snapshot.id && report.entries == snapshot.entries + 1)
        let adopted = try Vault.open(at: copy, identity: fixture.owner, stateDirectory: .directory(fixture.scratch.join("drill-state")))
        guard case .vaultAdopted(let entry) = try #require(try adopted.catalog.ledgerEntry(at: snapshot.entries)).contents.event else {
            Issue.record("the entry after the snapshot is not vault.adopt")
            return
        }
        #expect(entry.snapshot == snapshot.id && entry.head == snapshot.head)
        #expect(try !adopted.seal(paths: [try fixture.scratch.write("in2", [2])], name: "y").isEmpty)
        #expect(throws: VaultError.self) { try Vault.adopt(at: copy, identity: fixture.owner, stateDirectory: .withoutRollbackDetection) }
    }

    @Test("a backup on read-only media, even without its lock file, verifies and restores, changing nothing")
    func readOnlyBackup() throws {
        _ = try fixture.open().backup(to: destination)
        try FileManager.default.removeItem(atPath: destination + "/lock")
        let mounted = fixture.scratch.join("ro-backup")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try ReadOnlyBindMount.with(destination, at: mounted) {
            #expect(try BackupStore.verify(mounted, snapshot: nil, identity: fixture.owner, deep: true).1.isClean)
            _ = try BackupStore.restore(mounted, snapshot: nil, to: fixture.scratch.join("from-ro"))
            #expect(try VaultVerifier.verify(at: fixture.scratch.join("from-ro"), identity: nil, stateDirectory: .withoutRollbackDetection, deep: false).isClean)
        }
        #expect(!FileSystem.exists(destination + "/lock"))
    }

    @Test("a head seen on another copy is a fork, one seen here is a rollback; state reset forgets it after the ledger verifies")
    func forkRollbackReset() throws {
        let copy = fixture.scratch.join("plain-copy")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        _ = try Vault.open(at: copy, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory))
            .open("a.txt", to: .file(path: fixture.scratch.join("o"), overwrite: false))
        do {
            _ = try fixture.open()
            Issue.record("the live vault opened against a record that forked on a copy")
        } catch VaultError.headConflict(let conflict) {
            #expect(conflict.kind == .fork && conflict.seenAt == FileSystem.realPath(copy) && conflict.entries == conflict.seenSequence)
            #expect(conflict.description.contains("coffer state reset --vault \(FileSystem.realPath(fixture.path))"))
        }
        let reset = try Vault.resetState(at: fixture.path, identity: fixture.owner, stateDirectory: fixture.stateDirectory)
        #expect(reset.forgottenSeenAt == FileSystem.realPath(copy) && reset.entries == reset.forgottenSequence)
        _ = try fixture.open()

        // Entries removed from the end of this directory's ledger: a rollback.
        try fixture.seal("b.txt", Array("beta".utf8))
        let count = try fixture.open().state.entryCount
        try fixture.database().run("DELETE FROM ledger WHERE seq = ?", [.integer(count - 1)])
        do {
            _ = try fixture.open()
            Issue.record("a rolled-back vault opened")
        } catch VaultError.headConflict(let conflict) {
            #expect(conflict.kind == .rollback && conflict.seenSequence == count - 1 && conflict.entries == count - 1)
        }
        #expect(LedgerError.rolledBack(seenSequence: 18, currentCount: 18).description.contains("at least 19"))
    }
}

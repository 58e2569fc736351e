import Foundation
import Testing

@testable import CofferKit

/// Backups: incremental copies, keyless verification, restore, tampering,
/// interruption, and a backup taken while another writer seals.
@Suite("Backups")
struct BackupTests {
    let fixture: VaultFixture
    let destination: String

    init() throws {
        fixture = try VaultFixture()
        destination = fixture.scratch.join("backup")
        try fixture.seal("a.txt", Array("alpha".utf8))
        try fixture.seal("b.bin", (0..<100_000).map { UInt8(truncatingIfNeeded: $0) })
    }

    func objectCount() throws -> Int {
        try FileManager.default.subpathsOfDirectory(atPath: destination + "/objects").filter { $0.count == 67 }.count
    }

    @Test("incremental backups copy only new objects; each snapshot verifies and restores")
    func roundTrip() throws {
        let first = try fixture.open().backup(to: destination)
        #expect(first.objectsCopied == 4 && first.snapshot.objects == 4 && first.snapshot.entries == 9)
        // Each backup is recorded in the ledger before the catalog is copied: the snapshot holds its own record.
        let record = try #require(try fixture.open().catalog.ledgerEntry(at: 8))
        guard case .backupStarted(let recorded) = record.contents.event else { Issue.record("entry 8 is \(record.contents.event.action)"); return }
        #expect(recorded.snapshot == first.snapshot.id && record.hash == Hex.decode(first.snapshot.head))
        // The destination is sealed: not in the entry in clear, revealed to an administrator.
        #expect(recorded.destination == nil && recorded.details != nil)
        #expect(try fixture.open().details(of: record) == .backup(BackupDetails(destination: URL(fileURLWithPath: destination).standardizedFileURL.path)))
        try fixture.seal("c.txt", Array("gamma".utf8))
        let second = try fixture.open().backup(to: destination)
        #expect(second.objectsCopied == 2 && second.snapshot.objects == 6 && second.snapshot.entries == 11)
        #expect(try BackupStore.list(destination).map(\.id) == [first.snapshot.id, second.snapshot.id])
        for id in [first.snapshot.id, second.snapshot.id] {
            let (manifest, report) = try BackupStore.verify(destination, snapshot: id, identity: fixture.owner, deep: true)
            #expect(manifest.id == id && report.isClean)
        }
        let restored = fixture.scratch.join("restored")
        _ = try BackupStore.restore(destination, snapshot: nil, to: restored)
        let vault = try Vault.open(at: restored, identity: fixture.owner, stateDirectory: .directory(fixture.scratch.join("other-state")))
        #expect(try vault.list().documents.map(\.name) == ["a.txt", "b.bin", "c.txt"])
        #expect(try VaultVerifier.verify(at: restored, identity: fixture.owner, stateDirectory: .withoutRollbackDetection, deep: true).isClean)
        let older = fixture.scratch.join("restored-older")
        _ = try BackupStore.restore(destination, snapshot: first.snapshot.id, to: older)
        #expect(try Vault.open(at: older, identity: fixture.owner, stateDirectory: .withoutRollbackDetection).list().documents.count == 2)
        #expect(throws: VaultError.self) { try BackupStore.restore(destination, snapshot: nil, to: restored) }
        #expect(throws: BackupError.self) { try BackupStore.restore(destination, snapshot: "nope", to: fixture.scratch.join("x")) }
    }

    @Test("a changed object, catalog or manifest in the backup is caught; an interrupted snapshot is ignored")
    func tampering() throws {
        let snapshot = try fixture.open().backup(to: destination).snapshot
        let folder = destination + "/snapshots/\(snapshot.id)"
        // An interrupted backup: a snapshot folder without a manifest.
        try FileManager.default.createDirectory(atPath: destination + "/snapshots/99999999T999999Z-00000000", withIntermediateDirectories: true)
        #expect(try BackupStore.list(destination).map(\.id) == [snapshot.id])

        let object = try #require(try FileManager.default.subpathsOfDirectory(atPath: destination + "/objects").first { $0.count == 67 })
        try flip(destination + "/objects/" + object)
        #expect(try !BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false).1.isClean)
        try flip(destination + "/objects/" + object)
        #expect(try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false).1.isClean)

        // A snapshot folder renamed: its manifest names another snapshot.
        let renamed = destination + "/snapshots/20300101T000000.000000Z-00000000"
        try FileManager.default.moveItem(atPath: folder, toPath: renamed)
        #expect(throws: BackupError.self) { try BackupStore.list(destination) }
        #expect(throws: BackupError.self) { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
        try FileManager.default.moveItem(atPath: renamed, toPath: folder)

        try flip(folder + "/catalog.sqlite", at: 200)
        #expect(throws: BackupError.self) { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
        try flip(folder + "/catalog.sqlite", at: 200)
        var manifest = try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)
        manifest = manifest.replacingOccurrences(of: "\"entries\":9", with: "\"entries\":7")
        try manifest.write(toFile: folder + "/manifest.json", atomically: false, encoding: .utf8)
        #expect(throws: BackupError.self) { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
    }

    @Test("a first backup killed while it made the destination's object store (fan-out directories missing): the next one completes the store and verifies")
    func interruptedStoreCreation() throws {
        // What a kill between mkdir objects and its 256 fan-out directories leaves.
        try FileManager.default.createDirectory(atPath: destination + "/objects/00", withIntermediateDirectories: true)
        let report = try fixture.open().backup(to: destination)
        #expect(report.objectsCopied == 4)
        let fanOuts = try FileManager.default.contentsOfDirectory(atPath: destination + "/objects").filter { $0.count == 2 }
        #expect(fanOuts.count == 256)
        #expect(try BackupStore.verify(destination, snapshot: nil, identity: fixture.owner, deep: true).1.isClean)
    }

    @Test("a backup taken while another writer seals is consistent, and later backups pick the new documents up")
    func concurrentSeal() throws {
        for i in 0..<40 { try fixture.scratch.write("in/\(i).txt", Array("doc \(i)".utf8)) }
        let (path, owner, state, input) = (fixture.path, fixture.owner, fixture.stateDirectory, fixture.scratch.join("in"))
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        Thread {
            do { _ = try Vault.open(at: path, identity: owner, stateDirectory: .directory(state)).seal(paths: [input]) } catch { failure.set(error) }
            done.signal()
        }.start()
        let during = try fixture.open().backup(to: destination)
        done.wait()
        #expect(failure.error == nil)
        #expect(try BackupStore.verify(destination, snapshot: during.snapshot.id, identity: fixture.owner, deep: true).1.isClean)
        let after = try fixture.open().backup(to: destination)
        #expect(after.snapshot.objects == 4 + 80)
        #expect(try BackupStore.verify(destination, snapshot: nil, identity: fixture.owner, deep: true).1.isClean)
    }

    @Test("a backup inside the vault is refused, however the path is spelled")
    func insideTheVault() throws {
        let vault = try fixture.open()
        let link = fixture.scratch.join("vault-link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: fixture.path)
        for inside in [fixture.path, fixture.path + "/backup/", fixture.path + "/objects/../new/deeper", link + "/backup",
                       fixture.scratch.join("not-yet/../") + URL(fileURLWithPath: fixture.path).lastPathComponent + "/backup"] {
            #expect(throws: VaultError.self, "\(inside)") { try vault.backup(to: inside) }
            #expect(!FileSystem.exists(fixture.path + "/backup") && !FileSystem.exists(fixture.path + "/new"))
        }
        #expect(try vault.backup(to: fixture.scratch.join("beside-the-vault")).objectsCopied == 4)
    }

    @Test("a truncated, flipped or oversized manifest or signature is a typed error, never a crash")
    func manifestParsing() throws {
        let snapshot = try fixture.open().backup(to: destination).snapshot
        let folder = destination + "/snapshots/\(snapshot.id)"
        let manifest = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.json"))
        let signature = try Data(contentsOf: URL(fileURLWithPath: folder + "/manifest.sig"))
        func expectRefused(_ file: String, _ bytes: Data, _ what: String) throws {
            let original = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + file))
            try bytes.write(to: URL(fileURLWithPath: folder + "/" + file))
            #expect(throws: BackupError.self, "\(what)") { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
            try original.write(to: URL(fileURLWithPath: folder + "/" + file))
        }
        for cut in [0, 1, manifest.count / 2, manifest.count - 1] {
            try expectRefused("manifest.json", manifest.prefix(cut), "manifest cut at \(cut)")
        }
        for offset in stride(from: 0, to: manifest.count, by: max(1, manifest.count / 23)) {
            var flipped = manifest
            flipped[offset] ^= 0x04
            try expectRefused("manifest.json", flipped, "manifest flipped at \(offset)")
        }
        try expectRefused("manifest.json", manifest + Data(repeating: 0x20, count: 2 << 20), "manifest over 1 MiB")
        for cut in [0, signature.count / 2] {
            try expectRefused("manifest.sig", signature.prefix(cut), "signature cut at \(cut)")
        }
        var flipped = signature
        flipped[3] = flipped[3] == 0x41 ? 0x42 : 0x41
        try expectRefused("manifest.sig", flipped, "signature flipped")
        try expectRefused("manifest.sig", signature + Data(repeating: 0x41, count: 4096), "signature oversized")
        #expect(try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false).1.isClean)
    }

    @Test("prune keeps the newest snapshots whole, deletes older ones and the objects only they used; a damaged kept snapshot stops it")
    func prune() throws {
        let first = try fixture.open().backup(to: destination).snapshot
        _ = try fixture.open().rekey(["b.bin"], plan: false)  // b.bin's old manifest and segment: now only in the first snapshot
        let second = try fixture.open().backup(to: destination).snapshot
        try fixture.seal("c.txt", Array("gamma".utf8))
        let third = try fixture.open().backup(to: destination).snapshot
        // Leftovers of interrupted backups: a snapshot folder without a manifest, a temporary object file.
        try FileManager.default.createDirectory(atPath: destination + "/snapshots/20260101T000000.000000Z-00000000", withIntermediateDirectories: true)
        let stray = destination + "/objects/00/.coffer-0123456789abcdef.tmp"
        try Data("partial".utf8).write(to: URL(fileURLWithPath: stray))
        let objectsBefore = try objectCount()

        let plan = try BackupStore.prune(destination, keep: 2, plan: true)
        #expect(plan.planned && plan.removed == [first.id] && plan.kept == [second.id, third.id])
        #expect(plan.objectsRemoved == 2 && plan.interruptedRemoved == 1 && plan.temporaryFilesRemoved == 1 && plan.bytesFreed > 100_000)
        #expect(try BackupStore.list(destination).count == 3 && objectCount() == objectsBefore && FileSystem.exists(stray))

        let done = try BackupStore.prune(destination, keep: 2, plan: false)
        #expect(!done.planned && done.removed == [first.id] && done.objectsRemoved == 2 && done.objectsKept == third.objects)
        #expect(try BackupStore.list(destination).map(\.id) == [second.id, third.id])
        #expect(try objectCount() == objectsBefore - 2 && !FileSystem.exists(stray))
        #expect(try FileSystem.contents(of: destination + "/snapshots").sorted() == [second.id, third.id])
        for id in [second.id, third.id] {
            #expect(try BackupStore.verify(destination, snapshot: id, identity: fixture.owner, deep: true).1.isClean)
        }
        // Pruning again changes nothing.
        let again = try BackupStore.prune(destination, keep: 2, plan: false)
        #expect(again.removed.isEmpty && again.objectsRemoved == 0)

        // A kept snapshot whose ledger no longer replays: nothing is deleted.
        let catalog = try SQLiteDatabase(path: destination + "/snapshots/\(third.id)/catalog.sqlite", create: false)
        try catalog.run("DELETE FROM ledger WHERE seq = 3")
        #expect(throws: (any Error).self) { try BackupStore.prune(destination, keep: 1, plan: false) }
        #expect(try BackupStore.list(destination).map(\.id) == [second.id, third.id] && objectCount() == objectsBefore - 2)
    }

    private func flip(_ path: String, at offset: Int = 10) throws {
        chmod(path, 0o644)
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[offset] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: path))
    }
}

/// An error carried out of a thread.
private final class ErrorBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: (any Error)?
    var error: (any Error)? { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ error: any Error) { lock.lock(); stored = error; lock.unlock() }
}

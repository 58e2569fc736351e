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
        #expect(first.objectsCopied == 4 && first.snapshot.objects == 4 && first.snapshot.entries == 8)
        try fixture.seal("c.txt", Array("gamma".utf8))
        let second = try fixture.open().backup(to: destination)
        #expect(second.objectsCopied == 2 && second.snapshot.objects == 6)
        #expect(try BackupStore.list(destination).map(\.id) == [first.snapshot.id, second.snapshot.id])
        for id in [first.snapshot.id, second.snapshot.id] {
            let (manifest, report) = try BackupStore.verify(destination, snapshot: id, identity: fixture.owner, deep: true)
            #expect(manifest.id == id && report.isClean)
        }
        let restored = fixture.scratch.join("restored")
        _ = try BackupStore.restore(destination, snapshot: nil, to: restored)
        let vault = try Vault.open(at: restored, identity: fixture.owner, stateDirectory: fixture.scratch.join("other-state"))
        #expect(vault.list().documents.map(\.name) == ["a.txt", "b.bin", "c.txt"])
        #expect(try VaultVerifier.verify(at: restored, identity: fixture.owner, stateDirectory: nil, deep: true).isClean)
        let older = fixture.scratch.join("restored-older")
        _ = try BackupStore.restore(destination, snapshot: first.snapshot.id, to: older)
        #expect(try Vault.open(at: older, identity: fixture.owner, stateDirectory: nil).list().documents.count == 2)
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

        try flip(folder + "/catalog.sqlite", at: 200)
        #expect(throws: BackupError.self) { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
        try flip(folder + "/catalog.sqlite", at: 200)
        var manifest = try String(contentsOfFile: folder + "/manifest.json", encoding: .utf8)
        manifest = manifest.replacingOccurrences(of: "\"entries\":8", with: "\"entries\":7")
        try manifest.write(toFile: folder + "/manifest.json", atomically: false, encoding: .utf8)
        #expect(throws: BackupError.self) { try BackupStore.verify(destination, snapshot: nil, identity: nil, deep: false) }
    }

    @Test("a backup taken while another writer seals is consistent, and later backups pick the new documents up")
    func concurrentSeal() throws {
        for i in 0..<40 { try fixture.scratch.write("in/\(i).txt", Array("doc \(i)".utf8)) }
        let (path, owner, state, input) = (fixture.path, fixture.owner, fixture.stateDirectory, fixture.scratch.join("in"))
        let done = DispatchSemaphore(value: 0)
        let failure = ErrorBox()
        Thread {
            do { _ = try Vault.open(at: path, identity: owner, stateDirectory: state).seal(paths: [input]) } catch { failure.set(error) }
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

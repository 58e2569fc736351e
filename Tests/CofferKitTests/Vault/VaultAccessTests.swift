import CofferTestSupport
import Foundation
import Testing

@testable import CofferKit

/// Read-only access: auditing opens the catalog without creating, changing
/// or deleting anything beside it, on read-only media too, and never reads
/// an older state silently.
@Suite("Vault access")
struct VaultAccessTests {
    let fixture: VaultFixture

    init() throws {
        fixture = try VaultFixture()
        try fixture.seal("a.txt", Array("alpha".utf8))
    }

    private func listing(_ directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }

    @Test("a quiescent catalog opens immutable: no -wal or -shm appears, and a later write to the file is noticed")
    func quiescent() throws {
        let before = try listing(fixture.path)
        #expect(!before.contains("catalog.sqlite-wal") && !before.contains("catalog.sqlite-shm"))
        let catalog = try Catalog.openReadOnly(at: Vault.catalogPath(fixture.path))
        #expect(try catalog.ledgerCount() > 0)
        #expect(try listing(fixture.path) == before)
        #expect(catalog.openedStamp != nil && catalog.unchangedSinceOpened())
        #expect(throws: DatabaseError.self) { try catalog.database.run("INSERT INTO meta(key, value) VALUES ('x', 'y')") }
        try fixture.seal("b.txt", Array("beta".utf8))  // a writer commits and checkpoints into the file
        #expect(!catalog.unchangedSinceOpened())
    }

    @Test("a keyless verify and a read-only open of the vault change nothing in its directory")
    func verifyChangesNothing() throws {
        let before = try listing(fixture.path)
        let stamp = try FileStamp(Vault.catalogPath(fixture.path))
        #expect(try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .directory(fixture.stateDirectory), deep: false).isClean)
        let vault = try Vault.open(at: fixture.path, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory), access: .readOnly)
        #expect(try vault.list().documents.count == 1)
        #expect(throws: VaultError.self) { try vault.seal(paths: [try fixture.scratch.write("in", [1])], name: "x") }
        #expect(try listing(fixture.path) == before && FileStamp(Vault.catalogPath(fixture.path)) == stamp)
    }

    @Test("changes in a write-ahead log are read where they can be, and refused with a clear error on read-only media without its index")
    func pendingLog() throws {
        // A writer with an unmerged log: committed changes only in catalog.sqlite-wal.
        let writer = try fixture.database()
        try writer.execute("PRAGMA wal_autocheckpoint = 0")
        try writer.run("INSERT INTO meta(key, value) VALUES ('probe', 'in the log')")
        let copy = fixture.scratch.join("copy")
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        for name in ["catalog.sqlite", "catalog.sqlite-wal"] {
            try FileManager.default.copyItem(atPath: fixture.path + "/" + name, toPath: copy + "/" + name)
        }
        #expect(try FileSystem.size(of: copy + "/catalog.sqlite-wal") > 0)
        withExtendedLifetime(writer) {}

        let mounted = fixture.scratch.join("ro")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try ReadOnlyBindMount.with(copy, at: mounted) {
            do {
                _ = try Catalog.openReadOnly(at: mounted + "/catalog.sqlite")
                Issue.record("a log that cannot be read was ignored")
            } catch let error as DatabaseError {
                #expect(error.kind == .io && error.description.contains("write-ahead log"), "\(error)")
            }
        }
        // Writable: the log is read (SQLite adds its index), never skipped.
        #expect(try Catalog.openReadOnly(at: copy + "/catalog.sqlite").meta("probe") == "in the log")
    }

    @Test("a vault on a read-only bind mount verifies, lists and replays its ledger")
    func readOnlyMount() throws {
        let mounted = fixture.scratch.join("ro")
        try FileManager.default.createDirectory(atPath: mounted, withIntermediateDirectories: true)
        try ReadOnlyBindMount.with(fixture.path, at: mounted) {
            #expect(try VaultVerifier.verify(at: mounted, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory), deep: true).isClean)
            #expect(try Audit.verify(vaultAt: mounted, stateDirectory: .directory(fixture.stateDirectory)).failure == nil)
            let vault = try Vault.open(at: mounted, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory), access: .readOnly)
            #expect(try vault.list().documents.map(\.name) == ["a.txt"])
        }
    }
}

/// A read-only bind mount of `source` at `target` for the duration of
/// `body`. Needs root: without it the test fails, it does not skip.
enum ReadOnlyBindMount {
    static func with(_ source: String, at target: String, _ body: () throws -> Void) throws {
        try #require(getuid() == 0, "a read-only bind mount needs root")
        try mount(["--bind", source, target])
        defer { try? mount(["-o", "remount,ro,bind", target]); _ = try? run("/bin/umount", [target]) }
        try mount(["-o", "remount,ro,bind", target])
        #expect(!FileManager.default.createFile(atPath: target + "/probe", contents: Data()), "the mount is not read-only")
        try body()
    }

    private static func mount(_ arguments: [String]) throws {
        guard try run("/bin/mount", arguments) == 0 else { throw FileError("mount", path: arguments.last ?? "", code: EPERM) }
    }

    private static func run(_ executable: String, _ arguments: [String]) throws -> Int32 {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        try process.run()
        process.waitUntilExit()
        return process.terminationStatus
    }
}

import Foundation
import Testing

@testable import CofferKit

/// The identity's saved state (``StateStore``): opening from it gives
/// exactly the state a full replay gives; a command reads the records it
/// needs, not the vault; a damaged or foreign store fails loudly once and is
/// rebuilt; a vault rolled back behind it is refused; a record put back
/// from an older copy is found by `verify --deep`.
@Suite("Saved state")
struct StateStoreTests {
    let fixture: VaultFixture
    let bob = Identity.generate(name: "bob")

    init() throws {
        fixture = try VaultFixture()
    }

    var storePath: String { fixture.stateDirectory + "/\(fixture.owner.fingerprint)/\((try? fixture.open().state.vaultID.description) ?? "").sqlite" }

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

    /// Seals `count` small documents in one call (batched commits).
    func sealMany(_ count: Int, prefix: String) throws -> [SealedDocument] {
        let paths = try (0..<count).map { try fixture.scratch.write("many/\(prefix)/\(prefix)-\($0).txt", Array("\(prefix) \($0)".utf8)) }
        return try fixture.open().seal(paths: paths)
    }

    /// `sealMany`, then a new role `eng` (cleared for confidential) that every one of them is shared with.
    func sealManySharedWithEng(_ count: Int, prefix: String) throws -> [SealedDocument] {
        let sealed = try sealMany(count, prefix: prefix)
        let owner = try fixture.open()
        try owner.createRole(named: "eng", clearance: "confidential")
        _ = try owner.share(sealed.map(\.id.description), withRole: "eng")
        return sealed
    }

    @Test("the saved state is exactly a full replay, before and after newer entries")
    func roundTrip() throws {
        try populate()
        #expect(try fixture.open().state.fieldsDiffering(from: try fullReplay()) == [])
        try fixture.seal("c.txt", Array("gamma".utf8))
        _ = try fixture.open().removeMember("bob", fromRole: "eng", plan: false)
        let reopened = try fixture.open()
        #expect(reopened.state.fieldsDiffering(from: try fullReplay()) == [])
        #expect(try reopened.list().documents.map(\.name) == ["a.txt", "b.txt", "c.txt"])
        #expect(try fixture.read("a.txt") == Array("alpha".utf8))
        #expect(try fixture.verify(deep: true).findings.isEmpty)
    }

    /// The work of opening one document by id in a fresh process: records
    /// read from the store, and ledger entries read from the catalog.
    func workOfOpeningOne(_ id: DocumentID) throws -> (records: Int, entries: Int) {
        let vault = try fixture.open()
        let output = fixture.scratch.join("out-\(UUID().uuidString)")
        try vault.open(id.description, to: .file(path: output, overwrite: false))
        return (try #require(vault.store).recordsRead, vault.catalog.entriesRead)
    }

    @Test("opening one document reads a bounded number of records and entries, whatever the vault's size")
    func boundedWork() throws {
        let first = try sealMany(200, prefix: "small")
        let small = try workOfOpeningOne(first[17].id)
        _ = try sealMany(2_000, prefix: "large")
        #expect(try fixture.open().state.documents.count == 2_200)
        let large = try workOfOpeningOne(first[17].id)
        // One record (the document itself) and the one entry of the previous open.
        #expect(small.records <= 3 && small.entries <= 1, "\(small)")
        #expect(large == small, "\(large) against \(small)")

        // After others append k entries, the next command reads those k entries and the records they touch.
        let bobState = fixture.scratch.join("bob-state")
        let owner = try fixture.open()
        try owner.createRole(named: "eng", clearance: "confidential")
        _ = try owner.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let before = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .directory(bobState)).state.entryCount
        try fixture.seal("one-more.txt", [1])
        _ = try fixture.open().share([first[3].id.description], withRole: "eng")
        let after = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .directory(bobState))
        #expect(after.state.entryCount - before >= 2)
        #expect(after.catalog.entriesRead == Int(after.state.entryCount - before), "bob read only the new entries")
        #expect(try #require(after.store).recordsRead <= 2, "and only the records they touch")
    }

    @Test("a name is found through the name index: once indexed, a lookup decrypts only its matches; new and newly shared documents are found")
    func nameIndex() throws {
        let sealed = try sealMany(300, prefix: "n")
        // The sealer indexed the names it sealed: even the first lookup decrypts only its match.
        let first = try fixture.open()
        #expect(try first.resolve(sealed[150].name).id == sealed[150].id)
        #expect(try #require(first.store).recordsRead <= 2, "read \(first.store!.recordsRead) records")
        let vault = try fixture.open()
        #expect(try vault.resolve(sealed[150].name).id == sealed[150].id)
        #expect(try #require(vault.store).recordsRead <= 2, "read \(vault.store!.recordsRead) records")
        // Sealing the name again finds the document through the index and adds its next revision.
        let again = try fixture.seal(sealed[150].name, [9])
        #expect(again.id == sealed[150].id && again.revision == 2)
        #expect(try fixture.open().resolve(sealed[150].name).revision == 2)
        // Bob joins a role: the documents shared with it are found by name from his state.
        let owner = try fixture.open()
        try owner.createRole(named: "eng", clearance: "confidential")
        _ = try owner.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let bobState = fixture.scratch.join("bob-state")
        let bobVault = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .directory(bobState))
        #expect(throws: VaultError.self) { try bobVault.resolve(sealed[7].name) }
        _ = try fixture.open().share([sealed[7].id.description], withRole: "eng")
        #expect(try Vault.open(at: fixture.path, identity: bob, stateDirectory: .directory(bobState)).resolve(sealed[7].name).id == sealed[7].id)
    }

    @Test("a replay that saves to a store as it goes holds a bounded number of changed documents in memory, also across entries that change hundreds, and ends in the same state")
    func spill() throws {
        _ = try sealMany(300, prefix: "s")
        let (descriptor, catalog) = try Vault.openStorage(at: fixture.path)
        let store = try StateStore.temporary(vault: descriptor.vault)
        let replayed = try Vault.replay(catalog: catalog, descriptor: descriptor, trustedThrough: nil, spillingTo: .init(store: store, documentLimit: 2))
        #expect(replayed.documents.changed.count < 2, "\(replayed.documents.changed.count) documents held in memory")
        #expect(replayed.documents.count == 300)
        #expect(replayed.fieldsDiffering(from: try fullReplay()) == [])
        #expect(try fixture.verify(deep: true).findings.isEmpty)
        // A share and a rotation: two entries that each change all 300 documents, and a few that change none.
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "confidential")
        _ = try vault.share((try vault.list().documents).map(\.id.description), withRole: "eng")
        _ = try fixture.open().rotateRole(named: "eng", plan: false)
        let again = try Vault.replay(
            catalog: catalog, descriptor: descriptor, trustedThrough: nil,
            spillingTo: .init(store: try StateStore.temporary(vault: descriptor.vault), documentLimit: 100))
        #expect(again.documents.changed.count < 100, "\(again.documents.changed.count) documents held in memory")
        #expect(again.fieldsDiffering(from: try fullReplay()) == [])
    }

    @Test("a whole-state checkpoint file of an earlier version is removed, and the ledger replayed once into the store")
    func earlierCheckpointReplaced() throws {
        try fixture.seal("a.txt", [1])
        let owned = fixture.stateDirectory + "/" + fixture.owner.fingerprint + "/" + (try fixture.open().state.vaultID.description)
        for suffix in [".sqlite", ".sqlite-wal", ".sqlite-shm"] { try? FileManager.default.removeItem(atPath: owned + suffix) }
        _ = FileManager.default.createFile(atPath: owned + ".state", contents: Data("coffer-state-v2\n".utf8 + [UInt8](repeating: 0, count: 64)))
        let vault = try fixture.open()
        #expect(!FileManager.default.fileExists(atPath: owned + ".state"))
        #expect(FileManager.default.fileExists(atPath: owned + ".sqlite"))
        #expect(vault.catalog.entriesRead == Int(vault.state.entryCount), "one full replay")
        #expect(vault.state.fieldsDiffering(from: try fullReplay()) == [])
        let attributes = try FileManager.default.attributesOfItem(atPath: owned + ".sqlite")
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("ls by folder, label and role lists exactly the matching documents, reading only those from the saved state")
    func filteredListing() throws {
        try fixture.seal("reports/q1.txt", [1], label: "confidential")
        try fixture.seal("reports/q2.txt", [2], label: "internal")
        try fixture.seal("reports/old/q0.txt", [0], label: "internal")
        try fixture.seal("reportsmore.txt", [3], label: "internal")
        _ = try sealMany(200, prefix: "bulk")
        let owner = try fixture.open()
        try owner.createRole(named: "eng", clearance: "confidential")
        _ = try owner.share(["reports/q1.txt"], withRole: "eng")
        _ = try fixture.open().list(folder: "reports")  // indexes the names once
        let vault = try fixture.open()
        #expect(try vault.list(folder: "reports").documents.map(\.name) == ["reports/q1.txt", "reports/q2.txt", "reports/old/q0.txt"])
        #expect(try #require(vault.store).recordsRead <= 6, "read \(vault.store!.recordsRead) records")
        #expect(try vault.list(folder: "reports/old/").documents.map(\.name) == ["reports/old/q0.txt"])
        #expect(try vault.list(label: "confidential").documents.map(\.name) == ["reports/q1.txt"])
        #expect(try vault.list(role: "eng").documents.map(\.name) == ["reports/q1.txt"])
        #expect(try vault.list(folder: "reports", label: "internal").documents.map(\.name) == ["reports/q2.txt", "reports/old/q0.txt"])
        #expect(try vault.list(folder: "nowhere").documents.isEmpty)
        #expect(throws: VaultError.self) { try vault.list(label: "no-such-label") }
        #expect(throws: VaultError.self) { try vault.list(role: "no-such-role") }
        // Without a saved state, the same answers by decrypting every name.
        let stateless = try Vault.open(at: fixture.path, identity: fixture.owner, stateDirectory: .withoutRollbackDetection)
        #expect(try stateless.list(folder: "reports", label: "internal").documents.map(\.name) == ["reports/q2.txt", "reports/old/q0.txt"])
        #expect(try stateless.list(role: "eng").documents.map(\.name) == ["reports/q1.txt"])
    }

    @Test("a rewrap rewrites only the records it changes: nothing is queued for naming again, and the indexes stay right when labels and roles do change")
    func saveWritesWhatChanged() throws {
        let sealed = try sealManySharedWithEng(120, prefix: "w")
        _ = try fixture.open().list(folder: "many")  // indexes every name
        let store = try #require(try fixture.open().store)
        #expect(try store.unnamedDocuments(limit: 1_000).isEmpty)
        _ = try fixture.open().rotateRole(named: "eng", plan: false)
        // The rotation rewrapped 120 records and queued none of them to be named again.
        #expect(try #require(try fixture.open().store).unnamedDocuments(limit: 1_000).isEmpty)
        #expect(try fixture.open().list(role: "eng").documents.count == 120)
        #expect(try fixture.open().resolve(sealed[60].name).id == sealed[60].id)
        // A relabel and an unshare do change the indexes.
        _ = try fixture.open().relabel(sealed[1].id.description, to: "secret", rekey: false)
        _ = try fixture.open().unshare([sealed[2].id.description], fromRole: "eng", rekey: false)
        let after = try fixture.open()
        #expect(try after.list(label: "secret").documents.map(\.id) == [sealed[1].id])
        #expect(try after.list(role: "eng").documents.count == 118)
        #expect(try after.list(role: "eng").documents.allSatisfy { $0.id != sealed[1].id && $0.id != sealed[2].id })
        #expect(try fullReplay().fieldsDiffering(from: after.state).isEmpty)
    }

    @Test("a save after another process of the identity saved writes the index rows the store holds now, not those of its own snapshot")
    func saveAfterAnotherProcessSaved() throws {
        let sealed = try sealMany(3, prefix: "s")
        let owner = try fixture.open()
        try owner.createRole(named: "eng", clearance: "confidential")
        _ = try owner.share([sealed[0].id.description], withRole: "eng")
        let label = try #require(owner.state.documents[sealed[1].id]).label
        let first = try fixture.open()  // its snapshot: s-0 shared to eng, s-1 under its first label
        // Another process changes both and saves; the first then changes them back from its own snapshot.
        _ = try fixture.open().unshare([sealed[0].id.description], fromRole: "eng", rekey: false)
        _ = try fixture.open().relabel(sealed[1].id.description, to: "secret", rekey: false)
        try first.refresh()  // the first catches up in memory, over its snapshot, and plans from there
        let eng = try #require(owner.state.roles.values.first { $0.name == "eng" }).id
        #expect(first.state.documents[sealed[0].id]?.current.wraps[eng] == nil)
        _ = try first.share([sealed[0].id.description], withRole: "eng")
        _ = try first.relabel(sealed[1].id.description, to: label, rekey: false)
        let after = try fixture.open()
        #expect(try after.list(role: "eng").documents.map(\.id) == [sealed[0].id])
        #expect(try after.list(label: "secret").documents.isEmpty)
        #expect(try after.list(label: label).documents.map(\.id).contains(sealed[1].id))
        #expect(try fullReplay().fieldsDiffering(from: after.state).isEmpty)
    }

    @Test("ls streams in seal order: the first document arrives after one page of records, every document once; a record deleted from the store fails the listing (exit 5) and is rebuilt")
    func streamingListing() throws {
        try fixture.seal("first.txt", [1])
        let bulk = try sealMany(600, prefix: "bulk")
        try fixture.seal("last.txt", [2])
        let vault = try fixture.open()
        var names: [String] = []
        var readBeforeFirst: Int?
        try vault.list { summary in
            if readBeforeFirst == nil { readBeforeFirst = vault.store?.recordsRead }
            names.append(summary.name)
        }
        #expect(try #require(readBeforeFirst) <= 512 + 2, "read \(readBeforeFirst ?? -1) records before the first document")
        #expect(names.count == 602 && Set(names).count == 602)
        #expect(names.first == "first.txt" && names.last == "last.txt")
        let sealedOrder = try fixture.open().state.documents.inSealOrder.map(\.sealOrder)
        #expect(sealedOrder == sealedOrder.sorted() && sealedOrder.count == 602)

        // An insider deletes one record from the store: the listing does not silently omit it.
        let victim = bulk[300].id
        try SQLiteDatabase(path: storePath, create: false).run("DELETE FROM documents WHERE id = ?", [.blob(victim.bytes)])
        #expect(throws: VaultError.self) { try fixture.open().list { _ in } }
        #expect(try fixture.open().list().documents.count == 602, "rebuilt from the ledger")
    }

    @Test("a store of an earlier format is dropped and rebuilt by one replay, not reported as damage")
    func earlierFormatRebuilt() throws {
        try populate()
        let path = storePath
        let database = try SQLiteDatabase(path: path, create: false)
        try database.run("UPDATE meta SET value = ? WHERE name = 'format'", [.blob(Array("coffer-state-store-v1".utf8))])
        let vault = try fixture.open()
        #expect(vault.catalog.entriesRead == Int(vault.state.entryCount), "one full replay")
        #expect(vault.state.fieldsDiffering(from: try fullReplay()) == [])
        #expect(try SQLiteDatabase(path: path, create: false).query("SELECT value FROM meta WHERE name = 'format'").first?.first?.blob == Array(StateStore.format.utf8))
    }

    @Test("another identity's store, or one with a changed core, fails once with exit 5 and is rebuilt")
    func foreignOrDamagedCore() throws {
        try populate()
        let path = storePath
        let bobState = fixture.scratch.join("bob-state")
        _ = try Vault.open(at: fixture.path, identity: bob, stateDirectory: .directory(bobState))
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        try FileManager.default.copyItem(atPath: bobState + "/\(bob.fingerprint)/" + (path as NSString).lastPathComponent, toPath: path)
        #expect { try fixture.open() } throws: { ($0 as? VaultError)?.kind == .integrity && "\($0)".contains("does not authenticate") }
        #expect(try fixture.open().state.fieldsDiffering(from: try fullReplay()) == [])

        let database = try SQLiteDatabase(path: path, create: false)
        try database.run("UPDATE meta SET value = CAST(value AS BLOB) || x'00' WHERE name = 'core'")
        #expect { try fixture.open() } throws: { ($0 as? VaultError)?.kind == .integrity }
        #expect(try fixture.open().state.fieldsDiffering(from: try fullReplay()) == [])
    }

    @Test("a changed document record fails the command that reads it, commits nothing, and is rebuilt")
    func damagedRecord() throws {
        let a = try fixture.seal("a.txt", Array("alpha".utf8))
        try fixture.seal("b.txt", Array("beta".utf8))
        let entries = try fixture.open().state.entryCount
        let database = try SQLiteDatabase(path: storePath, create: false)
        try database.run("UPDATE documents SET record = CAST(record AS BLOB) || x'00' WHERE id = ?", [.blob(a.id.bytes)])
        #expect { try fixture.read(a.id.description) } throws: { ($0 as? VaultError)?.kind == .integrity && "\($0)".contains("does not authenticate") }
        #expect(try fullReplay().entryCount == entries, "no entry was committed from the damaged record")
        #expect(try fixture.read(a.id.description) == Array("alpha".utf8))
        #expect(try fixture.read("b.txt") == Array("beta".utf8))
    }

    @Test("a changed record in a rotation's batch (read through the role index, authenticated on every core) fails the rotation before its rewraps commit; the rerun finishes it")
    func damagedRecordInRotation() throws {
        let sealed = try sealManySharedWithEng(600, prefix: "r")
        let database = try SQLiteDatabase(path: storePath, create: false)
        try database.run("UPDATE documents SET record = CAST(record AS BLOB) || x'00' WHERE id = ?", [.blob(sealed[421].id.bytes)])
        #expect { try fixture.open().rotateRole(named: "eng", plan: false) } throws: {
            ($0 as? VaultError)?.kind == .integrity && "\($0)".contains("does not authenticate")
        }
        let replayed = try fullReplay()
        let eng = try #require(replayed.roles.values.first { $0.name == "eng" })
        #expect(eng.currentVersion == 2 && replayed.wrapCounts[eng.id]?[1] == 600, "a new key, and no data key rewrapped under it")
        _ = try fixture.open().rotateRole(named: "eng", plan: false)
        let rotated = try fixture.open()
        #expect(rotated.state.fieldsDiffering(from: try fullReplay()) == [])
        #expect(try fixture.read(sealed[421].id.description) == Array("r 421".utf8))
    }

    @Test("a record put back from an older copy of the store is found by verify --deep")
    func recordRolledBack() throws {
        let a = try fixture.seal("a.txt", Array("alpha".utf8))
        let old = try SQLiteDatabase(path: storePath, create: false).query("SELECT record, mac FROM documents WHERE id = ?", [.blob(a.id.bytes)])[0]
        _ = try fixture.open().rekey([a.id.description], plan: false)
        #expect(try fixture.verify(deep: true).findings.isEmpty)
        try SQLiteDatabase(path: storePath, create: false).run("UPDATE documents SET record = ?, mac = ? WHERE id = ?", [old[0], old[1], .blob(a.id.bytes)])
        let report = try fixture.verify(deep: true)
        #expect(report.findings.contains { $0.check == "state" && $0.message.contains("documents") }, "\(report.findings)")
    }

    @Test("a vault rolled back behind the saved state is refused")
    func rollback() throws {
        try fixture.seal("a.txt", [1])
        let copy = fixture.scratch.join("old-copy")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        try fixture.seal("b.txt", [2])
        // Forget the remembered head so that only the saved state can notice.
        try FileManager.default.removeItem(atPath: fixture.stateDirectory + "/\(fixture.owner.fingerprint)/\(try fixture.open().state.vaultID).head")
        try FileManager.default.removeItem(atPath: fixture.path)
        try FileManager.default.copyItem(atPath: copy, toPath: fixture.path)
        #expect(throws: LedgerError.self) { try fixture.open() }
    }

    @Test("two processes of one identity: a save behind the store's takes the newer saved state")
    func sameIdentityTwice() throws {
        try fixture.seal("a.txt", [1])
        let behind = try fixture.open()
        try fixture.seal("b.txt", [2])
        let stale = behind.state.entryCount
        try behind.saveState()
        #expect(behind.state.entryCount > stale)
        #expect(behind.state.fieldsDiffering(from: try fullReplay()) == [])
        #expect(try behind.list().documents.map(\.name) == ["a.txt", "b.txt"])
    }
}

import Foundation
import Testing

@testable import CofferKit

@Suite("Object store and atomic files")
struct ObjectStoreTests {
    @Test("objects are named by their SHA-256, fanned out, read-only, and written once")
    func naming() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let bytes = Array("object".utf8)
        let id = try store.put(bytes)
        // `printf object | sha256sum`
        #expect(id.description == "2958d416d08aa5a472d7b509036cb7eafd542add84527e66a145ea64cb4cdc75")
        #expect(id.hash == .sha256 && id.names(bytes))
        #expect(store.path(of: id) == scratch.join("objects", String(id.description.prefix(2)), id.description))
        let mode = try FileManager.default.attributesOfItem(atPath: store.path(of: id))[.posixPermissions] as? Int
        #expect(mode == 0o444)
        #expect(try store.put(bytes) == id)
        try store.check(id)
        #expect(try store.allObjectIDs() == [id])
        // No temporary files remain.
        let fan = try FileManager.default.contentsOfDirectory(atPath: scratch.join("objects", String(id.description.prefix(2))))
        #expect(fan == [id.description])
    }

    @Test("corrupt, missing and oversized objects are typed integrity failures")
    func damage() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let id = try store.put(Array("object".utf8))
        try FileManager.default.removeItem(atPath: store.path(of: id))
        expectFailure(.integrity) { try store.check(id) }
        try Data("tampered".utf8).write(to: URL(fileURLWithPath: store.path(of: id)))
        expectFailure(.integrity) { try store.check(id) }
        let big = FileManager.default.createFile(atPath: store.path(of: id), contents: nil)
        #expect(big)
        truncate(store.path(of: id), off_t(ObjectStore.maximumObjectSize + 1))
        expectFailure(.integrity) { try store.check(id) }
    }

    @Test("an object read into a buffer must fit it; missing and oversized are integrity failures")
    func readIntoBuffer() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let id = try store.put(bytes)
        let fits = PlaintextBuffer(count: 8192)
        let tooSmall = PlaintextBuffer(count: 4096)
        for bypassingCache in [false, true] {
            fits.wipe(fits.bytes.count)
            #expect(try store.read(id, into: fits.bytes, bypassingCache: bypassingCache) == bytes.count)
            #expect(Array(fits.bytes[0..<bytes.count]) == bytes)
            expectFailure(.integrity) { _ = try store.read(id, into: tooSmall.bytes, bypassingCache: bypassingCache) }
        }
        try FileManager.default.removeItem(atPath: store.path(of: id))
        expectFailure(.integrity) { _ = try store.read(id, into: fits.bytes, bypassingCache: true) }
    }

    @Test("object references are kept in a private temporary file and read back one fan-out directory at a time")
    func references() throws {
        var ids: [ObjectID] = []
        // Both hash functions, as in a vault part-way through its upgrade.
        for n in 0..<3_000 { ids.append(try ObjectID(bytes: Blake2b.hash(Array("object \(n)".utf8)), hash: n % 3 == 0 ? .blake2b256 : .sha256)) }
        var references: ObjectReferences? = try ObjectReferences()
        // Every id twice, the second time with a long referrer (more than the 8 MiB held before
        // the files are appended to, so that some are read from the files and some from memory);
        // the first referrer is kept.
        for (n, id) in ids.enumerated() { try references!.insert(id, referencedBy: "first \(n)") }
        for id in ids { try references!.insert(id, referencedBy: String(repeating: "second ", count: 430)) }
        // Walked beside a store that holds none of them: every one is counted once, nothing is doomed.
        let empty = try ScratchDirectory()
        let sweep = try references!.unreferenced(in: ObjectStore(root: empty.join("objects")))
        #expect(sweep.referenced == ids.count && sweep.doomed.isEmpty)
        var seen: [ObjectID: String] = [:]
        for leadingByte in UInt8.min...UInt8.max {
            let fanOut = try references!.inFanOut(leadingByte)
            #expect(fanOut.keys.allSatisfy { $0.leadingByte == leadingByte })
            seen.merge(fanOut) { first, _ in first }
        }
        #expect(seen.count == ids.count)
        for (n, id) in ids.enumerated() {
            #expect(seen[id] == "first \(n)")
            #expect(seen.index(forKey: id).map { seen[$0].key.hash } == id.hash, "the hash function of \(id) comes back")
        }
        // The files are private, one per fan-out directory, and gone with the set.
        let path = references!.directory
        #expect(path.hasPrefix(FileSystem.temporaryDirectory + "/coffer-objects-"))
        #expect(try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int == 0o700)
        let files = try FileManager.default.contentsOfDirectory(atPath: path)
        #expect(files.count == Set(ids.map(\.leadingByte)).count)
        for file in files { #expect(try FileManager.default.attributesOfItem(atPath: path + "/" + file)[.posixPermissions] as? Int == 0o600) }
        // A file cut short or carrying an unknown hash function is a typed error, not a crash.
        let victim = ids[0].leadingByte
        let file = path + "/" + Hex.encode([victim])
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: file)))
        try Data(bytes.dropLast(3)).write(to: URL(fileURLWithPath: file))
        #expect(throws: FormatError.self) { _ = try references!.inFanOut(victim) }
        bytes[0] = 0xEE
        try Data(bytes).write(to: URL(fileURLWithPath: file))
        #expect(throws: FormatError.self) { _ = try references!.inFanOut(victim) }
        references = nil
        #expect(!FileManager.default.fileExists(atPath: path))
    }

    @Test("a killed process's scratch directory (unlocked, 0700, this user's) is removed by the next set any process makes; a live one's, a 0755 one and a planted link stay")
    func abandonedScratchRemoved() throws {
        let parent = FileSystem.temporaryDirectory
        // What a killed process leaves: its directory, with a reference file, that no process holds locked.
        let abandoned = FileSystem.join(parent, FileSystem.temporaryName(prefix: "coffer-objects-"))
        try FileManager.default.createDirectory(atPath: abandoned, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try Data([1, 2, 3]).write(to: URL(fileURLWithPath: abandoned + "/00"))
        // A live process's directory (held locked), and a directory of that name that no Coffer made (0755).
        let live = try StagingDirectory.scratch(prefix: "coffer-objects-")
        let foreign = FileSystem.join(parent, FileSystem.temporaryName(prefix: "coffer-objects-"))
        try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        defer { try? FileManager.default.removeItem(atPath: foreign) }
        // A link of that name, planted to a private directory elsewhere: neither followed nor removed.
        let target = FileSystem.join(parent, FileSystem.temporaryName(prefix: "coffer-test-target-"))
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try Data([4]).write(to: URL(fileURLWithPath: target + "/kept"))
        let link = FileSystem.join(parent, FileSystem.temporaryName(prefix: "coffer-objects-"))
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        defer {
            try? FileManager.default.removeItem(atPath: link)
            try? FileManager.default.removeItem(atPath: target)
        }
        let references = try ObjectReferences()
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(FileSystem.isDirectory(live.path))
        #expect(FileSystem.isDirectory(foreign))
        #expect(FileManager.default.fileExists(atPath: target + "/kept"))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == target)
        #expect(FileSystem.isDirectory(references.directory))
        // A replay's temporary store is swept the same way, and its directory goes with it.
        let replayLeft = FileSystem.join(parent, FileSystem.temporaryName(prefix: "coffer-replay-"))
        try FileManager.default.createDirectory(atPath: replayLeft, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        var store: StateStore? = try StateStore.temporary(vault: .random())
        #expect(!FileManager.default.fileExists(atPath: replayLeft))
        let storeDirectory = FileSystem.directoryName(of: try #require(store).path)
        #expect(FileSystem.isDirectory(storeDirectory))
        store = nil
        #expect(!FileManager.default.fileExists(atPath: storeDirectory))
    }

    @Test("the fan-out walk visits 00 to ff in order, each with only its own objects; a missing store has 256 empty ones")
    func fanOutWalk() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        var ids: Set<ObjectID> = []
        for n in 0..<600 { ids.insert(try store.put(Array("object \(n)".utf8))) }
        var visited: [UInt8] = []
        var found: Set<ObjectID> = []
        try store.forEachFanOut { leadingByte, entries in
            visited.append(leadingByte)
            for entry in entries {
                let id = try #require(entry.id)
                #expect(id.leadingByte == leadingByte && entry.name.hasPrefix(Hex.encode([leadingByte]) + "/"))
                found.insert(id)
            }
        }
        #expect(visited == Array(UInt8.min...UInt8.max) && found == ids)
        var empty = 0
        try ObjectStore(root: scratch.join("no-such-store")).forEachFanOut { _, entries in empty += entries.isEmpty ? 1 : 0 }
        #expect(empty == 256)
    }

    @Test("object ids are SHA-256 (the digest `sha256sum` prints), BLAKE2b-256 for a vault not yet upgraded, and parse strictly from hex")
    func ids() throws {
        let id = Array("x".utf8).withUnsafeBytes { ObjectID.of($0) }
        // `printf x | sha256sum`
        #expect(id.description == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881" && id.hash == .sha256)
        #expect(id.names(Array("x".utf8)) && !id.names(Array("y".utf8)))
        let legacy = Array("x".utf8).withUnsafeBytes { ObjectID.of($0, hash: .blake2b256) }
        #expect(legacy.bytes == Blake2b.hash(Array("x".utf8)) && legacy.names(Array("x".utf8)) && !id.computed(with: .blake2b256).names(Array("x".utf8)))
        #expect(try ObjectID(hex: id.description, hash: .sha256) == id)
        for bad in ["", String(id.description.dropLast()), id.description + "0", id.description.uppercased(), "zz" + id.description.dropFirst(2)] {
            #expect(throws: (any Error).self, "\(bad)") { try ObjectID(hex: bad, hash: .sha256) }
        }
    }

    @Test("an atomic file appears only on commit and vanishes if abandoned")
    func atomicFile() throws {
        let scratch = try ScratchDirectory()
        let target = scratch.join("out")
        do {
            let file = try AtomicFile(destination: target, mode: 0o600)
            try file.write(Array("partial".utf8))
            #expect(!FileManager.default.fileExists(atPath: target))
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path).isEmpty)
        let file = try AtomicFile(destination: target, mode: 0o600)
        try file.write(Array("whole".utf8))
        try file.commit(overwrite: false)
        #expect(FileManager.default.contents(atPath: target) == Data("whole".utf8))
        #expect(try FileManager.default.attributesOfItem(atPath: target)[.posixPermissions] as? Int == 0o600)
        expectFailure(.conflict) { try AtomicFile.write(Array("again".utf8), to: target, overwrite: false) }
        #expect(FileManager.default.contents(atPath: target) == Data("whole".utf8))
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path) == ["out"])
    }

    @Test("a fan-out directory linked to another store's is neither walked nor deleted through")
    func linkedFanOut() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let victim = try ObjectStore.create(at: scratch.join("victim"))
        let id = try victim.put(Array("victim's object".utf8))
        let fan = String(id.description.prefix(2))
        try FileManager.default.removeItem(atPath: scratch.join("objects", fan))
        try FileManager.default.createSymbolicLink(atPath: scratch.join("objects", fan), withDestinationPath: scratch.join("victim", fan))
        #expect(try store.allObjectIDs().isEmpty)
        #expect(!store.contains(id))
        #expect(store.sizes(of: [id]).isEmpty)
        #expect(throws: UnsafeEntryError.self) { try store.remove(["\(fan)/\(id)"]) }
        expectFailure(.integrity) { try store.check(id) }
        #expect(throws: UnsafeEntryError.self) { try store.put(Array("victim's object".utf8)) }
        #expect(try victim.allObjectIDs() == [id])
        try victim.check(id)
    }

    @Test("a FIFO or a directory in place of an object is an integrity failure at once, and not walked", arguments: ["fifo", "directory"])
    func specialInPlaceOfObject(kind: String) throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let id = try store.put(Array("object".utf8))
        try FileManager.default.removeItem(atPath: store.path(of: id))
        if kind == "fifo" {
            #expect(mkfifo(store.path(of: id), 0o600) == 0)
        } else {
            try FileManager.default.createDirectory(atPath: store.path(of: id), withIntermediateDirectories: false)
        }
        #expect(throws: UnsafeEntryError.self) { try store.check(id) }
        expectFailure(.integrity) { _ = try store.read(id) }
        #expect(try store.allObjectIDs().isEmpty)
    }
}

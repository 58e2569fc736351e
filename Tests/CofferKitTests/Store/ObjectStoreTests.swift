import Foundation
import Testing

@testable import CofferKit

@Suite("Object store and atomic files")
struct ObjectStoreTests {
    @Test("objects are named by their BLAKE2b-256, fanned out, read-only, and written once")
    func naming() throws {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        let bytes = Array("object".utf8)
        let id = try store.put(bytes)
        #expect(id.bytes == Blake2b.hash(bytes))
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

    @Test("object ids parse strictly from hex")
    func ids() throws {
        let id = Array("x".utf8).withUnsafeBytes(ObjectID.of)
        #expect(try ObjectID(hex: id.description) == id)
        for bad in ["", String(id.description.dropLast()), id.description + "0", id.description.uppercased(), "zz" + id.description.dropFirst(2)] {
            #expect(throws: (any Error).self, "\(bad)") { try ObjectID(hex: bad) }
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
        #expect(throws: UnsafeEntryError.self) { try store.remove([id]) }
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

import CPlatform
import Foundation
import Testing

@testable import CofferKit

@Suite("Direct I/O around the page cache")
struct DirectIOTests {
    /// Sizes around the direct I/O block, and a whole sealed segment.
    static let sizes = [0, 1, 4095, 4096, 4097, 3 * 4096, (4 << 20) + 1029]

    @Test("writes and reads round-trip at every size around the block, from aligned and unaligned buffers")
    func roundTrip() throws {
        let scratch = try ScratchDirectory()
        let source = PlaintextBuffer(count: Self.sizes.max()! + 1)
        for index in source.bytes.indices { source.bytes[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 12) }
        for size in Self.sizes {
            for shift in [0, 1] {  // page-aligned, then not
                let label = "\(size) bytes, \(shift == 0 ? "aligned" : "unaligned")"
                let expected = UnsafeRawBufferPointer(rebasing: source.bytes[shift..<(shift + size)])
                let path = scratch.join("f-\(size)-\(shift)")
                try CacheBypassingWriter(POSIXFile.createExclusive(path)).write(expected, at: 0)
                let written = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
                #expect(written == Array(expected), "\(label)")

                for readShift in [0, 1] {
                    let capacity = (size + 4095) / 4096 * 4096
                    let buffer = PlaintextBuffer(count: capacity + readShift)
                    let target = UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[readShift...])
                    let count = try POSIXFile.openForReading(path).readBypassingCache(into: target)
                    #expect(count == size, "\(label), read shifted by \(readShift)")
                    #expect(Array(target[0..<count]) == written, "\(label), read shifted by \(readShift)")
                }
            }
        }
    }

    @Test("parts written at their offsets from several threads at once, in any order, make the whole file")
    func positionalWrites() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.join("parts")
        let writer = CacheBypassingWriter(try POSIXFile.createExclusive(path))
        let part = 3 * 4096
        let whole = PlaintextBuffer(count: 5 * part + 1234)
        for index in whole.bytes.indices { whole.bytes[index] = UInt8(truncatingIfNeeded: index &* 13 &+ index >> 9) }
        let bytes = UnsafeRawBufferPointer(whole.bytes)
        let failures = FailureLog()
        DispatchQueue.concurrentPerform(iterations: 6) { reversed in
            let index = 5 - reversed
            do {
                let range = (index * part)..<min((index + 1) * part, whole.bytes.count)
                try writer.write(UnsafeRawBufferPointer(rebasing: whole.bytes[range]), at: index * part)
            } catch {
                failures.add("part \(index): \(error)")
            }
        }
        #expect(failures.all.isEmpty, "\(failures.all)")
        #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == Array(bytes))
        // At an unaligned offset, a write goes through the page cache.
        try writer.write(UnsafeRawBufferPointer(rebasing: bytes[0..<part]), at: 100)
        let rewritten = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(Array(rewritten[100..<(100 + part)]) == Array(bytes[0..<part]))
        #expect(Array(rewritten[0..<100]) == Array(bytes[0..<100]))
    }

    @Test("a read into a buffer smaller than the file stops at the buffer")
    func shortBuffer() throws {
        let scratch = try ScratchDirectory()
        let bytes = (0..<(3 * 4096 + 7)).map { UInt8(truncatingIfNeeded: $0) }
        let path = try scratch.write("f", bytes)
        let buffer = PlaintextBuffer(count: 2 * 4096)
        #expect(try POSIXFile.openForReading(path).readBypassingCache(into: buffer.bytes) == 2 * 4096)
        #expect(Array(buffer.bytes) == Array(bytes[..<(2 * 4096)]))
    }

    @Test("where the file system has direct I/O, a segment's aligned part never enters the page cache, written or read")
    func bypassesCache() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.join("segment")
        let file = try POSIXFile.createExclusive(path)
        guard Self.hasDirectIO(file), !Self.isTmpfs(scratch.path) else { return }  // tmpfs *is* its page cache
        let size = (4 << 20) + 1029
        let buffer = PlaintextBuffer(count: size)
        for index in buffer.bytes.indices { buffer.bytes[index] = UInt8(truncatingIfNeeded: index) }
        try CacheBypassingWriter(file).write(UnsafeRawBufferPointer(buffer.bytes), at: 0)
        let resident = try Self.residentPages(path)
        #expect(resident.count == (size + 4095) / 4096)
        #expect(resident.dropLast().allSatisfy { !$0 }, "\(resident.filter { $0 }.count) pages cached")

        // Written normally and then evicted, a file read around the cache stays out of it.
        let other = try scratch.write("other", Array(buffer.bytes))
        let written = try POSIXFile.openForReading(other)
        try written.sync()
        #expect(posix_fadvise(written.descriptor, 0, 0, POSIX_FADV_DONTNEED) == 0)
        let target = PlaintextBuffer(count: (size + 4095) / 4096 * 4096)
        #expect(try written.readBypassingCache(into: target.bytes) == size)
        #expect(Array(target.bytes[0..<size]) == Array(buffer.bytes))
        #expect(try Self.residentPages(other).dropLast().allSatisfy { !$0 })
    }

    /// Whether direct I/O can be turned on for `file` (and turns it off again).
    static func hasDirectIO(_ file: POSIXFile) -> Bool {
        guard coffer_set_direct_io(file.descriptor, 1) == 0 else { return false }
        return coffer_set_direct_io(file.descriptor, 0) == 0
    }

    /// Whether `path` is on a tmpfs (the mount with the longest matching
    /// mount point in `/proc/self/mounts`).
    static func isTmpfs(_ path: String) -> Bool {
        guard let mounts = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return false }
        let resolved = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        var best: (mountPoint: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count > 2 else { continue }
            let mountPoint = fields[1]
            let contains = mountPoint == "/" || resolved == mountPoint || resolved.hasPrefix(mountPoint + "/")
            if contains, mountPoint.count >= (best?.mountPoint.count ?? 0) { best = (mountPoint, fields[2]) }
        }
        return best?.type == "tmpfs"
    }

    /// For each page of the file at `path`, whether it is in the page cache (`mincore`).
    static func residentPages(_ path: String) throws -> [Bool] {
        let file = try POSIXFile.openForReading(path)
        let size = Int(try file.status().st_size)
        guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, file.descriptor, 0), map != MAP_FAILED else {
            throw TestFailure("mmap failed: errno \(errno)")
        }
        defer { munmap(map, size) }
        var pages = [UInt8](repeating: 0, count: (size + 4095) / 4096)
        guard mincore(map, size, &pages) == 0 else { throw TestFailure("mincore failed: errno \(errno)") }
        return pages.map { $0 & 1 != 0 }
    }
}

/// Errors collected from several threads.
private final class FailureLog: @unchecked Sendable {
    private let lock = NSLock()
    private var failures: [String] = []

    func add(_ failure: String) {
        lock.lock()
        failures.append(failure)
        lock.unlock()
    }

    var all: [String] {
        lock.lock()
        defer { lock.unlock() }
        return failures
    }
}

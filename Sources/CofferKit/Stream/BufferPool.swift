#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// A page-aligned buffer for plaintext in flight. Excluded from core dumps
/// (`MADV_DONTDUMP`) and wiped before it is reused or freed.
final class PlaintextBuffer: @unchecked Sendable {
    /// The whole buffer.
    let bytes: UnsafeMutableRawBufferPointer

    init(count: Int) {
        let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))
        let rounded = (count + pageSize - 1) / pageSize * pageSize
        let base = UnsafeMutableRawPointer.allocate(byteCount: rounded, alignment: pageSize)
        #if canImport(Glibc)
        _ = madvise(base, rounded, MADV_DONTDUMP)
        #endif
        bytes = UnsafeMutableRawBufferPointer(start: base, count: count)
    }

    /// Zeroes the first `count` bytes.
    func wipe(_ count: Int) {
        Sodium.wipe(UnsafeMutableRawBufferPointer(rebasing: bytes[0..<Swift.min(count, bytes.count)]))
    }

    deinit {
        Sodium.wipe(bytes)
        bytes.deallocate()
    }
}

/// A small pool of equally sized buffers, so a pipeline of any length reuses
/// the same few allocations (constant memory).
final class BufferPool: @unchecked Sendable {
    private let lock = NSLock()
    private var free: [PlaintextBuffer] = []
    /// Size of every buffer.
    let bufferSize: Int

    init(bufferSize: Int) {
        self.bufferSize = bufferSize
    }

    private nonisolated(unsafe) static var sharedPools: [Int: BufferPool] = [:]
    private static let sharedLock = NSLock()

    /// The process-wide pool of `bufferSize` buffers: streams sealed or
    /// opened one after another (a batch of small documents) reuse the same
    /// few buffers instead of mapping, wiping and unmapping their own. It
    /// holds at most what the busiest stream had in flight at once.
    static func shared(bufferSize: Int) -> BufferPool {
        sharedLock.lock()
        defer { sharedLock.unlock() }
        if let pool = sharedPools[bufferSize] { return pool }
        let pool = BufferPool(bufferSize: bufferSize)
        sharedPools[bufferSize] = pool
        return pool
    }

    /// A buffer from the pool, or a new one.
    func take() -> PlaintextBuffer {
        lock.lock()
        defer { lock.unlock() }
        return free.popLast() ?? PlaintextBuffer(count: bufferSize)
    }

    /// Returns a buffer after wiping its first `used` bytes.
    func give(_ buffer: PlaintextBuffer, used: Int) {
        buffer.wipe(used)
        lock.lock()
        free.append(buffer)
        lock.unlock()
    }
}

import Crypto
import Foundation

/// SHA-256 on a thread of its own, so that hashing a document runs in
/// parallel with decrypting and re-encrypting it. Bytes are copied into at
/// most ``depth`` wiped plaintext buffers; ``update(_:)`` waits when all
/// are queued, so memory stays bounded.
final class BackgroundHasher: @unchecked Sendable {
    /// Buffers queued at most.
    static let depth = 2
    /// Size of each buffer (one content segment).
    static let bufferSize = StreamGeometry.standard.segmentPlaintextSize

    private let pool = BufferPool(bufferSize: bufferSize)
    private let condition = NSCondition()
    private var queue: [(PlaintextBuffer, Int)] = []
    private var hash = SHA256()
    private var closed = false
    private var done = false

    /// Starts the hashing thread.
    init() {
        let thread = Thread { [self] in run() }
        thread.stackSize = 1 << 20
        thread.start()
    }

    /// Queues bytes for hashing (copied; the caller may reuse its buffer).
    func update(_ bytes: UnsafeRawBufferPointer) {
        var offset = 0
        while offset < bytes.count {
            let count = min(Self.bufferSize, bytes.count - offset)
            condition.lock()
            while queue.count >= Self.depth { condition.wait() }
            condition.unlock()
            let buffer = pool.take()
            buffer.bytes.copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)]))
            condition.lock()
            queue.append((buffer, count))
            condition.broadcast()
            condition.unlock()
            offset += count
        }
    }

    /// Waits for everything queued to be hashed and returns the digest.
    func finalize() -> [UInt8] {
        condition.lock()
        closed = true
        condition.broadcast()
        while !done { condition.wait() }
        condition.unlock()
        return Array(hash.finalize())
    }

    private func run() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty {
                done = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let (buffer, count) = queue[0]
            condition.unlock()
            hash.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
            pool.give(buffer, used: count)
            condition.lock()
            queue.removeFirst()
            condition.broadcast()
            condition.unlock()
        }
    }
}

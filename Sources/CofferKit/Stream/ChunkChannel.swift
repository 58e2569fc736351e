import Foundation

/// A bounded queue of byte chunks between Swift concurrency and a thread
/// of Coffer's own: the seal and open pipelines read and write
/// synchronously, an `AsyncSequence` awaits. One side sends, the other
/// receives; each side is either async (it awaits, never blocking a
/// cooperative thread) or a thread (it blocks). At most ``capacity`` bytes
/// wait in it, so memory stays bounded whichever side is slower.
///
/// Either side may stop early: ``finish(throwing:)`` ends the stream for the
/// receiver (after what is queued), ``cancel()`` tells the sender that nobody
/// receives any more (its next send throws `CancellationError`).
final class ChunkChannel: @unchecked Sendable {
    /// Bytes that may wait in the channel before a sender waits.
    let capacity: Int
    private let condition = NSCondition()
    private var queue: [[UInt8]] = []
    private var head = 0
    private var queuedBytes = 0
    private var finished = false
    private var failure: (any Error)?
    private var cancelled = false
    /// An async receiver waiting for a chunk.
    private var receiver: CheckedContinuation<[UInt8]?, any Error>?
    /// An async sender waiting for room.
    private var sender: CheckedContinuation<Void, any Error>?

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Bytes queued now (for tests of the bound).
    var queuedByteCount: Int { condition.withLock { queuedBytes } }

    // MARK: Sending

    /// Sends `chunk`, awaiting room (async side).
    /// - Throws: `CancellationError` once the receiver has stopped.
    func send(_ chunk: [UInt8]) async throws {
        while true {
            let outcome: SendOutcome = condition.withLock { offer(chunk) }
            switch outcome {
            case .delivered(let waiting):
                waiting?.resume(returning: chunk)
                return
            case .queued:
                return
            case .cancelled:
                throw CancellationError()
            case .full:
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                    let ready: Bool = condition.withLock {
                        if cancelled || queuedBytes < capacity { return true }
                        sender = continuation
                        return false
                    }
                    if ready { continuation.resume() }
                }
            }
        }
    }

    /// Sends `chunk`, blocking while the channel is full (thread side).
    /// - Throws: `CancellationError` once the receiver has stopped.
    func sendBlocking(_ chunk: [UInt8]) throws {
        condition.lock()
        while !cancelled, queuedBytes >= capacity, receiver == nil { condition.wait() }
        let outcome = offer(chunk)
        condition.unlock()
        switch outcome {
        case .delivered(let waiting): waiting?.resume(returning: chunk)
        case .queued: break
        case .cancelled: throw CancellationError()
        case .full: preconditionFailure("room was waited for")
        }
    }

    /// Ends the stream: the receiver gets what is queued, then the end (or `error`).
    func finish(throwing error: (any Error)? = nil) {
        let waiting: CheckedContinuation<[UInt8]?, any Error>? = condition.withLock {
            guard !finished else { return nil }
            finished = true
            failure = error
            condition.broadcast()
            defer { receiver = nil }
            return receiver
        }
        if let error { waiting?.resume(throwing: error) } else { waiting?.resume(returning: nil) }
    }

    // MARK: Receiving

    /// The next chunk, awaiting one (async side); nil at the end.
    /// - Throws: the error the sender finished with.
    func receive() async throws -> [UInt8]? {
        if let ready = try condition.withLock({ try takeIfReady() }) {
            ready.sender?.resume()
            return ready.chunk
        }
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[UInt8]?, any Error>) in
            let ready: Result<Taken?, any Error> = condition.withLock {
                do {
                    if let taken = try takeIfReady() { return .success(taken) }
                    receiver = continuation
                    condition.broadcast()  // a blocked sender may hand its chunk over now
                    return .success(nil)
                } catch {
                    return .failure(error)
                }
            }
            switch ready {
            case .success(let taken?):
                taken.sender?.resume()
                continuation.resume(returning: taken.chunk)
            case .success(nil): break
            case .failure(let error): continuation.resume(throwing: error)
            }
        }
    }

    /// The next chunk, blocking until there is one (thread side); nil at the end.
    /// - Throws: the error the sender finished with.
    func receiveBlocking() throws -> [UInt8]? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let taken = try takeIfReady() {
                if let waiting = taken.sender {
                    // Resumed outside the lock: the sender's task may run at once.
                    condition.unlock()
                    waiting.resume()
                    condition.lock()
                }
                return taken.chunk
            }
            condition.wait()
        }
    }

    /// Tells the sender that nothing more is received: its next send throws.
    func cancel() {
        let waiting: CheckedContinuation<Void, any Error>? = condition.withLock {
            cancelled = true
            queue.removeAll()
            head = 0
            queuedBytes = 0
            condition.broadcast()
            defer { sender = nil }
            return sender
        }
        waiting?.resume()
    }

    // MARK: Under the lock

    private enum SendOutcome {
        /// Handed straight to a waiting async receiver (to resume outside the lock).
        case delivered(CheckedContinuation<[UInt8]?, any Error>?)
        case queued
        case cancelled
        case full
    }

    /// Queues `chunk` or hands it to a waiting receiver, if there is room.
    private func offer(_ chunk: [UInt8]) -> SendOutcome {
        if cancelled { return .cancelled }
        if let waiting = receiver {
            receiver = nil
            return .delivered(waiting)
        }
        guard queuedBytes < capacity else { return .full }
        queue.append(chunk)
        queuedBytes += chunk.count
        condition.broadcast()
        return .queued
    }

    private struct Taken {
        let chunk: [UInt8]?
        /// An async sender that was waiting for room, to resume outside the lock.
        let sender: CheckedContinuation<Void, any Error>?
    }

    /// The next queued chunk, or the end; nil if the receiver must wait.
    private func takeIfReady() throws -> Taken? {
        if head < queue.count {
            let chunk = queue[head]
            head += 1
            queuedBytes -= chunk.count
            if head > 64, head * 2 > queue.count {
                queue.removeFirst(head)
                head = 0
            }
            condition.broadcast()
            let waiting = queuedBytes < capacity ? sender : nil
            if waiting != nil { sender = nil }
            return Taken(chunk: chunk, sender: waiting)
        }
        if finished {
            if let failure { throw failure }
            return Taken(chunk: nil, sender: nil)
        }
        return nil
    }
}

/// The receiving end of a ``ChunkChannel`` as a ``ByteSource`` (a seal's
/// input): it fills each buffer whole from as many chunks as it takes, as a
/// file does, so that only the last read is short.
final class ChannelSource: ByteSource {
    private let channel: ChunkChannel
    private var pending: [UInt8] = []
    private var offset = 0
    private var ended = false

    init(_ channel: ChunkChannel) {
        self.channel = channel
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < buffer.count, !ended {
            if offset == pending.count {
                guard let next = try channel.receiveBlocking() else {
                    ended = true
                    break
                }
                pending = next
                offset = 0
                continue
            }
            let count = min(buffer.count - filled, pending.count - offset)
            pending.withUnsafeBytes { (buffer.baseAddress! + filled).copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            offset += count
            filled += count
        }
        return filled
    }
}

import Dispatch
import Foundation

/// Streaming age encryption to a sink, in constant memory (a batch of
/// 64 KiB chunks of plaintext and two of ciphertext, 6 MiB in all)
/// whatever the size. The chunks of a batch are sealed on all cores at
/// once (STREAM chunks are independent once their counters are known),
/// while the previous batch is written to the sink on a thread of its own.
///
/// ```swift
/// let encryptor = try AgeEncryptor(recipients: [.x25519(recipient)], sink: fileSink)
/// try encryptor.write(block)      // any number of times, any sizes
/// try encryptor.finish()          // seals the final chunk; required
/// ```
///
/// The header (and the armor's BEGIN line) is written by `init`. Without
/// ``finish()`` the output is not a valid age file, and decryption reports
/// it as truncated.
public final class AgeEncryptor<Sink: AgeSink> {
    /// The sink, for reading back what it collected (such as ``AgeBytesSink/bytes``).
    public private(set) var sink: Sink

    private var armor: AgeArmorEncoder?
    private var sealer: AgePayloadSealer
    /// One batch of plaintext chunks and their ciphertext (the buffers age decryption uses too).
    private let buffers = AgeChunkBuffers()
    /// A second batch of ciphertext: one is written while the other is filled.
    private let spare = UnsafeMutableRawBufferPointer.allocate(byteCount: AgeChunkBuffers.chunkCount * AgePayload.sealedChunkByteCount, alignment: 16)
    private var batches = 0
    private let writes = BackgroundWrite()
    private var buffered = 0
    private var state = State.open

    /// Plaintext sealed together (2 MiB).
    private static var batchByteCount: Int { AgeChunkBuffers.chunkCount * AgePayload.chunkByteCount }

    private enum State {
        case open, finished, failed
    }

    /// Starts an age file for `recipients` and writes its header to `sink`.
    /// - Parameters:
    ///   - recipients: one or more X25519 recipients, or exactly one passphrase.
    ///   - armored: write ASCII armor (`-----BEGIN AGE ENCRYPTED FILE-----`).
    ///   - sink: where the encrypted file goes.
    /// - Throws: ``AgeError/invalidUse(_:)`` or ``AgeError/invalidRecipient(_:)``
    ///   for bad recipients; ``CryptoError`` if scrypt cannot allocate its
    ///   memory; errors of `sink`.
    public init(recipients: [AgeRecipient], armored: Bool = false, sink: Sink) throws {
        self.sink = sink
        armor = armored ? AgeArmorEncoder() : nil
        let fileKey = AgeFileKey.random()
        let stanzas = try AgeWrap.stanzas(for: recipients, fileKey: fileKey)
        let authenticated = AgeHeader.encodeAuthenticatedBytes(stanzas)
        let mac = AgeHeaderMAC.compute(fileKey: fileKey, authenticatedBytes: authenticated)
        let nonce = Sodium.randomBytes(AgePayload.nonceByteCount)
        sealer = AgePayloadSealer(key: AgePayload.key(fileKey: fileKey, nonce: nonce))
        do {
            try emit(AgeHeader.encode(authenticatedBytes: authenticated, mac: mac) + nonce)
        } catch {
            state = .failed
            throw error
        }
    }

    deinit {
        try? writes.wait()  // a write in flight holds a strong reference; this only waits out a failed one
        spare.deallocate()
    }

    /// Encrypts more plaintext. A full batch of chunks is sealed and written
    /// as soon as more data follows it.
    /// - Throws: ``AgeError/invalidUse(_:)`` after ``finish()`` or an earlier
    ///   failure; errors of the sink.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try checkOpen()
        var offset = 0
        while offset < bytes.count {
            if buffered == Self.batchByteCount {
                // More data follows, so the buffered chunks are not the last ones.
                try sealBuffered(last: false)
            }
            let take = min(Self.batchByteCount - buffered, bytes.count - offset)
            (buffers.plain.baseAddress! + buffered).copyMemory(from: bytes.baseAddress! + offset, byteCount: take)
            buffered += take
            offset += take
        }
    }

    /// Encrypts more plaintext.
    /// - Throws: as ``write(_:)-(UnsafeRawBufferPointer)``.
    public func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Seals the final chunk (empty only if nothing was written) and ends
    /// the armor. Call exactly once.
    /// - Throws: ``AgeError/invalidUse(_:)`` if already finished or failed;
    ///   errors of the sink.
    public func finish() throws {
        try checkOpen()
        try sealBuffered(last: true)
        do {
            try writes.wait()
            if var armor {
                try armor.finish(to: &sink)
                self.armor = armor
            }
        } catch {
            state = .failed
            throw error
        }
        state = .finished
    }

    private func checkOpen() throws {
        switch state {
        case .open: return
        case .finished: throw AgeError.invalidUse("the age file is already finished")
        case .failed: throw AgeError.invalidUse("an earlier write failed; the age file is incomplete")
        }
    }

    /// Seals the buffered chunks, in parallel; with `last`, the final chunk
    /// is the (possibly short or empty) last one of the buffer.
    private func sealBuffered(last: Bool) throws {
        let chunk = AgePayload.chunkByteCount
        let count = last ? max(1, (buffered + chunk - 1) / chunk) : buffered / chunk
        let first = sealer.reserve(count, endingWithLast: last)
        let sealer = self.sealer
        // Each iteration touches its own chunk of both buffers only. The
        // ciphertext goes to the buffer not being written: the write of the
        // batch before last has finished (``BackgroundWrite`` waits for it).
        let target = SealTarget(plain: buffers.plain, sealed: batches % 2 == 0 ? buffers.sealed : spare)
        batches += 1
        let filled = buffered
        let seal = { @Sendable (i: Int) in
            let start = i * chunk
            let end = min(start + chunk, filled)
            let outStart = i * AgePayload.sealedChunkByteCount
            sealer.seal(
                UnsafeRawBufferPointer(rebasing: target.plain[start..<end]), counter: first + UInt64(i), last: last && i == count - 1,
                into: UnsafeMutableRawBufferPointer(rebasing: target.sealed[outStart..<(outStart + end - start + AEAD.tagByteCount)]))
        }
        if count > 1 { DispatchQueue.concurrentPerform(iterations: count, execute: seal) } else { seal(0) }
        let output = UnsafeRawBufferPointer(rebasing: target.sealed[..<(filled + count * AEAD.tagByteCount)])
        buffered = 0
        do {
            try writes.start { try self.emit(output) }
        } catch {
            state = .failed
            throw error
        }
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try emit($0) }
    }

    private func emit(_ bytes: UnsafeRawBufferPointer) throws {
        if var encoder = armor {
            armor = nil  // keep the encoder uniquely referenced while it runs
            defer { armor = encoder }
            try encoder.write(bytes, to: &sink)
        } else {
            try sink.write(bytes)
        }
    }
}

/// The plaintext batch and the ciphertext buffer it is sealed into; the
/// sealing threads each touch their own chunk of both.
private struct SealTarget: @unchecked Sendable {
    let plain: UnsafeMutableRawBufferPointer
    let sealed: UnsafeMutableRawBufferPointer
}

/// One write at a time on a serial queue of its own: ``start(_:)`` waits
/// for the write in flight, then hands over the next, so a batch is
/// written while the next one is sealed. The first error is kept and
/// rethrown by every later call.
private final class BackgroundWrite: @unchecked Sendable {
    private let queue = DispatchQueue(label: "coffer.age.write")
    private let group = DispatchGroup()
    private let lock = NSLock()
    private var failure: (any Error)?

    /// Waits for the write in flight; rethrows the first failure.
    func wait() throws {
        group.wait()
        if let failure = lock.withLock({ failure }) { throw failure }
    }

    /// Waits for the write in flight, then starts `write`.
    func start(_ write: @escaping () throws -> Void) throws {
        try wait()
        let job = Job(run: write)
        group.enter()
        queue.async {
            do { try job.run() } catch { self.lock.withLock { if self.failure == nil { self.failure = error } } }
            self.group.leave()
        }
    }

    /// A write handed to the queue; the caller touches nothing it uses until ``wait()``.
    private struct Job: @unchecked Sendable {
        let run: () throws -> Void
    }
}

import Dispatch

/// The age payload: a 16-byte nonce, then the plaintext in 64 KiB chunks
/// under ChaCha20-Poly1305 (the STREAM construction).
///
/// ```
/// payload key = HKDF-SHA-256(ikm: file key, salt: nonce, info: "payload")
/// chunk nonce = 11-byte big-endian chunk counter || 0x01 if last else 0x00
/// ```
///
/// The final chunk may be shorter than 64 KiB, and is empty only when the
/// whole payload is empty.
enum AgePayload {
    /// Length of the payload nonce that follows the header.
    static let nonceByteCount = 16
    /// Plaintext bytes per chunk.
    static let chunkByteCount = 64 * 1024
    /// Ciphertext bytes per full chunk.
    static let sealedChunkByteCount = chunkByteCount + AEAD.tagByteCount

    /// Derives the payload key.
    static func key(fileKey: AgeFileKey, nonce: [UInt8]) -> SymmetricKey {
        HKDF.deriveKey(inputKeyMaterial: fileKey.bytes, salt: nonce, info: "payload")
    }

    /// The 12-byte nonce of chunk `counter`. Unique per chunk and key: the
    /// payload key is new for every file (fresh file key and nonce), the
    /// counter never repeats within a file, and the last-chunk flag tells a
    /// final chunk from a non-final one at the same position.
    static func chunkNonce(counter: UInt64, last: Bool) -> [UInt8] {
        var nonce = [UInt8](repeating: 0, count: 12)
        for i in 0..<8 { nonce[10 - i] = UInt8(truncatingIfNeeded: counter >> (8 * UInt64(i))) }
        nonce[11] = last ? 1 : 0
        return nonce
    }
}

/// Encrypts payload chunks in order.
struct AgePayloadSealer {
    private let key: SymmetricKey
    private var counter: UInt64 = 0
    private var finished = false

    /// A sealer under `key`.
    init(key: SymmetricKey) {
        self.key = key
    }

    /// Seals the next chunk into `output` (`chunk.count + 16` bytes).
    mutating func seal(_ chunk: UnsafeRawBufferPointer, last: Bool, into output: UnsafeMutableRawBufferPointer) {
        let counter = reserve(1, endingWithLast: last)
        seal(chunk, counter: counter, last: last, into: output)
    }

    /// Claims the counters of the next `count` chunks (the last of them
    /// final if `endingWithLast`) and returns the first; the chunks may
    /// then be sealed in any order, on any thread.
    mutating func reserve(_ count: Int, endingWithLast last: Bool) -> UInt64 {
        precondition(!finished, "no chunk after the final one")
        let first = counter
        counter += UInt64(count)
        finished = last
        return first
    }

    /// Seals one chunk whose counter was reserved.
    func seal(_ chunk: UnsafeRawBufferPointer, counter: UInt64, last: Bool, into output: UnsafeMutableRawBufferPointer) {
        precondition(chunk.count <= AgePayload.chunkByteCount && (last || chunk.count == AgePayload.chunkByteCount))
        let nonce = AgePayload.chunkNonce(counter: counter, last: last)
        nonce.withUnsafeBytes { n in
            AEAD.chaCha20Poly1305.seal(chunk, into: output, key: key, nonce: n, associatedData: UnsafeRawBufferPointer(start: nil, count: 0))
        }
    }
}

/// Decrypts a payload from a reader, releasing each chunk's plaintext as
/// soon as it is authenticated (as age's `stream.Reader` does).
struct AgePayloadOpener {
    private let key: SymmetricKey
    private var counter: UInt64 = 0
    /// The final chunk was returned; the input must end now.
    private var finalReturned = false
    private var finished = false
    /// A failure found in a batch, thrown once the chunks before it were returned.
    private var pendingFailure: AgeError?

    /// An opener under `key`.
    init(key: SymmetricKey) {
        self.key = key
    }

    /// Decrypts every chunk from `reader` to `sink`.
    /// - Throws: ``AgeError/payload(_:)``; the sink has then received the
    ///   plaintext of every chunk before the failing one (and, for trailing
    ///   data, of the final chunk too). Source and sink errors pass through.
    mutating func decrypt<Sink: AgeSink>(from reader: inout AgeBufferedReader, to sink: inout Sink) throws {
        let buffers = AgeChunkBuffers()
        while let n = try nextBatch(from: &reader, buffers: buffers) {
            try sink.write(UnsafeRawBufferPointer(rebasing: buffers.plain[..<n]))
        }
    }

    /// Decrypts the next batch of chunks into `buffers.plain` and returns
    /// the plaintext length, or nil once the final chunk was returned and
    /// the input has ended.
    ///
    /// Reads up to ``AgeChunkBuffers/chunkCount`` sealed chunks. Every chunk
    /// but the batch's last is followed by more data, so it is not final:
    /// those are opened on all cores at once. The last one is opened alone:
    /// a short chunk is final; a full one is tried as non-final, then as final.
    /// - Throws: ``AgeError/payload(_:)`` (truncation, a failed chunk, data
    ///   after the final chunk), after returning the chunks before the
    ///   failing one; source errors pass through.
    mutating func nextBatch(from reader: inout AgeBufferedReader, buffers: AgeChunkBuffers) throws -> Int? {
        if let pendingFailure {
            self.pendingFailure = nil
            finished = true
            throw pendingFailure
        }
        guard !finished else { return nil }
        if finalReturned {
            var probe: UInt8 = 0
            let extra = try withUnsafeMutableBytes(of: &probe) { try reader.read(into: $0) }
            guard extra == 0 else { throw AgeError.payload("data follows the final chunk") }
            finished = true
            return nil
        }
        let n = try reader.readFull(into: buffers.sealed)
        if n == 0 {
            throw AgeError.payload(counter == 0
                ? "the payload has no chunk"
                : "the file is truncated: it ends after chunk \(counter) without a final chunk")
        }
        let sealedSize = AgePayload.sealedChunkByteCount
        let chunks = (n + sealedSize - 1) / sealedSize
        // Chunks 0 ..< chunks - 1: full, followed by more data, not final.
        let inner = chunks - 1
        var firstFailure = inner
        if inner > 0 {
            let opened = InnerChunks(key: key, first: counter, sealed: UnsafeRawBufferPointer(buffers.sealed), plain: buffers.plain, count: inner)
            firstFailure = opened.openAll()
        }
        if firstFailure < inner {
            // A full chunk that opens as final is released, as age does, and
            // the data after it is the error.
            let start = firstFailure * sealedSize
            let plainStart = firstFailure * AgePayload.chunkByteCount
            let isFinal = open(
                UnsafeRawBufferPointer(rebasing: buffers.sealed[start..<(start + sealedSize)]),
                into: UnsafeMutableRawBufferPointer(rebasing: buffers.plain[plainStart..<(plainStart + AgePayload.chunkByteCount)]),
                counter: counter + UInt64(firstFailure), last: true)
            pendingFailure = isFinal
                ? AgeError.payload("data follows the final chunk")
                : AgeError.payload("chunk \(counter + UInt64(firstFailure) + 1) failed authentication: wrong key, or the data was changed or truncated")
            counter += UInt64(firstFailure)
            return plainStart + (isFinal ? AgePayload.chunkByteCount : 0)
        }
        // The batch's last chunk.
        let start = inner * sealedSize
        let length = n - start
        let input = UnsafeRawBufferPointer(rebasing: buffers.sealed[start..<n])
        let plainCount = max(0, length - AEAD.tagByteCount)
        let plainStart = inner * AgePayload.chunkByteCount
        let output = UnsafeMutableRawBufferPointer(rebasing: buffers.plain[plainStart..<(plainStart + plainCount)])
        let chunkCounter = counter + UInt64(inner)
        var last = length < sealedSize
        if last, chunkCounter > 0, length == AEAD.tagByteCount {
            pendingFailure = AgeError.payload("the final chunk is empty, which only an empty payload may have")
            counter = chunkCounter
            return plainStart
        }
        if !open(input, into: output, counter: chunkCounter, last: last) {
            guard !last, open(input, into: output, counter: chunkCounter, last: true) else {
                pendingFailure = AgeError.payload("chunk \(chunkCounter + 1) failed authentication: wrong key, or the data was changed or truncated")
                counter = chunkCounter
                return plainStart
            }
            last = true
        }
        finalReturned = last
        counter = chunkCounter + 1
        return plainStart + plainCount
    }

    /// Tries one chunk with the given flag; false on authentication failure.
    private func open(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer, counter: UInt64, last: Bool
    ) -> Bool {
        guard input.count >= AEAD.tagByteCount else { return false }
        let nonce = AgePayload.chunkNonce(counter: counter, last: last)
        return nonce.withUnsafeBytes { n in
            (try? AEAD.chaCha20Poly1305.open(
                input, into: output, key: key, nonce: n,
                associatedData: UnsafeRawBufferPointer(start: nil, count: 0), what: "age payload chunk")) != nil
        }
    }
}

/// Buffers for one batch of chunks, sealed and plaintext (2 MiB of
/// plaintext); the plaintext one is wiped on release. Shared with the
/// threads that seal or open a batch, each touching its own chunks only.
final class AgeChunkBuffers: @unchecked Sendable {
    /// Chunks per batch.
    static let chunkCount = 32
    /// Room for a batch of sealed chunks.
    let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkCount * AgePayload.sealedChunkByteCount, alignment: 16)
    /// Room for a batch of plaintext chunks.
    let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkCount * AgePayload.chunkByteCount, alignment: 16)

    deinit {
        Sodium.wipe(plain)
        plain.deallocate()
        sealed.deallocate()
    }
}

/// The non-final chunks of a batch, opened on all cores; each iteration
/// touches its own chunk of both buffers only.
private struct InnerChunks: @unchecked Sendable {
    let key: SymmetricKey
    let first: UInt64
    let sealed: UnsafeRawBufferPointer
    let plain: UnsafeMutableRawBufferPointer
    let count: Int

    /// Opens every chunk; returns the index of the first that failed, or `count`.
    func openAll() -> Int {
        let failures = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { failures.deallocate() }
        failures.initialize(repeating: false)
        let results = FailureFlags(flags: failures)
        DispatchQueue.concurrentPerform(iterations: count) { i in
            let input = UnsafeRawBufferPointer(rebasing: sealed[(i * AgePayload.sealedChunkByteCount)..<((i + 1) * AgePayload.sealedChunkByteCount)])
            let output = UnsafeMutableRawBufferPointer(rebasing: plain[(i * AgePayload.chunkByteCount)..<((i + 1) * AgePayload.chunkByteCount)])
            let nonce = AgePayload.chunkNonce(counter: first + UInt64(i), last: false)
            let ok = nonce.withUnsafeBytes { n in
                (try? AEAD.chaCha20Poly1305.open(
                    input, into: output, key: key, nonce: n,
                    associatedData: UnsafeRawBufferPointer(start: nil, count: 0), what: "age payload chunk")) != nil
            }
            results.flags[i] = !ok
        }
        return failures.firstIndex(of: true) ?? count
    }
}

/// Per-chunk failure flags written from several threads (one index each).
private struct FailureFlags: @unchecked Sendable {
    let flags: UnsafeMutableBufferPointer<Bool>
}

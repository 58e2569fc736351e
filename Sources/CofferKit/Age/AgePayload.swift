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
        while let n = try nextChunk(from: &reader, buffers: buffers) {
            try sink.write(UnsafeRawBufferPointer(rebasing: buffers.plain[..<n]))
        }
    }

    /// Decrypts the next chunk into `buffers.plain` and returns its length,
    /// or nil once the final chunk was returned and the input has ended.
    ///
    /// Reads one full sealed chunk at a time. A short read is the final
    /// chunk; a full one is tried as non-final, then as final.
    /// - Throws: ``AgeError/payload(_:)`` (truncation, a failed chunk, data
    ///   after the final chunk); source errors pass through.
    mutating func nextChunk(from reader: inout AgeBufferedReader, buffers: AgeChunkBuffers) throws -> Int? {
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
        let input = UnsafeRawBufferPointer(rebasing: buffers.sealed[..<n])
        let plainCount = max(0, n - AEAD.tagByteCount)
        let output = UnsafeMutableRawBufferPointer(rebasing: buffers.plain[..<plainCount])
        var last = n < AgePayload.sealedChunkByteCount
        if last, counter > 0, n == AEAD.tagByteCount {
            throw AgeError.payload("the final chunk is empty, which only an empty payload may have")
        }
        if !open(input, into: output, counter: counter, last: last) {
            guard !last, open(input, into: output, counter: counter, last: true) else {
                throw AgeError.payload("chunk \(counter + 1) failed authentication: wrong key, or the data was changed or truncated")
            }
            last = true
        }
        finalReturned = last
        counter += 1
        return plainCount
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

/// One sealed and one plaintext chunk buffer; the plaintext one is wiped on release.
final class AgeChunkBuffers {
    /// Room for one sealed chunk.
    let sealed = UnsafeMutableRawBufferPointer.allocate(byteCount: AgePayload.sealedChunkByteCount, alignment: 16)
    /// Room for one plaintext chunk.
    let plain = UnsafeMutableRawBufferPointer.allocate(byteCount: AgePayload.chunkByteCount, alignment: 16)

    deinit {
        Sodium.wipe(plain)
        plain.deallocate()
        sealed.deallocate()
    }
}

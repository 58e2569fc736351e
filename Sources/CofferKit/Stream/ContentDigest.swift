import Crypto

/// The fingerprint of a document's plaintext that its metadata records
/// (``DocumentMetadata/contentDigest``), so that sealing the same content
/// again adds no revision.
///
/// SHA-256 over a domain tag, the segment size and the SHA-256 of each
/// segment's plaintext in order: the workers that seal the segments hash
/// them too, in parallel, so the digest adds no pass on the reading thread
/// (docs/FORMAT.md, "Document metadata"). Constant memory: segment digests
/// are folded in as they arrive.
struct ContentDigest {
    private var hasher = SHA256()

    /// Starts the digest of a stream cut into segments of `segmentSize` plaintext bytes.
    init(segmentSize: Int) {
        var prefix = ByteWriter()
        prefix.write(Array("coffer-content-digest-v1".utf8))
        prefix.write(UInt64(segmentSize))
        hasher.update(data: prefix.bytes)
    }

    /// The digest of one segment's plaintext, as a worker computes it.
    static func ofSegment(_ plaintext: UnsafeRawBufferPointer) -> SHA256.Digest {
        var hasher = SHA256()
        hasher.update(bufferPointer: plaintext)
        return hasher.finalize()
    }

    /// Folds in the next segment's digest (segments in order).
    mutating func append(_ segment: SHA256.Digest) {
        segment.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
    }

    /// The finished digest, lowercase hex.
    func finalized() -> String {
        Hex.encode(Array(hasher.finalize()))
    }
}

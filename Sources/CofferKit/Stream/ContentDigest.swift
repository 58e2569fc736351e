import Crypto

/// The fingerprint of a document's plaintext that its metadata records
/// (``DocumentMetadata/contentDigest``), so that sealing the same content
/// again adds no revision.
///
/// SHA-256 over a domain tag, the piece size and the SHA-256 of each piece
/// of the plaintext in order. A piece is a segment, or a 4 MiB part of one
/// when segments are a multiple of 4 MiB: the same content has the same
/// digest in 4 MiB segments (a local vault's) and in 8 MiB ones (a shared
/// vault's). The workers that seal the segments hash their pieces too, in
/// parallel, so the digest adds no pass on the reading thread
/// (docs/FORMAT.md, "Document metadata"). Constant memory: piece digests
/// are folded in as they arrive.
struct ContentDigest {
    private var hasher = SHA256()
    /// Plaintext bytes per piece.
    let pieceSize: Int

    /// Starts the digest of a stream cut into segments of `segmentSize` plaintext bytes.
    init(segmentSize: Int) {
        let standard = StreamGeometry.standard.segmentPlaintextSize
        pieceSize = segmentSize.isMultiple(of: standard) ? standard : segmentSize
        var prefix = ByteWriter()
        prefix.write(Array("coffer-content-digest-v1".utf8))
        prefix.write(UInt64(pieceSize))
        hasher.update(data: prefix.bytes)
    }

    /// The digests of one segment's pieces, as a worker computes them (an
    /// empty segment, which only an empty stream has, is one empty piece).
    static func pieces(of segment: UnsafeRawBufferPointer, pieceSize: Int) -> [SHA256.Digest] {
        stride(from: 0, to: Swift.max(segment.count, 1), by: pieceSize).map { start in
            var hasher = SHA256()
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: segment[start..<Swift.min(start + pieceSize, segment.count)]))
            return hasher.finalize()
        }
    }

    /// Folds in the next segment's piece digests (segments in order).
    mutating func append(_ pieces: [SHA256.Digest]) {
        for piece in pieces {
            piece.withUnsafeBytes { hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }
        }
    }

    /// The finished digest, lowercase hex.
    func finalized() -> String {
        Hex.encode(Array(hasher.finalize()))
    }
}

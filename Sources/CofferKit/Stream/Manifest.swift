/// The manifest of one document version: the public parameters of its
/// content stream and the ordered list of segment objects. Stored as an
/// object of its own; its id is what the ledger and the catalog name.
///
/// Layout (big-endian; docs/FORMAT.md "Manifest object"):
/// `"CFMF"` · version · suite `1` · document id (16) · key generation (u32) ·
/// frame size (u32) · frames per segment (u32) · stream salt (15) ·
/// key commitment (32) · segment count (u64) · segment ids (32 each).
///
/// The version says how the segments, and the manifest itself, are named:
/// `2` by SHA-256 (everything written now), `1` by BLAKE2b-256 (vaults made
/// before catalog schema 4, until `coffer vault upgrade` renames them).
struct Manifest: Equatable, Sendable {
    static let magic = Array("CFMF".utf8)
    /// Suite 1: XChaCha20-Poly1305 STREAM frames under a BLAKE2b-derived content key.
    static let suite: UInt8 = 1
    /// Bytes before the segment list.
    static let fixedSize = 4 + 1 + 1 + 16 + 4 + 4 + 4 + 15 + 32 + 8
    /// Enough for 2^20 segments (4 TiB of content at the default geometry).
    static let maximumSegments = 1 << 20

    /// The document this stream belongs to.
    var documentID: DocumentID
    /// The key generation (document version) this stream was sealed under.
    var generation: UInt32
    /// The stream's frame layout.
    var geometry: StreamGeometry
    /// The random per-stream nonce prefix.
    var salt: [UInt8]
    /// The data key's commitment.
    var commitment: [UInt8]
    /// The content segments, in order.
    var segments: [ObjectID]
    /// How the segments and this manifest are named.
    var objectHash: ObjectHash

    /// The format version that names objects by `hash`.
    static func formatVersion(for hash: ObjectHash) -> UInt8 {
        switch hash {
        case .blake2b256: 1
        case .sha256: 2
        }
    }

    /// Serialises the manifest.
    func encoded() -> [UInt8] {
        var w = ByteWriter()
        w.write(Self.magic)
        w.write(Self.formatVersion(for: objectHash))
        w.write(Self.suite)
        w.write(documentID.bytes)
        w.write(generation)
        w.write(UInt32(geometry.frameSize))
        w.write(UInt32(geometry.framesPerSegment))
        w.write(salt)
        w.write(commitment)
        w.write(UInt64(segments.count))
        for segment in segments { w.write(segment.bytes) }
        return w.bytes
    }

    /// Parses a manifest strictly.
    /// - Throws: ``FormatError`` for any deviation.
    init(parsing bytes: [UInt8]) throws {
        var r = ByteReader(bytes, what: "manifest")
        try r.expect(magic: Self.magic)
        let version = try r.readUInt8()
        guard let hash = ObjectHash.allCases.first(where: { Self.formatVersion(for: $0) == version }) else {
            throw FormatError.unsupportedVersion("manifest", Int(version))
        }
        objectHash = hash
        guard try r.readUInt8() == Self.suite else { throw FormatError.malformed("manifest", "unknown cipher suite") }
        documentID = try DocumentID(bytes: try r.read(16))
        generation = try r.readUInt32()
        let frameSize = Int(try r.readUInt32())
        let framesPerSegment = Int(try r.readUInt32())
        guard let geometry = StreamGeometry(frameSize: frameSize, framesPerSegment: framesPerSegment) else {
            throw FormatError.malformed("manifest", "unsupported frame geometry")
        }
        self.geometry = geometry
        salt = try r.read(StreamGeometry.saltByteCount)
        commitment = try r.read(32)
        let count = try r.readUInt64()
        guard count >= 1, count <= UInt64(Self.maximumSegments) else {
            throw FormatError.malformed("manifest", "segment count \(count) out of range")
        }
        guard r.remaining == Int(count) * ObjectID.byteCount else {
            throw r.remaining < Int(count) * ObjectID.byteCount ? FormatError.truncated("manifest") : FormatError.trailingData("manifest")
        }
        segments = try (0..<Int(count)).map { _ in try ObjectID(bytes: r.read(ObjectID.byteCount), hash: hash) }
    }

    /// Builds a manifest from its fields; it names objects as `segments` are named.
    /// - Precondition: at least one segment, all named by one hash function.
    init(documentID: DocumentID, generation: UInt32, geometry: StreamGeometry, salt: [UInt8], commitment: [UInt8], segments: [ObjectID]) {
        precondition(!segments.isEmpty && segments.allSatisfy { $0.hash == segments[0].hash }, "a manifest lists segments named one way")
        objectHash = segments[0].hash
        self.documentID = documentID
        self.generation = generation
        self.geometry = geometry
        self.salt = salt
        self.commitment = commitment
        self.segments = segments
    }
}

/// How a content stream is cut: fixed-size frames, grouped into segment objects.
struct StreamGeometry: Equatable, Sendable {
    /// Length of the random nonce prefix (the rest of the 24-byte nonce is
    /// an 8-byte frame counter and a 1-byte last-frame flag).
    static let saltByteCount = 15
    /// The geometry of documents sealed into a vault on this machine: 64 KiB frames, 64 per segment (4 MiB).
    static let standard = StreamGeometry(frameSize: 65536, framesPerSegment: 64)!
    /// The geometry of documents sealed into an S3 bucket: 64 KiB frames,
    /// 128 per segment (8 MiB objects). Each object costs the server a
    /// request and a bucket-index update whatever its size: 256 curl PUTs
    /// of 4 MiB took 8.6 s here against 6.2 s for 64 of 16 MiB (the same
    /// GiB, 4 at a time). 8 MiB measured nearly as fast as 16 MiB with
    /// half the buffers (docs/PERFORMANCE.md).
    static let large = StreamGeometry(frameSize: 65536, framesPerSegment: 128)!

    /// Plaintext bytes per frame (the last frame may be shorter).
    let frameSize: Int
    /// Frames per segment object (the last segment may hold fewer).
    let framesPerSegment: Int

    /// A geometry within the bounds this build accepts (frames of 1 KiB…1 MiB,
    /// segments of at most 16 MiB of plaintext); nil otherwise.
    init?(frameSize: Int, framesPerSegment: Int) {
        guard frameSize >= 1024, frameSize <= 1 << 20, framesPerSegment >= 1,
              frameSize * framesPerSegment <= 16 << 20 else { return nil }
        self.frameSize = frameSize
        self.framesPerSegment = framesPerSegment
    }

    /// Plaintext bytes in a full segment.
    var segmentPlaintextSize: Int { frameSize * framesPerSegment }
    /// Stored bytes of a full frame.
    var sealedFrameSize: Int { frameSize + AEAD.tagByteCount }
}

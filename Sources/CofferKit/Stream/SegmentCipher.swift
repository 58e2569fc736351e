/// Seals and opens one segment object: the STREAM construction over
/// XChaCha20-Poly1305.
///
/// Segment object layout: `"CFSG"` · version `1` · sealed frames, each the
/// frame's ciphertext followed by its 16-byte tag. Frame `i` of the whole
/// stream (counting across segments) uses the nonce
/// `salt (15) ‖ i (u64 big-endian) ‖ last (0x01 for the final frame, else 0x00)`
/// and the associated data `document id ‖ generation (u32)`.
///
/// Nonce uniqueness: the content key is derived from a data key that is
/// fresh for every document version and encrypts exactly one stream, and the
/// counter is distinct for every frame of that stream; the random salt is
/// defence in depth. Reordered, dropped, duplicated or truncated frames fail
/// authentication because position and finality are in the nonce; frames
/// moved from another document fail because the key differs.
struct SegmentCipher: Sendable {
    static let magic = Array("CFSG".utf8)
    static let formatVersion: UInt8 = 1
    static let headerSize = 5

    let key: SymmetricKey
    let salt: [UInt8]
    let associatedData: [UInt8]
    let geometry: StreamGeometry

    /// A cipher for the stream of `documentID` at `generation`.
    init(contentKey: SymmetricKey, salt: [UInt8], documentID: DocumentID, generation: UInt32, geometry: StreamGeometry) {
        key = contentKey
        self.salt = salt
        self.geometry = geometry
        var w = ByteWriter()
        w.write(documentID.bytes)
        w.write(generation)
        associatedData = w.bytes
    }

    /// Stored size of a segment holding `plaintextCount` bytes.
    func sealedSize(plaintextCount: Int) -> Int {
        let frames = Swift.max(1, (plaintextCount + geometry.frameSize - 1) / geometry.frameSize)
        return Self.headerSize + plaintextCount + frames * AEAD.tagByteCount
    }

    private func nonce(frame: UInt64, last: Bool) -> [UInt8] {
        var n = salt
        for shift in stride(from: 56, through: 0, by: -8) { n.append(UInt8(truncatingIfNeeded: frame >> UInt64(shift))) }
        n.append(last ? 1 : 0)
        return n
    }

    /// Seals segment `index` into `output` (which must be ``sealedSize(plaintextCount:)`` long).
    /// - Parameter isLast: whether this is the stream's final segment; its last frame carries the final flag.
    func seal(_ plaintext: UnsafeRawBufferPointer, index: Int, isLast: Bool, into output: UnsafeMutableRawBufferPointer) {
        precondition(plaintext.count <= geometry.segmentPlaintextSize && (isLast || plaintext.count == geometry.segmentPlaintextSize))
        output.copyBytes(from: Self.magic + [Self.formatVersion])
        let frames = Swift.max(1, (plaintext.count + geometry.frameSize - 1) / geometry.frameSize)
        var inOffset = 0, outOffset = Self.headerSize
        associatedData.withUnsafeBytes { aad in
            for f in 0..<frames {
                let length = Swift.min(geometry.frameSize, plaintext.count - inOffset)
                let counter = UInt64(index) * UInt64(geometry.framesPerSegment) + UInt64(f)
                let n = nonce(frame: counter, last: isLast && f == frames - 1)
                n.withUnsafeBytes { nb in
                    AEAD.xChaCha20Poly1305.seal(
                        UnsafeRawBufferPointer(rebasing: plaintext[inOffset..<(inOffset + length)]),
                        into: UnsafeMutableRawBufferPointer(rebasing: output[outOffset..<(outOffset + length + AEAD.tagByteCount)]),
                        key: key, nonce: nb, associatedData: aad)
                }
                inOffset += length
                outOffset += length + AEAD.tagByteCount
            }
        }
    }

    /// Parses and opens segment `index` into `output` (at least one full
    /// segment of plaintext long); returns the plaintext length. Nothing is
    /// written to `output` beyond frames that authenticated, and a failure
    /// zeroes the frame that failed.
    /// - Throws: ``FormatError`` for a malformed segment, ``CryptoError`` when a frame fails authentication.
    func open(_ sealed: UnsafeRawBufferPointer, index: Int, isLast: Bool, into output: UnsafeMutableRawBufferPointer) throws -> Int {
        guard sealed.count >= Self.headerSize else { throw FormatError.truncated("segment \(index)") }
        guard Array(sealed[0..<4]) == Self.magic else { throw FormatError.badMagic("segment \(index)") }
        guard sealed[4] == Self.formatVersion else { throw FormatError.unsupportedVersion("segment", Int(sealed[4])) }
        let body = sealed.count - Self.headerSize
        let fullSegment = geometry.framesPerSegment * geometry.sealedFrameSize
        if isLast {
            guard body >= AEAD.tagByteCount, body <= fullSegment else { throw FormatError.malformed("segment \(index)", "wrong size \(sealed.count)") }
        } else {
            guard body == fullSegment else {
                throw body < fullSegment ? FormatError.truncated("segment \(index)") : FormatError.trailingData("segment \(index)")
            }
        }
        let frames = (body + geometry.sealedFrameSize - 1) / geometry.sealedFrameSize
        let lastFrameLength = body - (frames - 1) * geometry.sealedFrameSize
        // A final frame is empty only when it is the whole stream; a segment never ends in an empty non-first frame.
        guard lastFrameLength >= AEAD.tagByteCount, lastFrameLength > AEAD.tagByteCount || (frames == 1 && index == 0) else {
            throw FormatError.malformed("segment \(index)", "empty final frame")
        }
        var inOffset = Self.headerSize, outOffset = 0
        try associatedData.withUnsafeBytes { aad in
            for f in 0..<frames {
                let sealedLength = f == frames - 1 ? lastFrameLength : geometry.sealedFrameSize
                let length = sealedLength - AEAD.tagByteCount
                let counter = UInt64(index) * UInt64(geometry.framesPerSegment) + UInt64(f)
                let n = nonce(frame: counter, last: isLast && f == frames - 1)
                try n.withUnsafeBytes { nb in
                    try AEAD.xChaCha20Poly1305.open(
                        UnsafeRawBufferPointer(rebasing: sealed[inOffset..<(inOffset + sealedLength)]),
                        into: UnsafeMutableRawBufferPointer(rebasing: output[outOffset..<(outOffset + length)]),
                        key: key, nonce: nb, associatedData: aad, what: "frame \(counter)")
                }
                inOffset += sealedLength
                outOffset += length
            }
        }
        return outOffset
    }
}

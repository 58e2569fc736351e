/// A minisign signature file: four lines.
///
/// ```
/// untrusted comment: <free text, not signed>
/// <base64 of algorithm ‖ key id ‖ 64-byte Ed25519 signature: 100 characters>
/// trusted comment: <text covered by the global signature>
/// <base64 of the 64-byte global signature: 88 characters>
/// ```
///
/// The algorithm is `ED` (the signature is over the BLAKE2b-512 of the
/// file; what minisign 0.10+ and Coffer write) or `Ed` (legacy: over the
/// file itself). The global signature is Ed25519 over the signature bytes
/// followed by the trusted comment's bytes.
public struct MinisignSignature: Sendable, Equatable {
    /// What the signature covers.
    public enum Algorithm: String, Sendable {
        /// `ED`: the BLAKE2b-512 digest of the file.
        case prehashed = "ED"
        /// `Ed`: the file's bytes (minisign's original format).
        case legacy = "Ed"
    }

    /// The untrusted comment Coffer writes.
    public static let defaultUntrustedComment = "signature from coffer secret key"
    /// Bytes in the signature line.
    static let encodedByteCount = 2 + MinisignKeyID.byteCount + Ed25519.signatureByteCount
    /// The largest signature file accepted.
    static let maxFileByteCount = MinisignText.untrustedPrefix.utf8.count + MinisignText.maxUntrustedCommentByteCount + 2
        + 100 + 2 + MinisignText.trustedPrefix.utf8.count + MinisignText.maxTrustedCommentByteCount + 2 + 88 + 2

    /// What the signature covers.
    public let algorithm: Algorithm
    /// The id of the key that made it (unauthenticated: checked against the public key).
    public let keyID: MinisignKeyID
    /// The Ed25519 signature over the file or its digest.
    let signature: [UInt8]
    /// The untrusted comment: anyone can change it; never rely on it.
    public let untrustedComment: String
    /// The trusted comment, covered by the global signature.
    public let trustedComment: String
    /// The Ed25519 signature over ``signature`` ‖ ``trustedComment``.
    let globalSignature: [UInt8]

    /// Adopts parsed or freshly signed parts.
    init(
        algorithm: Algorithm, keyID: MinisignKeyID, signature: [UInt8], untrustedComment: String,
        trustedComment: String, globalSignature: [UInt8]
    ) {
        precondition(signature.count == Ed25519.signatureByteCount && globalSignature.count == Ed25519.signatureByteCount)
        self.algorithm = algorithm
        self.keyID = keyID
        self.signature = signature
        self.untrustedComment = untrustedComment
        self.trustedComment = trustedComment
        self.globalSignature = globalSignature
    }

    /// Parses a signature file, strictly (see the type's documentation and
    /// docs/FORMAT.md, "Minisign signatures"). Nothing is verified here.
    /// - Throws: ``MinisignError/malformedSignature(_:)`` saying what is wrong.
    public init(fileContents contents: [UInt8]) throws {
        let fail = MinisignError.malformedSignature
        guard contents.count <= Self.maxFileByteCount else { throw fail("the file is larger than \(Self.maxFileByteCount) bytes") }
        let lines = try MinisignText.lines(contents, count: 4, fail: fail)
        let untrusted = try MinisignText.comment(
            lines[0], prefix: MinisignText.untrustedPrefix, maxBytes: MinisignText.maxUntrustedCommentByteCount, number: 1, fail: fail)
        let encoded = try MinisignText.base64(lines[1], byteCount: Self.encodedByteCount, number: 2, fail: fail)
        guard let algorithm = Algorithm(rawValue: String(decoding: encoded[0..<2], as: UTF8.self)) else {
            throw fail("unsupported signature algorithm (only \"ED\" and \"Ed\")")
        }
        let trusted = try MinisignText.comment(
            lines[2], prefix: MinisignText.trustedPrefix, maxBytes: MinisignText.maxTrustedCommentByteCount, number: 3, fail: fail)
        let global = try MinisignText.base64(lines[3], byteCount: Ed25519.signatureByteCount, number: 4, fail: fail)
        self.init(
            algorithm: algorithm, keyID: MinisignKeyID(Array(encoded[2..<10])), signature: Array(encoded[10...]),
            untrustedComment: untrusted, trustedComment: trusted, globalSignature: global)
    }

    /// The signature file: four LF-terminated lines.
    public var fileContents: [UInt8] {
        let line = Base64.encode(Array(algorithm.rawValue.utf8) + keyID.bytes + signature)
        return Array(("\(MinisignText.untrustedPrefix)\(untrustedComment)\n\(line)\n"
            + "\(MinisignText.trustedPrefix)\(trustedComment)\n\(Base64.encode(globalSignature))\n").utf8)
    }
}

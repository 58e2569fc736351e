/// The BLAKE2b-512 digest of a file: what a prehashed (`ED`) minisign
/// signature signs.
public struct MinisignPrehash: Sendable, Equatable {
    /// Digest length: 64 bytes.
    static let byteCount = 64
    /// The 64 digest bytes.
    public let bytes: [UInt8]

    /// Adopts a finished digest.
    init(bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "BLAKE2b-512 digest length")
        self.bytes = bytes
    }

    /// The digest of `message`, in memory.
    public init(of message: [UInt8]) {
        self.init(bytes: Blake2b.hash(message, outputByteCount: Self.byteCount))
    }
}

/// Computes a ``MinisignPrehash`` incrementally, so a file of any size is
/// hashed in constant memory.
public final class MinisignHasher {
    private let state = Blake2b(outputByteCount: MinisignPrehash.byteCount)
    private var finished = false

    /// Starts an empty digest.
    public init() {}

    /// Absorbs more of the file.
    public func update(_ bytes: UnsafeRawBufferPointer) {
        precondition(!finished, "MinisignHasher used after finalize()")
        state.update(bytes)
    }

    /// Absorbs more of the file.
    public func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes the digest. Call once.
    public func finalize() -> MinisignPrehash {
        precondition(!finished, "MinisignHasher finalized twice")
        finished = true
        return MinisignPrehash(bytes: state.finalize())
    }
}

/// minisign-compatible signing and verification of files, streaming.
public enum Minisign {
    /// Block size for hashing files.
    static let blockByteCount = 64 * 1024
    /// The largest file a legacy (`Ed`) signature is checked over: it needs
    /// the whole file in memory (1 GiB, minisign's own former limit).
    public static let maxLegacyMessageByteCount = 1 << 30

    /// The BLAKE2b-512 of a file or standard input, read in 64 KiB blocks.
    /// - Throws: ``FileError``.
    public static func prehash(of input: InputSource) throws -> MinisignPrehash {
        let hasher = MinisignHasher()
        try BlockReader(input, blockByteCount: blockByteCount).forEachBlock { hasher.update($0) }
        return hasher.finalize()
    }

    /// The trusted comment minisign writes by default for a prehashed
    /// signature: `timestamp:<seconds since 1970>\tfile:<base name>\thashed`.
    /// Line breaks in the name become spaces.
    public static func defaultTrustedComment(fileName: String, timestamp: Int) -> String {
        "timestamp:\(timestamp)\tfile:\(FileSystem.baseName(of: fileName).replacingNewlines())\thashed"
    }

    /// Signs a file (or standard input) with `identity`, prehashed (`ED`),
    /// streaming it through BLAKE2b-512.
    /// - Parameters:
    ///   - input: what to sign.
    ///   - identity: the signer; its Ed25519 key never leaves locked memory.
    ///   - trustedComment: signed with the signature; one line, at most 8,173 bytes.
    /// - Throws: ``MinisignError/invalidComment(_:)`` (before reading
    ///   anything); ``FileError``.
    public static func sign(_ input: InputSource, identity: Identity, trustedComment: String) throws -> MinisignSignature {
        try MinisignText.checkWritable(trustedComment, maxBytes: MinisignText.maxTrustedCommentByteCount, what: "trusted comment")
        return try identity.minisignSignature(prehash: prehash(of: input), trustedComment: trustedComment)
    }

    /// Reads a file whole, for a legacy signature.
    /// - Throws: ``MinisignError/legacyMessageTooLarge(limit:)``; ``FileError``.
    static func readWhole(_ input: InputSource) throws -> [UInt8] {
        var message: [UInt8] = []
        try BlockReader(input, blockByteCount: 1 << 20).forEachBlock { block in
            guard message.count + block.count <= maxLegacyMessageByteCount else {
                throw MinisignError.legacyMessageTooLarge(limit: maxLegacyMessageByteCount)
            }
            message.append(contentsOf: block)
        }
        return message
    }
}

extension Identity {
    /// A prehashed (`ED`) minisign signature by this identity's Ed25519 key,
    /// verifiable with `minisign -V` and ``PublicIdentity/minisignKey``.
    /// - Parameters:
    ///   - prehash: the BLAKE2b-512 of the file (``MinisignHasher``).
    ///   - trustedComment: signed too; one line, at most 8,173 bytes.
    ///   - untrustedComment: not signed; one line, at most 1,003 bytes.
    /// - Throws: ``MinisignError/invalidComment(_:)``.
    public func minisignSignature(
        prehash: MinisignPrehash, trustedComment: String,
        untrustedComment: String = MinisignSignature.defaultUntrustedComment
    ) throws -> MinisignSignature {
        try MinisignText.checkWritable(trustedComment, maxBytes: MinisignText.maxTrustedCommentByteCount, what: "trusted comment")
        try MinisignText.checkWritable(untrustedComment, maxBytes: MinisignText.maxUntrustedCommentByteCount, what: "untrusted comment")
        let signature = try sign(prehash.bytes)
        return MinisignSignature(
            algorithm: .prehashed, keyID: publicIdentity.minisignKey.keyID, signature: signature,
            untrustedComment: untrustedComment, trustedComment: trustedComment,
            globalSignature: try sign(signature + Array(trustedComment.utf8)))
    }
}

extension PublicIdentity {
    /// The identity's Ed25519 key as a minisign public key, with the key id
    /// ``minisignKeyID``.
    public var minisignKey: MinisignPublicKey {
        MinisignPublicKey(keyID: MinisignKeyID(minisignKeyID), key: signingKey)
    }
}

extension MinisignSignature {
    /// Checks a signature over a file (or standard input): the key id, the
    /// global signature over the trusted comment, then the signature over
    /// the file, streamed through BLAKE2b-512 for `ED`; a legacy `Ed`
    /// signature needs the file in memory (at most
    /// ``Minisign/maxLegacyMessageByteCount``).
    /// - Returns: the trusted comment, now authenticated.
    /// - Throws: ``MinisignError`` (`.integrity` for any mismatch); ``FileError``.
    @discardableResult
    public func verify(_ input: InputSource, publicKey: MinisignPublicKey) throws -> String {
        try verifyKeyAndComment(publicKey)
        let signed = switch algorithm {
        case .prehashed: try Minisign.prehash(of: input).bytes
        case .legacy: try Minisign.readWhole(input)
        }
        try verifySignature(over: signed, publicKey: publicKey)
        return trustedComment
    }

    /// Checks a signature over a message in memory (see ``verify(_:publicKey:)``).
    /// - Returns: the trusted comment, now authenticated.
    /// - Throws: ``MinisignError`` (`.integrity` for any mismatch).
    @discardableResult
    public func verify(message: [UInt8], publicKey: MinisignPublicKey) throws -> String {
        try verifyKeyAndComment(publicKey)
        try verifySignature(over: algorithm == .prehashed ? MinisignPrehash(of: message).bytes : message, publicKey: publicKey)
        return trustedComment
    }

    private func verifyKeyAndComment(_ publicKey: MinisignPublicKey) throws {
        guard keyID == publicKey.keyID else { throw MinisignError.keyMismatch(signature: keyID, publicKey: publicKey.keyID) }
        guard Ed25519.isValid(signature: globalSignature, message: signature + Array(trustedComment.utf8), publicKey: publicKey.key) else {
            throw MinisignError.trustedCommentMismatch
        }
    }

    private func verifySignature(over signed: [UInt8], publicKey: MinisignPublicKey) throws {
        guard Ed25519.isValid(signature: signature, message: signed, publicKey: publicKey.key) else {
            throw MinisignError.signatureMismatch
        }
    }

    /// Writes the signature file to `output` (a file is written atomically;
    /// see ``OutputTarget``).
    /// - Throws: ``OutputError/exists(path:)``; ``FileError``.
    public func write(to output: OutputTarget) throws {
        let writer = try OutputWriter(output)
        try fileContents.withUnsafeBytes { try writer.write($0) }
        try writer.commit()
    }
}

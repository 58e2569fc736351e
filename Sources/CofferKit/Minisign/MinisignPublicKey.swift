/// A minisign key id: 8 bytes that name a key pair, stored in key and
/// signature files so a verifier can tell which key signed. minisign shows
/// it as the little-endian 64-bit number in 16 upper-case hex digits.
public struct MinisignKeyID: Hashable, Sendable, CustomStringConvertible {
    /// Length in bytes.
    static let byteCount = 8
    /// The 8 bytes as stored.
    let bytes: [UInt8]

    /// Adopts 8 stored bytes.
    init(_ bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "minisign key id length")
        self.bytes = bytes
    }

    /// 16 upper-case hex digits, as minisign prints it.
    public var description: String { Hex.encode(bytes.reversed()).uppercased() }
}

/// A minisign public key: algorithm `Ed`, a key id and an Ed25519 public key.
///
/// A file holds two lines:
///
/// ```
/// untrusted comment: minisign public key 5BD7B2D51AA9F6B4
/// RWS09qka1bLXW+…   (base64 of "Ed" ‖ key id ‖ 32-byte Ed25519 key: 56 characters)
/// ```
public struct MinisignPublicKey: Hashable, Sendable {
    /// Bytes in the base64 line.
    static let encodedByteCount = 2 + MinisignKeyID.byteCount + Ed25519.publicKeyByteCount
    /// The largest public key file accepted.
    static let maxFileByteCount = MinisignText.untrustedPrefix.utf8.count + MinisignText.maxUntrustedCommentByteCount + 2 + 56 + 2

    /// The key id.
    public let keyID: MinisignKeyID
    /// The Ed25519 public key.
    let key: [UInt8]

    /// Adopts a key id and a 32-byte Ed25519 public key.
    init(keyID: MinisignKeyID, key: [UInt8]) {
        precondition(key.count == Ed25519.publicKeyByteCount, "Ed25519 public key length")
        self.keyID = keyID
        self.key = key
    }

    /// Parses the key line (`RW…`), as given to `minisign -P`. Spaces and
    /// line ends around it are ignored.
    /// - Throws: ``MinisignError/malformedPublicKey(_:)``.
    public init(base64 text: String) throws {
        try self.init(keyLine: Array(text.trimmingWhitespace().utf8)[...], number: 1)
    }

    /// Parses a key given on the command line: a minisign key line (`RW…`),
    /// or a Coffer public identity (`coffer1…`), whose Ed25519 key signs.
    /// - Throws: ``MinisignError/malformedPublicKey(_:)``.
    public init(base64OrPublicIdentity text: String) throws {
        let trimmed = text.trimmingWhitespace()
        guard trimmed.lowercased().hasPrefix(PublicIdentity.hrp + "1") else {
            try self.init(base64: trimmed)
            return
        }
        do {
            self = try PublicIdentity(trimmed).minisignKey
        } catch let error as IdentityError {
            throw MinisignError.malformedPublicKey(error.description)
        }
    }

    /// Parses a public key file (two lines: untrusted comment, key).
    /// - Throws: ``MinisignError/malformedPublicKey(_:)`` saying what is wrong.
    public init(fileContents contents: [UInt8]) throws {
        let fail = MinisignError.malformedPublicKey
        guard contents.count <= Self.maxFileByteCount else { throw fail("the file is larger than \(Self.maxFileByteCount) bytes") }
        let lines = try MinisignText.lines(contents, count: 2, fail: fail)
        _ = try MinisignText.comment(
            lines[0], prefix: MinisignText.untrustedPrefix, maxBytes: MinisignText.maxUntrustedCommentByteCount, number: 1, fail: fail)
        try self.init(keyLine: lines[1], number: 2)
    }

    private init(keyLine: ArraySlice<UInt8>, number: Int) throws {
        let bytes = try MinisignText.base64(keyLine, byteCount: Self.encodedByteCount, number: number, fail: MinisignError.malformedPublicKey)
        guard bytes.starts(with: MinisignSignature.Algorithm.legacy.rawValue.utf8) else {
            throw MinisignError.malformedPublicKey("unsupported signature algorithm (only Ed25519, \"Ed\")")
        }
        self.init(keyID: MinisignKeyID(Array(bytes[2..<10])), key: Array(bytes[10...]))
    }

    /// The key line: base64 of `Ed` ‖ key id ‖ Ed25519 key.
    public var base64: String {
        Base64.encode(Array(MinisignSignature.Algorithm.legacy.rawValue.utf8) + keyID.bytes + key)
    }

    /// The public key file as minisign writes it (comment
    /// `minisign public key KEYID`).
    public var fileContents: [UInt8] {
        Array("\(MinisignText.untrustedPrefix)minisign public key \(keyID)\n\(base64)\n".utf8)
    }
}

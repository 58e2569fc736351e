/// The public half of an identity: an Ed25519 verification key, an X25519
/// encryption key and, since identities became post-quantum, an X-Wing key.
/// Its text form is one copyable Bech32 string, `coffer1…`:
/// - version 1: `0x01 ‖ Ed25519 (32) ‖ X25519 (32)`, 65 bytes, 112 characters;
/// - version 2: version 1's fields after `0x02`, then the X-Wing public key
///   (1216) and an Ed25519 signature by the identity's own signing key over
///   `"coffer-identity-pq-v1" ‖ Ed25519 ‖ X25519 ‖ X-Wing` (64), 1345 bytes,
///   2,160 characters.
///
/// The signature binds the X-Wing key to the signing key, so the
/// fingerprint (which covers only the first two keys, and so stays the same
/// for an identity that gains its X-Wing key) still authenticates the whole
/// string: nobody who lacks the identity's signing key can put their own
/// X-Wing key in its place.
public struct PublicIdentity: Hashable, Sendable, CustomStringConvertible {
    /// An X-Wing public key and the signature that binds it to the identity.
    public struct PostQuantumKey: Hashable, Sendable {
        /// The 1216-byte X-Wing (ML-KEM-768 + X25519) encapsulation key.
        public let key: [UInt8]
        /// The Ed25519 binding signature (see ``PublicIdentity``).
        let binding: [UInt8]
    }

    /// Human-readable part of the text form.
    static let hrp = "coffer"
    /// Bytes of version 1's and version 2's binary forms.
    private static let classicByteCount = 65
    private static let postQuantumByteCount = classicByteCount + XWing.publicKeyByteCount + Ed25519.signatureByteCount
    /// Ed25519 public key (signs ledger entries and minisign signatures).
    public let signingKey: [UInt8]
    /// X25519 public key (the age recipient; receives role keys sealed by
    /// earlier Coffer versions, or when no X-Wing key is known).
    public let agreementKey: [UInt8]
    /// The X-Wing key role keys are sealed to; nil for a version-1 identity string.
    public let postQuantum: PostQuantumKey?

    init(signingKey: [UInt8], agreementKey: [UInt8], postQuantum: PostQuantumKey?) {
        self.signingKey = signingKey
        self.agreementKey = agreementKey
        self.postQuantum = postQuantum
    }

    /// Parses the `coffer1…` text form, either version; a version-2 string's
    /// X-Wing key must parse and its binding signature verify.
    /// - Throws: ``IdentityError/malformedPublicIdentity(_:)``.
    public init(_ text: String) throws {
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(text.trimmingWhitespace())
        } catch {
            throw IdentityError.malformedPublicIdentity("\(error)")
        }
        guard decoded.hrp == Self.hrp else { throw IdentityError.malformedPublicIdentity("it does not start with coffer1") }
        let data = decoded.data
        switch (data.first, data.count) {
        case (1, Self.classicByteCount), (2, Self.postQuantumByteCount): break
        default: throw IdentityError.malformedPublicIdentity("unknown version or wrong length")
        }
        signingKey = Array(data[1..<33])
        agreementKey = Array(data[33..<65])
        guard data[0] == 2 else {
            postQuantum = nil
            return
        }
        let key = Array(data[65..<(65 + XWing.publicKeyByteCount)])
        let binding = Array(data[(65 + XWing.publicKeyByteCount)...])
        guard XWing.isPublicKey(key) else { throw IdentityError.malformedPublicIdentity("its post-quantum key is not an X-Wing public key") }
        guard Ed25519.isValid(
            signature: binding, message: Self.bindingMessage(signingKey: signingKey, agreementKey: agreementKey, postQuantumKey: key),
            publicKey: signingKey)
        else { throw IdentityError.malformedPublicIdentity("its post-quantum key is not signed by its signing key") }
        postQuantum = PostQuantumKey(key: key, binding: binding)
    }

    /// What the binding signature signs.
    static func bindingMessage(signingKey: [UInt8], agreementKey: [UInt8], postQuantumKey: [UInt8]) -> [UInt8] {
        Array("coffer-identity-pq-v1".utf8) + signingKey + agreementKey + postQuantumKey
    }

    /// The `coffer1…` text form: version 2 when the X-Wing key is known.
    public var description: String {
        guard let postQuantum else { return classicDescription }
        return Bech32.encode(hrp: Self.hrp, data: [2] + signingKey + agreementKey + postQuantum.key + postQuantum.binding)
    }

    /// The version-1 text form (no X-Wing key): what Coffer printed before
    /// identities became post-quantum, and still names the same identity.
    public var classicDescription: String { Bech32.encode(hrp: Self.hrp, data: [1] + signingKey + agreementKey) }

    /// A short stable name for this identity: 32 hex digits of BLAKE2b over
    /// both keys. Used as the member id in the catalog and the ledger.
    public var fingerprint: String {
        let hasher = Blake2b(outputByteCount: 16)
        hasher.update(Array("coffer-identity-v1".utf8))
        hasher.update(signingKey)
        hasher.update(agreementKey)
        return Hex.encode(hasher.finalize())
    }

    /// The identity's age recipient (`age1…`): its X25519 key in Bech32.
    public var ageRecipient: String { Bech32.encode(hrp: "age", data: agreementKey) }

    /// The minisign key id: eight bytes of BLAKE2b over the signing key.
    public var minisignKeyID: [UInt8] {
        Array(Blake2b.hash(Array("coffer-minisign-key-id".utf8) + signingKey).prefix(8))
    }

    /// The minisign public key line: base64 of `Ed`, the key id (little-endian
    /// as minisign stores it) and the Ed25519 key.
    public var minisignPublicKey: String {
        Base64.encode(Array("Ed".utf8) + minisignKeyID + signingKey)
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}

/// The public half of an identity: an Ed25519 verification key and an X25519
/// encryption key. Its text form is one copyable Bech32 string,
/// `coffer1…`, that encodes a version byte and both keys.
public struct PublicIdentity: Hashable, Sendable, CustomStringConvertible {
    /// Human-readable part of the text form.
    static let hrp = "coffer"
    /// Ed25519 public key (signs ledger entries and minisign signatures).
    public let signingKey: [UInt8]
    /// X25519 public key (receives sealed role keys; the age recipient).
    public let agreementKey: [UInt8]

    init(signingKey: [UInt8], agreementKey: [UInt8]) {
        self.signingKey = signingKey
        self.agreementKey = agreementKey
    }

    /// Parses the `coffer1…` text form.
    /// - Throws: ``IdentityError/malformedPublicIdentity(_:)``.
    public init(_ text: String) throws {
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(text.trimmingWhitespace())
        } catch {
            throw IdentityError.malformedPublicIdentity("\(error)")
        }
        guard decoded.hrp == Self.hrp else { throw IdentityError.malformedPublicIdentity("it does not start with coffer1") }
        guard decoded.data.count == 65, decoded.data[0] == 1 else {
            throw IdentityError.malformedPublicIdentity("unknown version or wrong length")
        }
        signingKey = Array(decoded.data[1..<33])
        agreementKey = Array(decoded.data[33..<65])
    }

    /// The `coffer1…` text form.
    public var description: String { Bech32.encode(hrp: Self.hrp, data: [1] + signingKey + agreementKey) }

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

/// A person's or service's secret identity: one random 32-byte seed from
/// which an Ed25519 signing key and an X25519 encryption key are derived
/// separately (BLAKE2b `crypto_kdf`, contexts `cofrsign` and `cofragre`).
/// Every secret lives in locked memory.
public struct Identity: Sendable {
    let seed: SymmetricKey
    let signingSecretKey: SecureBytes
    let agreementSecretKey: SecureBytes
    /// The shareable public half.
    public let publicIdentity: PublicIdentity
    /// A label chosen at creation ("alice", "backup-service"); not secret and not authenticated.
    public let name: String

    /// A new identity from fresh randomness.
    public static func generate(name: String) -> Identity {
        Identity(seed: .random(), name: name)
    }

    init(seed: SymmetricKey, name: String) {
        self.seed = seed
        self.name = name
        let signingSeed = SubkeyDerivation.derive(from: seed, id: 1, context: "cofrsign")
        let (signingPublic, signingSecret) = Ed25519.keyPair(seed: signingSeed.bytes)
        let agreementSecret = SubkeyDerivation.derive(from: seed, id: 2, context: "cofragre").bytes
        signingSecretKey = signingSecret
        agreementSecretKey = agreementSecret
        publicIdentity = PublicIdentity(signingKey: signingPublic, agreementKey: X25519.publicKey(of: agreementSecret))
    }

    /// The identity's fingerprint (see ``PublicIdentity/fingerprint``).
    public var fingerprint: String { publicIdentity.fingerprint }

    /// Signs `message` with the identity's Ed25519 key.
    func sign(_ message: [UInt8]) -> [UInt8] {
        Ed25519.sign(message, secretKey: signingSecretKey)
    }

    /// Opens a role key sealed to this identity.
    func openSealed(_ box: [UInt8], what: String) throws -> SecureBytes {
        try X25519.openSealed(box, publicKey: publicIdentity.agreementKey, secretKey: agreementSecretKey, what: what)
    }
}

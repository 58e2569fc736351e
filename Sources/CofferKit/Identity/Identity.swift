/// A person's or service's secret identity: one random 32-byte seed from
/// which an Ed25519 signing key, an X25519 encryption key and an X-Wing
/// (ML-KEM-768 + X25519) seed are derived separately (BLAKE2b `crypto_kdf`,
/// contexts `cofrsign`, `cofragre` and `cofrxwng`). Every secret lives in
/// locked memory.
public struct Identity: Sendable {
    let seed: SymmetricKey
    let signingSecretKey: SecureBytes
    let agreementSecretKey: SecureBytes
    /// The seed of the X-Wing key that role keys are sealed to.
    let postQuantumSeed: SecureBytes
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
        let agreementPublic = X25519.publicKey(of: agreementSecret)
        let postQuantumSeed = SubkeyDerivation.derive(from: seed, id: 3, context: "cofrxwng").bytes
        signingSecretKey = signingSecret
        agreementSecretKey = agreementSecret
        self.postQuantumSeed = postQuantumSeed
        // A 32-byte seed always expands (ML-KEM and X25519 accept any seed).
        let postQuantumKey = try! XWing.publicKey(seed: postQuantumSeed)
        let binding = Ed25519.sign(
            PublicIdentity.bindingMessage(signingKey: signingPublic, agreementKey: agreementPublic, postQuantumKey: postQuantumKey),
            secretKey: signingSecret)
        publicIdentity = PublicIdentity(
            signingKey: signingPublic, agreementKey: agreementPublic,
            postQuantum: PublicIdentity.PostQuantumKey(key: postQuantumKey, binding: binding))
    }

    /// The identity's fingerprint (see ``PublicIdentity/fingerprint``).
    public var fingerprint: String { publicIdentity.fingerprint }

    /// Signs `message` with the identity's Ed25519 key.
    func sign(_ message: [UInt8]) -> [UInt8] {
        Ed25519.sign(message, secretKey: signingSecretKey)
    }

    /// Opens a role key sealed to this identity (either form of ``RoleKeySeal``).
    func openSealed(_ box: [UInt8], context: RoleSealContext, what: String) throws -> SecureBytes {
        try RoleKeySeal.open(box, by: self, context: context, what: what)
    }
}

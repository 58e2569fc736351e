/// A person's or service's secret identity: one random 32-byte seed from
/// which an Ed25519 signing key, an X25519 encryption key and an X-Wing
/// (ML-KEM-768 + X25519) seed are derived separately (BLAKE2b `crypto_kdf`,
/// contexts `cofrsign`, `cofragre` and `cofrxwng`). Every secret lives in
/// locked memory: in this process, or in an unlock agent's (`coffer
/// unlock`), which signs and opens role-key seals for it.
public struct Identity: Sendable {
    /// Where the secret keys are.
    let secrets: Secrets
    /// The shareable public half.
    public let publicIdentity: PublicIdentity
    /// A label chosen at creation ("alice", "backup-service"); not secret and not authenticated.
    public let name: String

    /// Where an identity's secret keys are.
    enum Secrets: Sendable {
        /// In this process.
        case local(IdentitySecrets)
        /// In an unlock agent, reached through its socket.
        case agent(AgentClient)
    }

    /// A new identity from fresh randomness.
    public static func generate(name: String) -> Identity {
        Identity(seed: .random(), name: name)
    }

    init(seed: SymmetricKey, name: String) {
        let secrets = IdentitySecrets(seed: seed)
        self.secrets = .local(secrets)
        self.name = name
        publicIdentity = secrets.publicIdentity
    }

    /// An identity whose secrets an agent holds; `publicIdentity` and `name` are what it reported.
    init(agent: AgentClient, publicIdentity: PublicIdentity, name: String) {
        secrets = .agent(agent)
        self.publicIdentity = publicIdentity
        self.name = name
    }

    /// The identity's fingerprint (see ``PublicIdentity/fingerprint``).
    public var fingerprint: String { publicIdentity.fingerprint }

    /// Whether the secrets are an agent's (`coffer unlock`) rather than this process's.
    public var isFromAgent: Bool {
        if case .agent = secrets { true } else { false }
    }

    /// The secrets, when this process holds them.
    /// - Throws: ``IdentityError/agentFailed(_:)`` for an agent's identity, naming `use`.
    func localSecrets(for use: String) throws -> IdentitySecrets {
        guard case .local(let secrets) = secrets else {
            throw IdentityError.agentFailed("\(use) needs the identity file itself, not the unlock agent; run it with the passphrase")
        }
        return secrets
    }

    /// Signs `message` with the identity's Ed25519 key.
    /// - Throws: ``IdentityError/agentFailed(_:)`` if the agent stopped or answered wrongly.
    func sign(_ message: [UInt8]) throws -> [UInt8] {
        switch secrets {
        case .local(let secrets): return secrets.sign(message)
        case .agent(let agent): return try agent.sign(message, verifyingWith: publicIdentity)
        }
    }

    /// Opens a role key sealed to this identity (either form of ``RoleKeySeal``).
    func openSealed(_ box: [UInt8], context: RoleSealContext, what: String) throws -> SecureBytes {
        switch secrets {
        case .local(let secrets): return try secrets.openRoleSeal(box, associatedData: context.associatedData, what: what)
        case .agent(let agent): return try agent.openRoleSeal(box, associatedData: context.associatedData, what: what)
        }
    }

    /// The keys of this identity's saved states (``StateStore``):
    /// `KDF(seed, 5, "cofrstat")` for records and `KDF(seed, 6, "cofrname")` for the name index.
    func stateKeys() throws -> IdentitySecrets.StateKeys {
        switch secrets {
        case .local(let secrets): return secrets.stateKeys
        case .agent(let agent): return try agent.stateKeys()
        }
    }
}

/// An identity's secret keys, derived from its seed, in locked memory.
final class IdentitySecrets: Sendable {
    let seed: SymmetricKey
    let signingSecretKey: SecureBytes
    let agreementSecretKey: SecureBytes
    /// The seed of the X-Wing key that role keys are sealed to.
    let postQuantumSeed: SecureBytes
    /// The public identity these keys make, bound by a signature.
    let publicIdentity: PublicIdentity

    init(seed: SymmetricKey) {
        self.seed = seed
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

    /// Signs `message` with the Ed25519 key.
    func sign(_ message: [UInt8]) -> [UInt8] {
        Ed25519.sign(message, secretKey: signingSecretKey)
    }

    /// Opens a role key sealed to these keys (see ``RoleKeySeal/open(_:by:associatedData:what:)``).
    func openRoleSeal(_ box: [UInt8], associatedData: [UInt8], what: String) throws -> SecureBytes {
        try RoleKeySeal.open(box, by: self, associatedData: associatedData, what: what)
    }

    /// The two keys of the saved states.
    struct StateKeys: Sendable {
        /// Authenticates the records.
        let records: SymmetricKey
        /// Keys the name index.
        let names: SymmetricKey
    }

    /// The keys of this identity's saved states.
    var stateKeys: StateKeys {
        StateKeys(
            records: SubkeyDerivation.derive(from: seed, id: 5, context: "cofrstat"),
            names: SubkeyDerivation.derive(from: seed, id: 6, context: "cofrname"))
    }
}

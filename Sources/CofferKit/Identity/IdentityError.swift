/// Failures to read, decrypt or use an identity.
public enum IdentityError: CofferFailure, Equatable {
    /// The passphrase does not decrypt the identity file.
    case wrongPassphrase(path: String)
    /// The identity file is encrypted and no passphrase source was available.
    case passphraseRequired(path: String)
    /// The identity file is damaged or not an identity file.
    case malformedIdentityFile(path: String, reason: String)
    /// A `coffer1…` string could not be parsed.
    case malformedPublicIdentity(String)
    /// The identity is not a member of this vault.
    case notInVault(fingerprint: String)
    /// No identity file was given and the default one does not exist.
    case noIdentity(path: String)
    /// The passphrase was empty or the two entries differed.
    case badPassphrase(String)
    /// The identity's display name is not acceptable.
    case invalidName(String)
    /// The passphrase command (`--passphrase-command`) could not run or did not exit 0.
    case passphraseCommandFailed(String)
    /// The unlock agent (`coffer unlock`) stopped, refused, or answered
    /// wrongly in the middle of a command, or cannot do what was asked.
    case agentFailed(String)

    public var kind: FailureKind {
        switch self {
        case .wrongPassphrase, .notInVault, .passphraseCommandFailed, .agentFailed: .authentication
        case .passphraseRequired, .malformedPublicIdentity, .badPassphrase, .invalidName: .usage
        case .malformedIdentityFile: .integrity
        case .noIdentity: .notFound
        }
    }

    public var description: String {
        switch self {
        case .wrongPassphrase(let path): "wrong passphrase for identity \(path)"
        case .passphraseRequired(let path):
            "identity \(path) is encrypted; run in a terminal, or pass --passphrase-file or --passphrase-command, or set COFFER_PASSPHRASE or COFFER_PASSPHRASE_COMMAND"
        case .malformedIdentityFile(let path, let reason): "\(path) is not a valid Coffer identity file: \(reason)"
        case .malformedPublicIdentity(let reason): "not a Coffer public identity (coffer1…): \(reason)"
        case .notInVault(let fp): "identity \(fp) is not a member of this vault; ask an administrator to add it"
        case .noIdentity(let path):
            "no identity at \(path); create one with `coffer identity new --out FILE`, or pass --identity / set COFFER_IDENTITY"
        case .badPassphrase(let reason): reason
        case .invalidName(let reason): "invalid identity name: \(reason)"
        case .passphraseCommandFailed(let reason): "\(reason); no passphrase was read"
        case .agentFailed(let reason): "unlock agent: \(reason)"
        }
    }
}

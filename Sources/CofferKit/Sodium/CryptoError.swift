/// Failures of the cryptographic layer.
public enum CryptoError: CofferFailure, Equatable {
    /// An AEAD tag, signature or MAC did not verify: the key is wrong or the data was changed.
    case authenticationFailed(String)
    /// A key, nonce or other input had the wrong length or an invalid value.
    case invalidInput(String)
    /// libsodium refused an operation (for example, not enough memory for Argon2id).
    case operationFailed(String)

    public var kind: FailureKind {
        switch self {
        case .authenticationFailed: .integrity
        case .invalidInput: .usage
        case .operationFailed: .general
        }
    }

    public var description: String {
        switch self {
        case .authenticationFailed(let what): "\(what) failed authentication: wrong key, or the data was changed"
        case .invalidInput(let what): "invalid input: \(what)"
        case .operationFailed(let what): "cryptographic operation failed: \(what)"
        }
    }
}

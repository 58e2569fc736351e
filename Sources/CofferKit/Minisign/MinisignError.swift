/// Failures of minisign signing and verification.
///
/// A signature that does not verify, for whatever reason, is `.integrity`:
/// the file, its signature or its trusted comment is not what the holder of
/// the public key signed. That includes a malformed signature file and a key
/// id that differs from the public key's (both are bytes an attacker can
/// change). A malformed public key, or a comment that cannot be signed, is
/// what the caller passed: `.usage`.
public enum MinisignError: CofferFailure, Equatable {
    /// The public key file or string is not a minisign Ed25519 public key.
    case malformedPublicKey(String)
    /// The signature file is not a well-formed minisign signature.
    case malformedSignature(String)
    /// The signature names another key than the public key given.
    case keyMismatch(signature: MinisignKeyID, publicKey: MinisignKeyID)
    /// The signature over the file does not verify.
    case signatureMismatch
    /// The global signature over the trusted comment does not verify.
    case trustedCommentMismatch
    /// A comment to sign contains a line break or NUL, or is too long.
    case invalidComment(String)
    /// A legacy (`Ed`) signature covers a file larger than can be loaded.
    case legacyMessageTooLarge(limit: Int)

    /// The class of failure (see the type's documentation).
    public var kind: FailureKind {
        switch self {
        case .malformedSignature, .keyMismatch, .signatureMismatch, .trustedCommentMismatch: .integrity
        case .malformedPublicKey, .invalidComment, .legacyMessageTooLarge: .usage
        }
    }

    /// A one-line message a person can act on.
    public var description: String {
        switch self {
        case .malformedPublicKey(let why):
            "not a minisign public key: \(why); give the .pub file (-p) or its RW… line (-P)"
        case .malformedSignature(let why):
            "not a valid minisign signature file: \(why)"
        case .keyMismatch(let signature, let publicKey):
            "the signature was made by key \(signature), not by the given public key \(publicKey); check that you have the signer's public key"
        case .signatureMismatch:
            "signature verification failed: the file was changed, or it is not the file that was signed"
        case .trustedCommentMismatch:
            "the trusted comment does not verify: the signature file was changed after signing"
        case .invalidComment(let why):
            "invalid comment: \(why)"
        case .legacyMessageTooLarge(let limit):
            "a legacy (non-prehashed) signature needs the whole file in memory, and it is larger than \(limit >> 20) MiB; ask the signer for a prehashed signature (minisign 0.10 or later, or coffer sign)"
        }
    }
}

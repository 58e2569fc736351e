/// Failures of age encryption and decryption.
///
/// The first five cases are the outcome classes of the age conformance
/// vectors (C2SP CCTV), so a caller (and the tests) can tell them apart:
///
/// | case | CCTV class | kind |
/// | --- | --- | --- |
/// | ``header(_:)`` | header failure | `.integrity` |
/// | ``noMatch`` | no match | `.authentication` |
/// | ``headerMAC`` | HMAC failure | `.integrity` |
/// | ``payload(_:)`` | payload failure | `.integrity` |
/// | ``armor(_:)`` | armor failure | `.integrity` |
///
/// Header and armor failures are `.integrity`: an encrypted file comes from
/// untrusted storage, and a file that is not a well-formed age file was
/// truncated, altered, or is not the file the user meant. Errors in what the
/// caller passed (a key string, an option) are `.usage`. Errors thrown by a
/// caller's own ``AgeSource`` or ``AgeSink`` pass through unchanged.
public enum AgeError: CofferFailure, Equatable {
    /// The header is malformed or breaks a stanza rule (bad base64, wrong
    /// argument count or length, low-order X25519 share, scrypt work factor
    /// above the limit, scrypt mixed with other stanzas, a header over the
    /// size limit, missing or short payload nonce).
    case header(String)
    /// The header parsed, but none of the identities unwraps any stanza.
    case noMatch
    /// A stanza unwrapped, but the header MAC does not verify: the header
    /// was changed after it was written.
    case headerMAC
    /// The payload failed: a chunk failed authentication, the file was
    /// truncated, or data follows the final chunk. Plaintext of the chunks
    /// before the failing one has already been released to the sink.
    case payload(String)
    /// The ASCII armor is not the strict PEM encoding age requires.
    case armor(String)
    /// A recipient string (`age1…`) is not valid.
    case invalidRecipient(String)
    /// An identity (`AGE-SECRET-KEY-1…`) or identity file is not valid.
    case invalidIdentity(String)
    /// The API was used in a way it does not allow (no recipients, scrypt
    /// mixed with other recipients, a write after `finish()`).
    case invalidUse(String)

    /// The class of failure: see the table on ``AgeError``.
    public var kind: FailureKind {
        switch self {
        case .header, .headerMAC, .payload, .armor: .integrity
        case .noMatch: .authentication
        case .invalidRecipient, .invalidIdentity, .invalidUse: .usage
        }
    }

    /// A one-line message a person can act on; never contains key material.
    public var description: String {
        switch self {
        case .header(let why):
            "not a valid age file: \(why)"
        case .noMatch:
            "no identity matched: the file was not encrypted to any of the given keys or passphrases"
        case .headerMAC:
            "age header failed authentication: the file was changed after it was encrypted"
        case .payload(let why):
            "age payload failed: \(why); any output written so far is incomplete and must be discarded"
        case .armor(let why):
            "invalid age ASCII armor: \(why)"
        case .invalidRecipient(let why):
            "invalid age recipient: \(why)"
        case .invalidIdentity(let why):
            "invalid age identity: \(why)"
        case .invalidUse(let why):
            "invalid use of age encryption: \(why)"
        }
    }
}

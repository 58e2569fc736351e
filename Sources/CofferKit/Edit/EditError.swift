/// Failures of `coffer edit` outside the vault: where the plaintext may be
/// put, and what the editor did.
public enum EditError: CofferFailure, Equatable {
    /// No memory-backed directory of this user's to hold the plaintext
    /// (`$XDG_RUNTIME_DIR`, else `/dev/shm`): the reason says which and why.
    case noPrivatePlace(String)
    /// The editor could not start, exited with another status than 0, or
    /// was killed: nothing was sealed.
    case editorFailed(String)

    public var kind: FailureKind {
        switch self {
        case .noPrivatePlace: .usage
        case .editorFailed: .general
        }
    }

    public var description: String {
        switch self {
        case .noPrivatePlace(let reason):
            "no private place for the plaintext: \(reason); set XDG_RUNTIME_DIR to a directory of yours on tmpfs (systemd's /run/user/UID is one)"
        case .editorFailed(let reason):
            "\(reason): nothing was sealed, and the plaintext was wiped"
        }
    }
}

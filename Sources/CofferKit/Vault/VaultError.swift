/// Failures of vault-level operations.
public enum VaultError: CofferFailure, Equatable {
    /// The directory is not a Coffer vault.
    case notAVault(path: String)
    /// `init` was pointed at a directory that is not empty.
    case directoryNotEmpty(path: String)
    /// No document matches the query.
    case documentNotFound(String)
    /// The document named by its id was deleted (`coffer delete`): who
    /// deleted it and when, as the ledger records it.
    case documentDeleted(document: String, by: String, at: String, entry: Int64)
    /// More than one document matches the query.
    case ambiguous(String, matches: [String])
    /// The identity holds no key that opens this document.
    case accessDenied(document: String)
    /// A check of stored data failed (details in the message).
    case integrity(String)
    /// The descriptor's signature or contents do not verify.
    case badDescriptor(String)
    /// A label that is not in the vault's list.
    case unknownLabel(String, known: [String])
    /// An input that cannot be sealed (not a regular file, changed while read).
    case unsealableInput(path: String, reason: String)
    /// The directory holds another vault than the one this identity met there.
    case replaced(path: String, expected: String, found: String)
    /// A request that cannot be carried out as asked (a usage error).
    case invalidRequest(String)
    /// A document name that could target a path outside the folder it is
    /// opened into (empty, absolute, `.`, `..`, an empty component, NUL).
    case unsafeName(String, reason: String)
    /// The identity may not do this (not an administrator, not the owner, not cleared).
    case notPermitted(String)
    /// No role, member or identity matches the query.
    case notFound(String)
    /// The request conflicts with the vault's state (a role that exists, a member already in).
    case conflict(String)
    /// The acting identity was revoked from this vault.
    case revoked(fingerprint: String)
    /// Another process changed what this command planned against, and
    /// re-planning did not settle it: nothing was committed.
    case changedConcurrently(String)
    /// The vault does not hold the ledger head this identity remembers for
    /// it: rolled back, rewritten, or the identity's record comes from a copy.
    case headConflict(HeadConflict)
    /// The vault's catalog has an earlier schema, which this Coffer reads
    /// but does not write until an administrator runs `coffer vault upgrade`.
    case upgradeRequired(path: String, schema: Int)

    public var kind: FailureKind {
        switch self {
        case .notAVault, .documentNotFound, .documentDeleted, .notFound: .notFound
        case .directoryNotEmpty, .conflict: .conflict
        case .ambiguous, .unknownLabel, .invalidRequest, .unsafeName: .usage
        case .accessDenied, .notPermitted, .revoked: .accessDenied
        case .integrity, .badDescriptor, .replaced, .headConflict: .integrity
        case .unsealableInput: .io
        case .changedConcurrently: .concurrentChange
        case .upgradeRequired: .general
        }
    }

    public var description: String {
        switch self {
        case .notAVault(let path): "\(path) is not a Coffer vault (create one with `coffer init --vault \(path)`)"
        case .directoryNotEmpty(let path): "\(path) exists and is not empty; choose a new directory for the vault"
        case .documentNotFound(let q): "no document you can read matches \(q.debugDescription); see `coffer ls`"
        case .documentDeleted(let document, let by, let at, let entry):
            "document \(document) was deleted by \(by) at \(at) (ledger entry \(entry)); nothing can open it any more"
        case .ambiguous(let q, let matches):
            "\(q.debugDescription) matches \(matches.count) documents: \(matches.prefix(16).joined(separator: "; "))\(matches.count > 16 ? "; …" : ""); name one by its id (or more of it)"
        case .accessDenied(let doc): "access denied: your identity holds no key for document \(doc)"
        case .integrity(let detail): "integrity check failed: \(detail)"
        case .badDescriptor(let detail): "vault descriptor does not verify: \(detail)"
        case .unknownLabel(let label, let known): "unknown label \(label.debugDescription); this vault uses: \(known.joined(separator: ", "))"
        case .unsealableInput(let path, let reason): "cannot seal \(path): \(reason)"
        case .unsafeName(let name, let reason):
            "\(name.debugDescription) cannot name a document: \(reason); use a relative path such as reports/q3.pdf"
        case .invalidRequest(let detail), .notFound(let detail), .conflict(let detail): detail
        case .notPermitted(let detail): "not permitted: \(detail)"
        case .revoked(let fingerprint): "identity \(fingerprint) was revoked from this vault; it can open and change nothing"
        case .changedConcurrently(let detail):
            "the vault changed while this command ran (\(detail)); nothing was committed: run the command again"
        case .replaced(let path, let expected, let found):
            "\(path) now holds vault \(found), not vault \(expected) that you used there before; it may have been swapped. If you replaced it on purpose, run `coffer verify --vault \(path)` and then `coffer state reset --vault \(path)`"
        case .headConflict(let conflict): conflict.description
        case .upgradeRequired(let path, let schema):
            "\(path) has catalog schema \(schema), which this Coffer reads but does not change; an administrator upgrades it in place with `coffer vault upgrade --vault \(path)` (recorded in the ledger; safe to interrupt and run again), then run the command again"
        }
    }
}

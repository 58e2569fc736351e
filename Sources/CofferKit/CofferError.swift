/// The broad class of a failure. The CLI maps each class to one documented
/// exit code (see `docs/CLI.md`), so scripts can branch on it.
public enum FailureKind: String, Sendable, CaseIterable {
    /// Anything not covered by a more specific kind.
    case general
    /// The command line or a configuration value is wrong.
    case usage
    /// Wrong passphrase, or an identity that does not belong to this vault.
    case authentication
    /// The identity holds no key that opens this document, or may not do this.
    case accessDenied
    /// Stored data was altered, truncated, swapped or rolled back.
    case integrity
    /// A document, object, role or file does not exist.
    case notFound
    /// The target exists already and would be overwritten.
    case conflict
    /// The operating system refused a read or write (disk full, permissions).
    case io
    /// Another process changed the vault while this command planned its
    /// change, and the command could not re-plan: nothing was committed;
    /// run it again.
    case concurrentChange
}

/// Every error CofferKit throws conforms to this protocol: a kind for the exit
/// code, and a one-line message a person can act on. Messages never contain
/// key material or plaintext.
public protocol CofferFailure: Error, CustomStringConvertible, Sendable {
    /// The class of failure, which decides the CLI's exit code.
    var kind: FailureKind { get }
}

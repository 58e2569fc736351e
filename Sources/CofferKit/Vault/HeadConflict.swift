/// A vault that does not hold the ledger head an identity remembers for it,
/// explained: the identity's record says where the head was seen, so a
/// rollback of this directory is told apart from a record made on another
/// copy of the vault (a fork, such as a restore drill run before restored
/// copies were read-only).
public struct HeadConflict: Sendable, Equatable, CustomStringConvertible {
    /// What most likely happened.
    public enum Kind: String, Sendable, Equatable {
        /// The head was seen in this directory, which now has fewer entries.
        case rollback
        /// The head was seen in this directory, which now holds another entry at its place.
        case rewritten
        /// The head was seen in another directory holding the same vault: the identity used a copy.
        case fork
    }

    /// What most likely happened.
    public let kind: Kind
    /// The vault directory being opened.
    public let path: String
    /// Where the remembered head was seen (nil: a record that predates paths).
    public let seenAt: String?
    /// The remembered entry's sequence number (entries are numbered from 0).
    public let seenSequence: Int64
    /// How many entries the vault at `path` holds.
    public let entries: Int64

    /// Explains a rollback or fork `error` raised while replaying the vault
    /// at `vaultPath` against the remembered head `remembered`.
    /// - Returns: nil if `error` is neither, or nothing was remembered.
    static func explaining(_ error: LedgerError, vaultPath: String, remembered: HeadStore.Head?, catalog: any VaultCatalog) throws -> VaultError? {
        guard let remembered else { return nil }
        let kind: Kind
        switch error {
        case .rolledBack: kind = .rollback
        case .forked: kind = .rewritten
        default: return nil
        }
        let here = FileSystem.realPath(vaultPath)
        return .headConflict(HeadConflict(
            kind: remembered.seenAt.map { $0 != here } == true ? .fork : kind, path: here, seenAt: remembered.seenAt,
            seenSequence: remembered.sequence, entries: try catalog.ledgerCount()))
    }

    /// What happened and what to do, in words.
    public var description: String {
        let seen = "ledger entry \(seenSequence) (entries are numbered from 0)"
        let now = entries > seenSequence
            ? "the vault at \(path) holds \(entries) entries, but a different entry \(seenSequence)"
            : "the vault at \(path) holds only \(entries) entries (0…\(max(entries - 1, 0)))"
        let reset = "`coffer state reset --vault \(path)`"
        let here = seenAt == nil ? "(its record, from an earlier Coffer, does not say where)" : "in this directory"
        switch kind {
        case .fork:
            let other = seenAt ?? "another directory"
            return "this identity last saw \(seen) in the vault at \(other), and \(now). These are two copies of one vault that "
                + "have diverged, not a rollback of \(path) in place: either \(path) is an older or diverging copy (a restored "
                + "snapshot, a copied directory; keep working in \(other), or, to use \(path) instead, run \(reset)), or \(other) "
                + "was a copy you used by mistake, such as a restore drill (then \(reset) trusts \(path) as it is; its whole ledger "
                + "is checked again). If the vault lives at \(path) and \(other) was never a copy you used, treat this as a rollback: do not reset"
        case .rollback:
            return "the vault at \(path) was rolled back: this identity saw \(seen) \(here), and \(now). "
                + "An older copy was put in its place or entries were removed. Do not work in it and do not restore an older "
                + "backup over it: find the newer state (the newest backup snapshot, `coffer backup list`) and who replaced the "
                + "directory. If you restored an older state here on purpose, accept it with \(reset)"
        case .rewritten:
            return "the vault at \(path) was rewritten: this identity saw \(seen) \(here), and \(now). "
                + "A copy with another history was put in its place. Do not work in it: find out who replaced the directory. "
                + "If you replaced it on purpose, accept it with \(reset)"
        }
    }
}

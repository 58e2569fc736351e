/// A ledger that does not verify. Every case names the first bad entry.
public enum LedgerError: CofferFailure, Equatable {
    /// The entry cannot be parsed.
    case malformed(sequence: Int64, reason: String)
    /// The entry's `prev` is not the previous entry's hash, or entries are missing or out of order.
    case brokenChain(sequence: Int64)
    /// The signature does not verify under the actor's key.
    case badSignature(sequence: Int64)
    /// The actor was not allowed to do this at that point in the history.
    case unauthorized(sequence: Int64, reason: String)
    /// The entry names another vault.
    case wrongVault(sequence: Int64)
    /// The ledger is empty or does not start with `vault.create`.
    case missingGenesis
    /// The vault is older than what this identity saw before: it was rolled back.
    case rolledBack(seenSequence: Int64, currentCount: Int64)
    /// The entry at a sequence this identity saw before has changed.
    case forked(sequence: Int64)

    public var kind: FailureKind { .integrity }

    public var description: String {
        switch self {
        case .malformed(let s, let reason): "ledger entry \(s) is malformed: \(reason)"
        case .brokenChain(let s): "ledger entry \(s) does not link to entry \(s - 1): entries were edited, deleted, inserted or reordered"
        case .badSignature(let s): "ledger entry \(s) has an invalid signature: it was altered or forged"
        case .unauthorized(let s, let reason): "ledger entry \(s) is not authorised: \(reason)"
        case .wrongVault(let s): "ledger entry \(s) belongs to another vault"
        case .missingGenesis: "the ledger is empty or does not start with the vault's creation"
        case .rolledBack(let seen, let count):
            "the vault was rolled back: this identity saw ledger entry \(seen) (entries are numbered from 0, so the vault had at least \(seen + 1)), but it now has only \(count)"
        case .forked(let s): "ledger entry \(s) differs from the one this identity saw before: the vault was replaced or rolled back"
        }
    }
}

/// Replays a ledger from its first entry: sequence numbers, vault id, hash
/// links, signatures and the authorisation rules of ``VaultState``. The first
/// bad entry stops the replay and is named in the error.
///
/// With a ``Spill``, the documents changed so far are saved in a
/// ``StateStore`` every few thousand entries, so that a replay of a million
/// documents holds one interval's changes in memory, not the vault.
struct LedgerVerifier {
    /// Where, and how often, a replay saves what it has verified.
    struct Spill {
        /// The store (the identity's own, or a temporary one).
        let store: StateStore
        /// The identity whose name index the saves queue documents for (nil: none).
        var reader: String? = nil
        /// Entries between two saves.
        var interval: Int64 = 20_000
    }

    /// The state after the entries applied so far.
    private(set) var state: VaultState
    private let spill: Spill?

    /// Starts an empty replay for `vaultID`.
    init(vaultID: VaultID, spillingTo spill: Spill? = nil) {
        state = VaultState(vaultID: vaultID)
        self.spill = spill
    }

    /// Continues from an already verified state.
    init(state: VaultState, spillingTo spill: Spill? = nil) {
        self.state = state
        self.spill = spill
    }

    /// Verifies and applies the next entry.
    /// - Parameter checkSignature: false only for entries this identity has
    ///   verified before (their hashes chain to a head it remembers).
    mutating func append(_ entry: LedgerEntry, checkSignature: Bool = true) throws {
        let c = entry.contents
        guard entry.sequence == state.entryCount else { throw LedgerError.brokenChain(sequence: entry.sequence) }
        guard c.vault == state.vaultID else { throw LedgerError.wrongVault(sequence: entry.sequence) }
        guard c.previous == state.head else { throw LedgerError.brokenChain(sequence: entry.sequence) }
        if entry.sequence == 0 {
            guard case .vaultCreated = c.event else { throw LedgerError.missingGenesis }
        }
        if checkSignature {
            let key: [UInt8]
            if case .vaultCreated(let p) = c.event, entry.sequence == 0 {
                guard let creator = try? PublicIdentity(p.creator) else {
                    throw LedgerError.malformed(sequence: 0, reason: "creator identity")
                }
                key = creator.signingKey
            } else if let member = state.identities[c.actor] {
                key = member.identity.signingKey
            } else {
                throw LedgerError.unauthorized(sequence: entry.sequence, reason: "actor \(c.actor) is not a known identity")
            }
            let message = LedgerEntry.signedMessage(vault: state.vaultID, body: entry.body)
            guard Ed25519.isValid(signature: entry.signature, message: message, publicKey: key) else {
                throw LedgerError.badSignature(sequence: entry.sequence)
            }
        }
        do {
            try state.apply(entry)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError.unauthorized(sequence: entry.sequence, reason: "\(error)")
        }
        if let spill, state.entryCount % spill.interval == 0 { state = try spill.store.save(state, reader: spill.reader) }
    }
}

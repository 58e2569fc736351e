import Foundation

/// Replays a ledger from its first entry: sequence numbers, vault id, hash
/// links, signatures and the authorisation rules of ``VaultState``. The first
/// bad entry stops the replay and is named in the error.
///
/// With a ``Spill``, the documents changed so far are saved in a
/// ``StateStore`` whenever some thousands of them are held, so that a replay
/// of a million documents holds that many in memory, not the vault (a
/// rotation changes thousands of documents in one entry: counting entries would not do).
struct LedgerVerifier {
    /// Where, and how often, a replay saves what it has verified.
    struct Spill {
        /// The store (the identity's own, or a temporary one).
        let store: StateStore
        /// The identity whose name index the saves queue documents for (nil: none).
        var reader: String? = nil
        /// Changed documents held in memory that make the replay save them
        /// (it may hold one entry's documents more).
        var documentLimit = 10_000
    }

    /// The state after the entries applied so far.
    private(set) var state: VaultState
    private let spill: Spill?
    /// The actors' keys as this replay learned them, for reader threads
    /// that check signatures ahead of it (``Catalog/forEachLedgerEntry(from:checkingAheadWith:_:)``).
    let signingKeys: SigningKeys

    /// Starts an empty replay for `vaultID`.
    init(vaultID: VaultID, spillingTo spill: Spill? = nil) {
        self.init(state: VaultState(vaultID: vaultID), spillingTo: spill)
    }

    /// Continues from an already verified state.
    init(state: VaultState, spillingTo spill: Spill? = nil) {
        self.state = state
        self.spill = spill
        signingKeys = SigningKeys(vault: state.vaultID)
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
            // A check made ahead counts only against the very key the actor has now.
            let isValid = entry.signatureCheckedAhead.flatMap { $0.key == key ? $0.isValid : nil }
                ?? SigningKeys.isValid(entry, vault: state.vaultID, key: key)
            guard isValid else { throw LedgerError.badSignature(sequence: entry.sequence) }
            signingKeys.learn(key, of: c.actor)
        }
        do {
            try state.apply(entry)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError.unauthorized(sequence: entry.sequence, reason: "\(error)")
        }
        if let spill, state.documents.changedCount >= spill.documentLimit { state = try spill.store.save(state, reader: spill.reader) }
    }
}

/// An entry's signature, checked by a reader thread against the key its
/// actor had when the replay last saw it.
struct SignatureCheck: Sendable {
    /// The Ed25519 public key the signature was checked against.
    let key: [UInt8]
    /// Whether the signature is valid under `key`.
    let isValid: Bool
}

/// The signing keys a replay has verified entries under, by actor, shared
/// with the threads that read and parse entries so that they can check
/// signatures on every core while the replay applies entries in order.
///
/// A check made ahead is only a shortcut: ``LedgerVerifier`` accepts it
/// when its key equals the actor's key in the verified state at that entry,
/// and checks the signature itself otherwise (an actor not yet seen, or
/// any disagreement). A wrong key here can cost time, never acceptance.
final class SigningKeys: @unchecked Sendable {
    private let vault: VaultID
    private let lock = NSLock()
    private var keys: [String: [UInt8]] = [:]

    init(vault: VaultID) {
        self.vault = vault
    }

    /// Records that `actor` signed a verified entry with `key`.
    func learn(_ key: [UInt8], of actor: String) {
        lock.withLock {
            if keys[actor] != key { keys[actor] = key }
        }
    }

    /// Checks `entry`'s signature against the key last learned for its
    /// actor; nil if none was learned yet.
    func checkAhead(_ entry: LedgerEntry) -> SignatureCheck? {
        guard let key = lock.withLock({ keys[entry.contents.actor] }) else { return nil }
        return SignatureCheck(key: key, isValid: Self.isValid(entry, vault: vault, key: key))
    }

    /// Whether `entry` carries a valid signature by `key` for `vault`.
    static func isValid(_ entry: LedgerEntry, vault: VaultID, key: [UInt8]) -> Bool {
        Ed25519.isValid(signature: entry.signature, message: LedgerEntry.signedMessage(vault: vault, body: entry.body), publicKey: key)
    }
}

import Foundation

/// What `coffer vault upgrade` did.
public struct CatalogUpgrade: Codable, Sendable, Equatable {
    /// The catalog schema this Coffer writes.
    public static let currentSchema = Catalog.schemaVersion
    /// The schema before (equal to ``toSchema`` if the catalog was current already).
    public let fromSchema: Int
    /// The schema now.
    public let toSchema: Int
    /// The sequence of the `vault.upgrade` entry; nil if the catalog was current already.
    public let entry: Int64?
    /// Documents this run re-keyed from BLAKE2b-named objects to SHA-256-named ones.
    public let rekeyed: Int
    /// Documents whose objects are still BLAKE2b-named (0 once the upgrade has finished).
    public let remaining: Int
}

extension Vault {
    /// Upgrades the vault in place to the current format (administrators
    /// only). Two steps, each safe to interrupt; a rerun, or a run racing
    /// this one, continues where the other stopped:
    ///
    /// 1. The catalog goes to the current schema in one transaction with a
    ///    signed `vault.upgrade` entry (schema 2 → 3 dropped nine index tables
    ///    nothing reads; the ledger itself is unchanged, so every signature
    ///    and backup stays valid).
    /// 2. Every document whose current objects are named by BLAKE2b-256
    ///    (schema 3 and before) is re-keyed, as `coffer rotate doc` does: its
    ///    content is re-encrypted under a fresh data key into SHA-256-named
    ///    objects, in batches of `rekeyBatchSize` per commit. The old objects
    ///    are left to `coffer gc`.
    ///
    /// Every entry of the ledger is verified first (signatures, chain,
    /// authorisation), as `coffer verify` does.
    /// - Throws: ``VaultError/notPermitted(_:)`` for an identity that is no
    ///   administrator; ``LedgerError`` for an entry that does not verify;
    ///   ``CatalogSchemaError`` if the catalog holds objects that are not
    ///   Coffer's own (nothing is changed); what re-keying throws, such as
    ///   ``ObjectStoreError`` for damaged content (documents before it stay re-keyed).
    public func upgrade() throws -> CatalogUpgrade {
        guard state.admins.contains(identity.fingerprint) else {
            throw VaultError.notPermitted("only an administrator may upgrade the vault")
        }
        // The whole ledger is verified first, as `coffer verify` does (the
        // saved state vouches only for what came after its checkpoint): a
        // format change is made on a vault known to be intact.
        _ = try Vault.replay(
            catalog: catalog, descriptor: descriptor, trustedThrough: nil,
            spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: descriptor.vault)))
        let appended = try commit(upgradingSchema: true) { _ in }
        let upgraded = appended.lazy.compactMap { entry -> (VaultUpgraded, Int64)? in
            if case .vaultUpgraded(let p) = entry.contents.event { return (p, entry.sequence) }
            return nil
        }.first
        let pending = documentsNamedByBlake2b()
        var rekeyed = 0
        for start in stride(from: 0, to: pending.count, by: Self.rekeyBatchSize) {
            let batch = Array(pending[start..<min(start + Self.rekeyBatchSize, pending.count)])
            rekeyed += try replanning { try rekeyRetryingRaces(batch) { $0.current.manifest.hash != .current } }
        }
        return CatalogUpgrade(
            fromSchema: upgraded?.0.fromSchema ?? Catalog.schemaVersion, toSchema: Catalog.schemaVersion, entry: upgraded?.1,
            rekeyed: rekeyed, remaining: documentsNamedByBlake2b().count)
    }

    /// The documents whose current version's objects are named by BLAKE2b-256, in id order.
    func documentsNamedByBlake2b() -> [DocumentID] {
        Array(state.documents.values.lazy.filter { $0.current.manifest.hash != .current }.map(\.id))
    }

}

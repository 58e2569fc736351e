import Foundation

/// What `coffer vault upgrade` did.
public struct CatalogUpgrade: Codable, Sendable, Equatable {
    /// The catalog schema this Coffer writes.
    public static let currentSchema = Catalog.schemaVersion
    /// The schema before (equal to ``toSchema`` if the catalog was current already).
    public let fromSchema: Int
    /// The schema now.
    public let toSchema: Int
    /// The sequence of the `vault.upgrade` entry; nil if nothing needed upgrading.
    public let entry: Int64?
}

extension Vault {
    /// Upgrades the vault's catalog in place to the current schema, in one
    /// transaction with a signed `vault.upgrade` entry (administrators only):
    /// a kill leaves the earlier schema or the whole upgrade, and a second
    /// run, or one racing this one, finds nothing to do.
    ///
    /// Every entry of the ledger is verified first (signatures, chain,
    /// authorisation), as `coffer verify` does.
    ///
    /// Schema 2 → 3 drops the nine index tables (nothing reads them any more;
    /// the ledger itself is unchanged, so every signature and backup stays valid).
    /// - Throws: ``VaultError/notPermitted(_:)`` for an identity that is no
    ///   administrator; ``LedgerError`` for an entry that does not verify; ``CatalogSchemaError`` if the catalog holds objects
    ///   that are not Coffer's own (nothing is changed).
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
        for entry in appended {
            if case .vaultUpgraded(let p) = entry.contents.event {
                return CatalogUpgrade(fromSchema: p.fromSchema, toSchema: p.toSchema, entry: entry.sequence)
            }
        }
        return CatalogUpgrade(fromSchema: Catalog.schemaVersion, toSchema: Catalog.schemaVersion, entry: nil)
    }
}

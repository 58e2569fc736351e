import Foundation

extension Vault {
    /// Seals `details` for the administrators (see ``SealedDetails``),
    /// bound to this vault, `action` and `subject`.
    /// - Throws: ``IdentityError/notInVault(fingerprint:)`` if the vault has
    ///   no admin role (never, after `init`); ``VaultError/integrity(_:)``.
    func sealDetails<T: Encodable>(_ details: T, action: String, subject: String, state: VaultState) throws -> SealedDetails {
        guard let admin = state.adminRole else { throw IdentityError.notInVault(fingerprint: identity.fingerprint) }
        return try DetailsKey.seal(details, context: DetailsContext(vaultID: state.vaultID, action: action, subject: subject), admin: admin)
    }

    /// What a `bundle.create`, `vault.backup` or `document.hold` entry records beyond its
    /// public part: read from the entry itself if it was written before
    /// sealed details (anyone), else opened with the admin key (only an
    /// administrator; nil for everyone else).
    /// - Parameter entry: an entry of this vault's ledger.
    /// - Returns: nil for other entries, for entries appended after this
    ///   vault was opened (its state does not hold their keys), and for
    ///   sealed details this identity cannot open.
    /// - Throws: ``CryptoError`` or ``FormatError`` if the sealed details or
    ///   their key were changed (an integrity failure).
    public func details(of entry: LedgerEntry) throws -> RevealedDetails? {
        guard entry.sequence < state.entryCount else { return nil }
        switch entry.contents.event {
        case .bundleCreated(let p): return try bundleDetails(p, sequence: entry.sequence).map(RevealedDetails.bundle)
        case .backupStarted(let p): return try backupDetails(p, sequence: entry.sequence).map(RevealedDetails.backup)
        case .documentsHeld(let p):
            let context = DetailsContext(vaultID: state.vaultID, action: entry.contents.event.action, subject: p.hold)
            return try openDetails(HoldDetails.self, sealed: p.details, sequence: entry.sequence, context: context).map(RevealedDetails.hold)
        default: return nil
        }
    }

    /// A bundle's recipients, note and files: in clear in older entries,
    /// else opened for an administrator; nil for anyone else.
    func bundleDetails(_ record: BundleCreated, sequence: Int64) throws -> BundleDetails? {
        if let clear = record.clearDetails { return clear }
        guard let sealed = record.details else { return nil }
        let context = DetailsContext(vaultID: state.vaultID, action: LedgerEvent.bundleCreated(record).action, subject: record.bundle)
        guard let details = try openDetails(BundleDetails.self, sealed: sealed, sequence: sequence, context: context) else { return nil }
        guard details.files.count == record.files.count else {
            throw VaultError.integrity("the sealed details of bundle \(record.bundle) list \(details.files.count) files, its entry \(record.files.count)")
        }
        return details
    }

    /// A backup's destination: in clear in older entries, else opened for
    /// an administrator; nil for anyone else.
    func backupDetails(_ record: BackupStarted, sequence: Int64) throws -> BackupDetails? {
        guard let sealed = record.details else { return record.destination.map(BackupDetails.init) }
        let context = DetailsContext(vaultID: state.vaultID, action: LedgerEvent.backupStarted(record).action, subject: record.snapshot)
        return try openDetails(BackupDetails.self, sealed: sealed, sequence: sequence, context: context)
    }

    /// Opens sealed details with the admin key version their key is
    /// currently wrapped under, if this identity is an administrator.
    private func openDetails<T: Decodable>(_ type: T.Type, sealed: SealedDetails, sequence: Int64, context: DetailsContext) throws -> T? {
        guard state.admins.contains(identity.fingerprint), let admin = state.adminRole else { return nil }
        let wrap = state.detailsKeys[sequence]
            ?? VaultState.DetailsKeyWrap(adminVersion: sealed.adminVersion, wrapped: Array(sealed.key), action: context.action, subject: context.subject)
        guard let adminKey = try roleKey(admin.id, version: wrap.adminVersion) else { return nil }
        let key = try DetailsKey.unwrap(wrap.wrapped, adminKey: adminKey, adminVersion: wrap.adminVersion, context: context)
        return try key.open(T.self, box: sealed.box, context: context)
    }

    /// Every details key wrapped under an admin version older than the
    /// current one, rewrapped under the current one: what `admin.rewrap`
    /// carries after the admin role rotated, so the older versions can be retired.
    func rewrappedDetailsKeys() throws -> [DetailsKeyRewrap] {
        guard let admin = state.adminRole else { return [] }
        let current = admin.currentVersion
        let stale = state.detailsKeys.filter { $0.value.adminVersion < current }
        guard !stale.isEmpty else { return [] }
        let adminKey = try roleKey(admin.id, version: current).orThrow("admin")
        var rewrapped: [DetailsKeyRewrap] = []
        for sequence in stale.keys.sorted() {
            let wrap = stale[sequence]!
            let context = DetailsContext(vaultID: state.vaultID, action: wrap.action, subject: wrap.subject)
            let oldKey = try roleKey(admin.id, version: wrap.adminVersion).orThrow("admin v\(wrap.adminVersion)")
            let key = try DetailsKey.unwrap(wrap.wrapped, adminKey: oldKey, adminVersion: wrap.adminVersion, context: context)
            rewrapped.append(DetailsKeyRewrap(
                sequence: sequence, wrapped: Data(key.wrapped(under: adminKey, adminVersion: current, context: context))))
        }
        return rewrapped
    }
}

import Foundation

/// The mark of a vault restored from a backup snapshot and not yet adopted
/// (`VAULT/restored.json`, written by `BackupStore/restore(_:snapshot:to:)`).
///
/// A restored copy is read-only, and opening it changes nothing in the
/// state directory: it is checked against the head each identity remembers
/// (so a rollback is still reported), but never moves that record, pins its
/// path or appends. A restore drill can therefore not fork an identity's
/// record of the live vault. `coffer backup adopt` (an administrator,
/// ledgered as `vault.adopt`) removes the mark and makes the copy the vault
/// the identity works in.
///
/// The file is not authenticated, and need not be: adding it to a vault only
/// makes that vault read-only (anyone who can write the directory can stop
/// the vault anyway); removing it from a copy makes the copy an ordinary
/// vault, whose use the remembered heads then report as a fork
/// (``HeadConflict``). Neither hides a rollback.
public struct RestoredCopy: Codable, Sendable, Equatable {
    /// The snapshot restored.
    public let snapshot: String
    /// Its ledger entry count.
    public let entries: Int64
    /// Its head (hex).
    public let head: String
    /// When it was restored (RFC 3339).
    public let restored: String

    /// `restored.json`.
    static let fileName = "restored.json"

    /// The mark in the vault at `vault`, if it has one. A mark that does not
    /// parse still marks the vault as restored (read-only is the safe side).
    static func read(in vault: String) throws -> RestoredCopy? {
        let path = FileSystem.join(vault, fileName)
        guard FileSystem.exists(path) else { return nil }
        let bytes = try FileSystem.readSmallFile(path, limit: 4096)
        return (try? LedgerJSON.decoder.decode(RestoredCopy.self, from: Data(bytes)))
            ?? RestoredCopy(snapshot: "(unreadable \(fileName))", entries: 0, head: "", restored: "")
    }

    /// Why a command may not append to the restored copy at `path`, and what to do.
    func refusal(path: String) -> String {
        "\(path) is a vault restored from backup snapshot \(snapshot) and not yet adopted, so it is read-only "
            + "(using it cannot fork your record of the live vault). Check it with `coffer verify --deep --vault \(path)`; "
            + "to make it the vault you work in (the live vault is lost or replaced), an administrator runs "
            + "`coffer backup adopt --vault \(path)`"
    }
}

extension BackupStore {
    /// Restores a snapshot (the newest if `snapshot` is nil) into `directory`,
    /// which must not exist or be empty, as a read-only ``RestoredCopy``.
    ///
    /// The backup directory is attacker-writable, so everything restored is
    /// checked in this run, on the bytes restored: the manifest's signature
    /// by an identity of the vault; the catalog, hashed while it is copied
    /// into a temporary file beside its final name and compared with the
    /// manifest's hash; the copy's ledger (chain, signatures, authorisation)
    /// replayed and its entry count, head and vault compared with the
    /// manifest's; every object checked against its name as it is copied.
    /// Only then is the catalog named, and the descriptor written last: until
    /// it exists the directory is not a vault. On any failure everything
    /// written is removed (and `directory`, if this created it).
    /// - Throws: ``BackupError/badManifest(_:)``, ``LedgerError`` (integrity,
    ///   exit 5), ``BackupError/noSnapshot(_:)``, ``VaultError/directoryNotEmpty(path:)``.
    public static func restore(
        _ destination: String, snapshot: String?, to directory: String, progress: (any ProgressListener)? = nil
    ) throws -> BackupManifest {
        let lock = try lock(try existing(destination), exclusive: false)
        defer { withExtendedLifetime(lock) {} }
        let (folder, listed) = try Self.snapshot(snapshot, in: destination)
        let createdDirectory = !FileSystem.exists(directory)
        if !createdDirectory {
            guard FileSystem.isDirectory(directory), try FileSystem.contents(of: directory).isEmpty else {
                throw VaultError.directoryNotEmpty(path: directory)
            }
        }
        try FileSystem.createDirectories(directory)
        var restored = false
        defer { if !restored { removeRestore(in: directory, createdDirectory: createdDirectory) } }

        let (manifest, operatorIdentity) = try signedManifest(in: folder, listed: listed)
        let descriptorBytes = try FileSystem.readSmallFile(FileSystem.join(folder, VaultDescriptor.fileName), limit: VaultDescriptor.maximumSize)
        let descriptor = try VaultDescriptor.parse(descriptorBytes)
        guard descriptor.vault == manifest.vault else { throw BackupError.badManifest("the snapshot's descriptor is of vault \(descriptor.vault), the manifest names \(manifest.vault)") }

        let staged = try AtomicFile(destination: Vault.catalogPath(directory))
        guard try fileHash(FileSystem.join(folder, "catalog.sqlite"), copyingTo: staged) == manifest.catalog else {
            throw BackupError.badManifest("catalog.sqlite is not the one the manifest names (its hash differs)")
        }
        let state = try checkedState(ofCatalogAt: staged.temporaryPath!, descriptor: descriptor)
        guard state.entryCount == manifest.entries, Hex.encode(state.head) == manifest.head else {
            throw BackupError.badManifest("the catalog holds \(state.entryCount) ledger entries, the manifest names \(manifest.entries) and another head")
        }
        guard state.identities[operatorIdentity.fingerprint] != nil else {
            throw BackupError.badManifest("the operator \(operatorIdentity.fingerprint) who signed it is not an identity of the vault")
        }
        let source = ObjectStore(root: FileSystem.join(destination, "objects"))
        _ = try ObjectReferences(usedBy: state.documents).copyMissing(
            from: source, to: try ObjectStore.create(at: Vault.objectsPath(directory)), progress: progress)
        try staged.commit(overwrite: false)
        let mark = RestoredCopy(snapshot: manifest.id, entries: manifest.entries, head: manifest.head, restored: Timestamp.format(Date()))
        try AtomicFile.write(Array(try LedgerJSON.encoder.encode(mark)), to: FileSystem.join(directory, RestoredCopy.fileName), overwrite: false)
        // The descriptor last: until it exists, the directory is not a vault.
        try AtomicFile.write(descriptorBytes, to: FileSystem.join(directory, VaultDescriptor.fileName), overwrite: false)
        restored = true
        return manifest
    }

    /// The state the catalog at `path` (a file only this process writes)
    /// establishes: its ledger replayed and verified from the first entry,
    /// its documents saved to a temporary store as the replay goes, so that
    /// memory does not grow with the vault.
    private static func checkedState(ofCatalogAt path: String, descriptor: VaultDescriptor) throws -> VaultState {
        let catalog = try Catalog.open(at: path, access: .immutable)
        guard try catalog.meta("vault_id") == descriptor.vault.description else {
            throw BackupError.badManifest("the catalog belongs to another vault than the snapshot's descriptor")
        }
        return try Vault.replay(
            catalog: catalog, descriptor: descriptor, trustedThrough: nil,
            spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: descriptor.vault)))
    }

    /// Removes what a failed restore wrote into `directory` (and the
    /// directory itself if the restore created it).
    private static func removeRestore(in directory: String, createdDirectory: Bool) {
        if createdDirectory {
            try? FileManager.default.removeItem(atPath: directory)
            return
        }
        for name in ["objects", "catalog.sqlite", RestoredCopy.fileName, VaultDescriptor.fileName] {
            try? FileManager.default.removeItem(atPath: FileSystem.join(directory, name))
        }
    }
}

/// What `coffer backup adopt` did.
public struct AdoptReport: Codable, Sendable, Equatable {
    /// The snapshot the vault was restored from.
    public let snapshot: String
    /// Ledger entries after the `vault.adopt` entry.
    public let entries: Int64
    /// The new head (hex).
    public let head: String
}

extension Vault {
    /// Makes the restored copy at `path` the vault `identity` works in: the
    /// copy is opened and checked as usual (against the head the identity
    /// remembers: adopting a copy older than what it saw is refused as a
    /// rollback until `coffer state reset` accepts it), a `vault.adopt` entry
    /// (administrators only) records which snapshot the vault continues
    /// from, the ``RestoredCopy`` mark is removed, and the identity pins the
    /// path and remembers the new head.
    /// - Throws: ``VaultError/invalidRequest(_:)`` if `path` is not a restored
    ///   copy; ``VaultError/notPermitted(_:)`` if the identity is no administrator;
    ///   ``VaultError/headConflict(_:)``; what ``open(at:identity:stateDirectory:access:)`` throws.
    public static func adopt(at path: String, identity: Identity, stateDirectory: StateLocation = .standard) throws -> AdoptReport {
        guard let mark = try RestoredCopy.read(in: path) else {
            throw VaultError.invalidRequest("\(path) is not a restored copy waiting to be adopted (it has no \(RestoredCopy.fileName)); it is already an ordinary vault")
        }
        let vault = try open(at: path, identity: identity, stateDirectory: stateDirectory)
        guard vault.state.admins.contains(identity.fingerprint) else {
            throw VaultError.notPermitted("only an administrator may adopt a restored vault")
        }
        vault.readOnlyReason = nil
        // A snapshot of a vault of an earlier schema is upgraded in the same transaction.
        try vault.commit(upgradingSchema: true) { draft in
            try draft.append(.vaultAdopted(VaultAdopted(snapshot: mark.snapshot, entries: mark.entries, head: mark.head)))
        }
        let markPath = FileSystem.join(path, RestoredCopy.fileName)
        guard unlink(markPath) == 0 else { throw FileError("unlink", path: markPath) }
        try FileSystem.syncDirectory(path)
        if let directory = stateDirectory.path {
            let heads = HeadStore(directory: directory)
            try heads.pin(fingerprint: identity.fingerprint, vaultPath: path, vault: vault.state.vaultID)
            try heads.remember(
                HeadStore.Head(sequence: vault.state.entryCount - 1, hash: vault.state.head, seenAt: FileSystem.realPath(path)),
                fingerprint: identity.fingerprint, vault: vault.state.vaultID)
        }
        return AdoptReport(snapshot: mark.snapshot, entries: vault.state.entryCount, head: Hex.encode(vault.state.head))
    }

    /// What `coffer state reset` did.
    public struct StateReset: Codable, Sendable, Equatable {
        /// The vault.
        public let vault: VaultID
        /// The head this identity remembered and forgot (sequence), if any.
        public let forgottenSequence: Int64?
        /// Where that head was seen, if known.
        public let forgottenSeenAt: String?
        /// Entries of the vault now trusted.
        public let entries: Int64
        /// Its head (hex).
        public let head: String
    }

    /// Accepts the vault at `path` as it is now (`coffer state reset`):
    /// after its whole ledger verifies, `identity` forgets the head and
    /// checkpoint it remembered for the vault, pins the vault at `path`, and
    /// remembers its current head (unless it is a restored copy, which
    /// leaves the record alone until adopted).
    ///
    /// This is how a deliberate rollback is accepted, or a record that
    /// forked on a copy is repaired (``HeadConflict``); it changes only
    /// the identity's files in `stateDirectory`, and nothing in the vault.
    /// - Throws: ``LedgerError`` if the vault's ledger does not verify (nothing is forgotten then);
    ///   ``IdentityError/notInVault(fingerprint:)``.
    public static func resetState(at path: String, identity: Identity, stateDirectory: String) throws -> StateReset {
        let (descriptor, catalog, _) = try openCatalog(at: path, access: .readOnly)
        let checked = try replay(catalog: catalog, descriptor: descriptor, trustedThrough: nil)
        guard checked.identities[identity.fingerprint] != nil else { throw IdentityError.notInVault(fingerprint: identity.fingerprint) }
        let heads = HeadStore(directory: stateDirectory)
        let forgotten = try heads.forget(fingerprint: identity.fingerprint, vault: descriptor.vault)
        try heads.pin(fingerprint: identity.fingerprint, vaultPath: path, vault: descriptor.vault)
        let vault = try open(at: path, identity: identity, stateDirectory: .directory(stateDirectory), access: .readOnly)
        return StateReset(
            vault: descriptor.vault, forgottenSequence: forgotten?.sequence, forgottenSeenAt: forgotten?.seenAt,
            entries: vault.state.entryCount, head: Hex.encode(vault.state.head))
    }
}

import Foundation

/// What `coffer vault copy` did.
public struct VaultCopyReport: Sendable, Encodable {
    /// The vault's id (the copy's too: it is the same vault).
    public let id: VaultID
    /// Ledger entries in the copy.
    public let entries: Int64
    /// Entries this run appended (fewer than `entries` when it resumed).
    public let entriesCopied: Int64
    /// Objects the current versions reference.
    public let objects: Int
    /// Objects this run copied (the rest were there already).
    public let objectsCopied: Int
    /// Their bytes.
    public let bytesCopied: UInt64
    /// Where the copy keeps its ledger and objects (nil: its own directory).
    public let storage: SharedStorage?
}

extension Vault {
    /// How many ledger entries one append of a copy holds.
    static let copyBatchSize = 256

    /// Copies the vault at `source` (local or shared) into `target`, on the
    /// backend `storage` names: the same vault (the same id, descriptor and
    /// signed ledger rows, byte for byte), with every object the current
    /// versions reference. No key is needed: the source's ledger is replayed
    /// and verified without one, each object is re-hashed as it is read, and
    /// the finished copy is verified end to end (every referenced object
    /// read back and re-hashed) before its descriptor is written, last.
    ///
    /// **Resumable**: a copy interrupted at any point (a kill, a lost
    /// server) is finished by running the same command again: objects are
    /// content-addressed (those present are skipped), and ledger rows are
    /// appended after the copy's last one, which must be the source's row
    /// at that sequence. A target without the descriptor is not a vault, so
    /// nothing uses a half-made copy.
    ///
    /// The source is left as it is. Both are then the same vault: use one
    /// of them; each identity's remembered head turns a later divergence
    /// into a fork it reports (``HeadConflict``).
    /// - Throws: ``VaultError/directoryNotEmpty(path:)`` for a target that
    ///   is neither new nor this copy in progress; ``VaultError/notPermitted(_:)``
    ///   for a restored copy not yet adopted or an earlier schema;
    ///   ``VaultError/integrity(_:)`` if the copy does not verify;
    ///   ``LedgerError`` and ``ObjectStoreError`` for a damaged source.
    public static func copy(from source: String, to target: String, storage: VaultStorage, progress: (any ProgressListener)? = nil) throws -> VaultCopyReport {
        if let restored = try RestoredCopy.read(in: source) {
            throw VaultError.notPermitted(restored.refusal(path: source) + ", then copy it")
        }
        guard FileSystem.realPath(source) != FileSystem.realPath(target) else { throw VaultError.invalidRequest("the copy must go to another directory") }
        let (descriptor, sourceCatalog, sourceShared) = try openCatalog(at: source, access: .readOnly)
        guard try sourceCatalog.storedSchema() == Catalog.schemaVersion else {
            throw VaultError.notPermitted("\(source) has catalog schema \(try sourceCatalog.storedSchema() ?? -1); run `coffer vault upgrade` on it first")
        }
        // The source's lock, held shared: its `gc` cannot delete what is being copied.
        let sourceLock = sourceShared == nil ? try VaultLock.shared(for: source, create: false) : nil
        try (sourceCatalog as? PostgresLedger)?.holdShared()
        defer { withExtendedLifetime(sourceLock) {} }
        let sourceObjects: any ObjectStoring = try sourceShared?.connectObjects() ?? ObjectStore(root: objectsPath(source))
        let state = try replay(
            catalog: sourceCatalog, descriptor: descriptor, trustedThrough: nil,
            spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: descriptor.vault)))

        let descriptorFile = try VaultDescriptor.readFile(inVault: source)
        let (targetCatalog, targetObjects, targetShared) = try prepareCopyTarget(target, of: descriptor, descriptorFile: descriptorFile, storage: storage)
        // Objects first: no row that refers to one is copied before it is durable.
        // A fan-out directory at a time, the references in a temporary file: memory does not grow with the vault.
        let live = try ObjectReferences(usedBy: state.documents)
        var (objects, objectsCopied, bytesCopied) = (0, 0, UInt64(0))
        let batch = PublishBatch(store: targetObjects)
        try live.forEachFanOut { ids in
            objects += ids.count
            let missing = try ids.filter { !(try targetObjects.contains($0)) }
            objectsCopied += missing.count
            bytesCopied += try targetObjects.copy(missing, from: sourceObjects, into: batch, progress: progress)
        }
        try batch.finish()

        // Then the rows, after the copy's last one (which must be the source's).
        let copied = try targetCatalog.ledgerCount()
        guard copied <= state.entryCount else {
            throw VaultError.directoryNotEmpty(path: target)
        }
        if copied > 0, let last = try sourceCatalog.ledgerEntry(at: copied - 1) {
            do {
                try targetCatalog.requireEntry(at: copied - 1, hash: last.hash)
            } catch is LedgerError {
                throw VaultError.integrity("\(target) holds a different ledger than \(source) at entry \(copied - 1); remove it and copy again")
            }
        }
        var pending: [LedgerEntry] = []
        try sourceCatalog.forEachLedgerEntry(from: copied) { entry in
            guard entry.sequence < state.entryCount else { return }  // appended after the replay: not covered by the objects copied
            pending.append(entry)
            if pending.count == copyBatchSize {
                try targetCatalog.append(planning: { pending })
                pending.removeAll()
            }
        }
        if !pending.isEmpty { try targetCatalog.append(planning: { pending }) }

        // Verified end to end, then made a vault: the descriptor goes last.
        let report = try VaultVerifier.verifyCopy(
            catalog: targetCatalog, objects: targetObjects, descriptor: descriptor, expecting: state)
        if let finding = report.findings.first {
            throw VaultError.integrity("the copy in \(target) does not verify (\(report.findings.count) findings; first: \(finding.check) \(finding.subject): \(finding.message)); it is left without a descriptor")
        }
        try AtomicFile.write(descriptorFile, to: FileSystem.join(target, VaultDescriptor.fileName), mode: 0o600, overwrite: false)
        return VaultCopyReport(
            id: descriptor.vault, entries: state.entryCount, entriesCopied: state.entryCount - copied, objects: objects,
            objectsCopied: objectsCopied, bytesCopied: bytesCopied, storage: targetShared)
    }

    /// The target of a copy: a new (or empty) directory made ready for the
    /// backend, or one that this copy left unfinished (no descriptor yet, and
    /// its storage belongs to the same vault), reopened.
    private static func prepareCopyTarget(
        _ target: String, of descriptor: VaultDescriptor, descriptorFile: [UInt8], storage: VaultStorage
    ) throws -> (any VaultCatalog, any ObjectStoring, SharedStorage?) {
        let begun = [catalogPath(target), objectsPath(target), FileSystem.join(target, SharedStorage.fileName)].contains(where: FileSystem.exists)
        let resuming = FileSystem.isDirectory(target) && !FileSystem.exists(FileSystem.join(target, VaultDescriptor.fileName)) && begun
        if !resuming { try makeEmptyDirectory(target) }
        switch storage {
        case .local:
            guard !FileSystem.exists(FileSystem.join(target, SharedStorage.fileName)) else { throw VaultError.directoryNotEmpty(path: target) }
            let objects = try ObjectStore.create(at: objectsPath(target))  // makes what is missing
            let catalog = try openOrCreateCatalog(at: catalogPath(target), vault: descriptor.vault)
            try requireSameVault(catalog, descriptor)
            return (catalog, objects, nil)
        case .shared(let location, let bucket):
            let shared = try SharedStorage(catalog: location, schema: SharedStorage.schema(for: descriptor.vault), objects: bucket)
            if resuming {
                guard try SharedStorage.read(inVault: target) == shared else { throw VaultError.directoryNotEmpty(path: target) }
            }
            let objects = try shared.connectObjects()
            try objects.requireUsableBucket()
            let catalog = try shared.connectCatalog()
            let exists = (try? catalog.meta("vault_id")) != nil
            if exists, !resuming {
                throw VaultError.conflict(
                    "that database already holds vault \(descriptor.vault) (schema \(shared.schema)): join it with `coffer attach`, or copy to another database")
            }
            // Written before the schema is made, so that a rerun finds the schema of an interrupted first run.
            if !resuming { try AtomicFile.write(try shared.encoded(), to: FileSystem.join(target, SharedStorage.fileName), mode: 0o600, overwrite: false) }
            if !exists { try catalog.create(vault: descriptor.vault, descriptor: descriptorFile) }
            try requireSameVault(catalog, descriptor)
            return (catalog, objects, shared)
        }
    }

    /// Opens the local catalog at `path`, or creates it: also when a first
    /// run was killed while creating it (a file with none of the tables,
    /// since they are made in one transaction, is made again).
    private static func openOrCreateCatalog(at path: String, vault: VaultID) throws -> Catalog {
        guard FileSystem.exists(path) else { return try Catalog.create(at: path, vaultID: vault) }
        do {
            return try Catalog.open(at: path)
        } catch let error as CatalogSchemaError where error.deviations.allSatisfy({ $0.hasSuffix(" is missing") }) {
            for file in Catalog.files(at: path) { FileSystem.remove(file) }
            return try Catalog.create(at: path, vaultID: vault)
        }
    }
}

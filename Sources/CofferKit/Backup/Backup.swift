#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// A backup directory: one content-addressed object store shared by every
/// snapshot (so each backup copies only the objects the destination lacks),
/// and one folder per snapshot holding a consistent copy of the catalog, the
/// vault descriptor and a manifest signed by the operator:
///
/// ```
/// DEST/objects/ab/abcd…                     objects, as in the vault
/// DEST/snapshots/<id>/catalog.sqlite        SQLite online backup of the catalog
/// DEST/snapshots/<id>/coffer-vault          the vault descriptor
/// DEST/snapshots/<id>/objects -> ../../objects
/// DEST/snapshots/<id>/manifest.json         BackupManifest
/// DEST/snapshots/<id>/manifest.sig          base64 Ed25519 signature
/// DEST/lock                                 see ``BackupStore/lock(_:exclusive:)``
/// ```
///
/// A snapshot folder is itself laid out as a vault, so `coffer verify`'s
/// checks run on it unchanged, with no key.
public struct BackupManifest: Codable, Sendable, Equatable {
    /// `coffer-backup-v1`.
    public let format: String
    /// The snapshot id: creation time to the microsecond and 8 random hex
    /// digits (`20261129T023000.123456Z-1a2b3c4d`; sorts by time).
    public let id: String
    /// The vault.
    public let vault: VaultID
    /// When the snapshot was taken (RFC 3339).
    public let created: String
    /// Ledger entries in the catalog snapshot.
    public let entries: Int64
    /// Hash of the snapshot's last ledger entry (hex).
    public let head: String
    /// Objects the snapshot references.
    public let objects: Int
    /// Their bytes.
    public let objectBytes: UInt64
    /// BLAKE2b-256 (hex) of `catalog.sqlite`.
    public let catalog: String
    /// The operator's public identity (`coffer1…`); it signs the manifest.
    public let operatorIdentity: String

    static let format = "coffer-backup-v1"
    static let signaturePrefix = Array("coffer-backup-v1\0".utf8)
}

/// What `coffer backup create` did.
public struct BackupReport: Codable, Sendable, Equatable {
    /// The new snapshot.
    public let snapshot: BackupManifest
    /// Objects copied (the destination lacked them).
    public let objectsCopied: Int
    /// Their bytes.
    public let bytesCopied: UInt64
    /// Wall-clock seconds.
    public let seconds: Double
}

/// Failures of backup commands.
public enum BackupError: CofferFailure, Equatable {
    /// DEST holds no snapshot (or not the one asked for).
    case noSnapshot(String)
    /// A snapshot's manifest or signature does not check.
    case badManifest(String)

    public var kind: FailureKind {
        switch self {
        case .noSnapshot: .notFound
        case .badManifest: .integrity
        }
    }

    public var description: String {
        switch self {
        case .noSnapshot(let detail): detail
        case .badManifest(let detail): "backup manifest does not check: \(detail)"
        }
    }
}

extension Vault {
    /// Backs the vault up into `destination` (created if needed): a
    /// consistent catalog snapshot (SQLite's online backup, safe while
    /// other commands write), then every object that snapshot references and
    /// the destination lacks (each checked against its name before it is
    /// copied, written durably), then the signed manifest last: a snapshot
    /// without a manifest is an interrupted backup and is ignored. A
    /// `vault.backup` ledger entry, committed first, is in the snapshot.
    ///
    /// A shared vault is backed up into the same kind of directory: its
    /// snapshot's catalog is a local SQLite catalog written from the ledger
    /// rows (each re-hashed as read; the snapshot's own replay verifies
    /// them), and its objects are copied from the bucket, so that a backup is
    /// checked, restored and adopted the same way whatever the backend.
    public func backup(to destination: String) throws -> BackupReport {
        let started = Date()
        guard !FileSystem.isWithin(destination, path) else {
            throw VaultError.invalidRequest("\(destination) is inside the vault; a backup must live elsewhere (another disk, ideally)")
        }
        try FileSystem.createDirectories(destination)
        let lock = try BackupStore.lock(destination, exclusive: false)
        defer { withExtendedLifetime(lock) {} }
        // Made whole every time: a backup killed while creating the store leaves some fan-out directories missing.
        let store = try ObjectStore.create(at: FileSystem.join(destination, "objects"))
        // Time to the microsecond, so ids sort in the order snapshots were taken.
        let micros = Int((started.timeIntervalSince1970 - started.timeIntervalSince1970.rounded(.down)) * 1_000_000)
        let id = Timestamp.format(started).replacingOccurrences(of: ":", with: "").replacingOccurrences(of: "-", with: "").dropLast()
            + String(format: ".%06dZ-", micros) + Hex.encode(Sodium.randomBytes(4))
        let snapshots = FileSystem.join(destination, "snapshots")
        try FileSystem.createDirectories(snapshots)
        let folder = FileSystem.join(snapshots, id)
        try FileSystem.createDirectories(folder)
        // Recorded first, so that the snapshot holds its own record.
        // The destination is sealed for the administrators (a storage reader learns no path).
        let record = BackupStarted(snapshot: id)
        let details = BackupDetails(destination: URL(fileURLWithPath: destination).standardizedFileURL.path)
        try commit { state in
            var sealed = record
            sealed.details = try self.sealDetails(details, action: LedgerEvent.backupStarted(record).action, subject: id, state: state)
            return [.backupStarted(sealed)]
        }

        let catalogCopy = FileSystem.join(folder, "catalog.sqlite")
        try snapshotCatalog(to: catalogCopy)
        try AtomicFile.write(
            try VaultDescriptor.readFile(inVault: path),
            to: FileSystem.join(folder, VaultDescriptor.fileName), overwrite: false)
        guard symlink("../../objects", FileSystem.join(folder, "objects")) == 0 else { throw FileError("symlink", path: folder) }

        // On two cores at once: the catalog copy hashed and made durable,
        // and what it references copied. The references come from the
        // snapshot's own verified ledger (read-only: the file is being
        // hashed), replayed from the state this vault verified, so only
        // entries committed since (by other processes) are replayed. They go
        // to temporary files and are copied a fan-out directory at a time:
        // memory holds a 256th of them, whatever the vault's size.
        let (catalogHash, (snapshotState, tally)) = try ParallelMap.both({ try BackupStore.fileHash(catalogCopy, thenSync: true) }) {
            let snapshotState = try Vault.replay(
                catalog: try Catalog.open(at: catalogCopy, access: .immutable), descriptor: descriptor, trustedThrough: nil, from: state)
            return (snapshotState, try ObjectReferences(usedBy: snapshotState.documents).copyMissing(from: objects, to: store, progress: progress))
        }

        let manifest = BackupManifest(
            format: BackupManifest.format, id: id, vault: snapshotState.vaultID, created: Timestamp.format(started),
            entries: snapshotState.entryCount, head: Hex.encode(snapshotState.head), objects: tally.objects, objectBytes: tally.bytes,
            catalog: catalogHash, operatorIdentity: identity.publicIdentity.description)
        let body = Array(try LedgerJSON.encoder.encode(manifest))
        let signature = try identity.sign(BackupManifest.signaturePrefix + body)
        try AtomicFile.write(Array(Base64.encode(signature).utf8), to: FileSystem.join(folder, "manifest.sig"), overwrite: false)
        try AtomicFile.write(body, to: FileSystem.join(folder, "manifest.json"), overwrite: false)
        try FileSystem.syncDirectory(snapshots)
        return BackupReport(snapshot: manifest, objectsCopied: tally.copied, bytesCopied: tally.copiedBytes, seconds: Date().timeIntervalSince(started))
    }

    /// Writes a consistent copy of the catalog to `path`: SQLite's online
    /// backup of a local catalog (safe while other commands write), or, for a
    /// shared vault, a new local catalog holding the ledger rows as the
    /// database gives them (any prefix of the chain is consistent, and
    /// whatever is appended meanwhile is simply in the next snapshot).
    private func snapshotCatalog(to path: String) throws {
        if let local = catalog as? Catalog { return try local.database.backup(to: path) }
        let snapshot = try Catalog.create(at: path, vaultID: state.vaultID)
        var batch: [LedgerEntry] = []
        try snapshot.database.transaction {
            try catalog.forEachLedgerEntry(from: 0) { entry in
                batch.append(entry)
                if batch.count == Self.copyBatchSize {
                    try snapshot.append(batch)
                    batch.removeAll()
                }
            }
            try snapshot.append(batch)
        }
        try snapshot.database.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    }
}

/// Reading, checking and restoring the snapshots in a backup directory, with no key.
public enum BackupStore {
    /// Every complete snapshot (one with a manifest), oldest first. The
    /// manifests are parsed, not checked (see ``verify(_:snapshot:identity:deep:)``),
    /// but one that names another snapshot than its folder is refused.
    public static func list(_ destination: String) throws -> [BackupManifest] {
        let snapshots = FileSystem.join(try existing(destination), "snapshots")
        return try FileSystem.contents(of: snapshots).sorted().compactMap { name in
            let file = FileSystem.join(FileSystem.join(snapshots, name), "manifest.json")
            guard FileSystem.exists(file) else { return nil }  // an interrupted backup
            let manifest = try manifest(at: FileSystem.join(snapshots, name))
            guard manifest.id == name else { throw BackupError.badManifest("snapshot folder \(name) holds the manifest of \(manifest.id)") }
            return manifest
        }
    }

    /// Checks one snapshot (the newest if `snapshot` is nil): the manifest's
    /// signature by an identity the snapshot's ledger knows, the catalog's
    /// hash, then everything `coffer verify` checks (every object hashes to
    /// its name, every referenced object is present, the ledger's chain,
    /// signatures and authorisation); with `deep`, `identity` also decrypts
    /// every document it can read.
    public static func verify(_ destination: String, snapshot: String?, identity: Identity?, deep: Bool) throws -> (BackupManifest, VerificationReport) {
        let lock = try lock(try existing(destination), exclusive: false)
        defer { withExtendedLifetime(lock) {} }
        let (folder, listed) = try Self.snapshot(snapshot, in: destination)
        let (manifest, operatorIdentity) = try signedManifest(in: folder, listed: listed)
        guard try fileHash(FileSystem.join(folder, "catalog.sqlite")) == manifest.catalog else {
            throw BackupError.badManifest("catalog.sqlite is not the one the manifest names")
        }
        var replayed: VaultState?
        var report = try VaultVerifier.verify(
            at: folder, identity: deep ? identity : nil, stateDirectory: nil, deep: deep, objects: FileSystem.join(destination, "objects"), replayed: &replayed)
        if let state = replayed {
            if state.identities[operatorIdentity.fingerprint] == nil {
                report.add("backup", "manifest.json", "the operator \(operatorIdentity.fingerprint) is not an identity of this vault")
            }
            if state.entryCount != manifest.entries || Hex.encode(state.head) != manifest.head || state.vaultID != manifest.vault {
                report.add("backup", "manifest.json", "the manifest's vault, entry count or head differs from the catalog snapshot")
            }
        }
        return (manifest, report)
    }

    /// BLAKE2b-256 (hex) of a file; with `thenSync`, the file is also fsynced
    /// (after hashing, so a writeback already under way overlaps the hashing).
    /// With `copy`, every byte hashed is also written to it: the hash is then
    /// that of the copy's bytes, whatever happens to `path` meanwhile.
    static func fileHash(_ path: String, thenSync: Bool = false, copyingTo copy: AtomicFile? = nil) throws -> String {
        let file = try POSIXFile.openForReading(path)
        let hasher = Blake2b()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try buffer.withUnsafeMutableBytes { try file.read(into: $0) }
            if count == 0 { break }
            try buffer.withUnsafeBytes {
                let chunk = UnsafeRawBufferPointer(rebasing: $0[0..<count])
                hasher.update(chunk)
                try copy?.write(chunk)
            }
        }
        if thenSync { try file.sync() }
        return Hex.encode(hasher.finalize())
    }

    /// The lock of a backup directory (`flock` on `DEST/lock`, mode 0600),
    /// held for the life of the value: shared while a snapshot is written,
    /// checked or restored, exclusive while snapshots and objects are
    /// pruned, so a prune never deletes an object a backup in progress has
    /// just copied. `destination` must exist. A shared lock on read-only
    /// media whose lock file is missing is not taken (nil): nothing there can
    /// prune, and checking a backup on write-once media must work.
    static func lock(_ destination: String, exclusive: Bool) throws -> FileLock? {
        do {
            return try FileLock(FileSystem.join(destination, "lock"), exclusive: exclusive, mode: 0o600)
        } catch let error as FileError where !exclusive && error.code == EROFS {
            return nil
        }
    }

    /// `destination`, if it holds a Coffer backup.
    static func existing(_ destination: String) throws -> String {
        guard FileSystem.isDirectory(FileSystem.join(destination, "snapshots")) else {
            throw BackupError.noSnapshot("\(destination) holds no Coffer backup")
        }
        return destination
    }

    /// The folder and manifest of snapshot `snapshot`, or of the newest.
    static func snapshot(_ snapshot: String?, in destination: String) throws -> (folder: String, manifest: BackupManifest) {
        let all = try list(destination)
        guard let chosen = snapshot.map({ id in all.first { $0.id == id } }) ?? all.last else {
            throw BackupError.noSnapshot(snapshot.map { "\(destination) has no snapshot \($0); see `coffer backup list`" } ?? "\(destination) holds no complete snapshot")
        }
        return (FileSystem.join(FileSystem.join(destination, "snapshots"), chosen.id), chosen)
    }

    /// The manifest of the snapshot in `folder`, parsed from exactly the
    /// bytes whose signature is checked, and the operator who signed it.
    /// - Throws: ``BackupError/badManifest(_:)`` if it does not parse, names
    ///   another snapshot than `listed`, or the signature does not verify.
    static func signedManifest(in folder: String, listed: BackupManifest) throws -> (BackupManifest, PublicIdentity) {
        let body = try FileSystem.readSmallFile(FileSystem.join(folder, "manifest.json"), limit: 1 << 20)
        let manifest = try parseManifest(body, in: folder)
        guard manifest.id == listed.id else { throw BackupError.badManifest("the manifest in snapshot folder \(listed.id) names snapshot \(manifest.id)") }
        let signatureText = String(decoding: try FileSystem.readSmallFile(FileSystem.join(folder, "manifest.sig"), limit: 1024), as: UTF8.self)
        guard let signature = Base64.decode(signatureText.trimmingCharacters(in: .whitespacesAndNewlines)),
              let operatorIdentity = try? PublicIdentity(manifest.operatorIdentity),
              Ed25519.isValid(signature: Array(signature), message: BackupManifest.signaturePrefix + body, publicKey: operatorIdentity.signingKey)
        else { throw BackupError.badManifest("the signature does not verify with the operator's key") }
        return (manifest, operatorIdentity)
    }

    private static func manifest(at folder: String) throws -> BackupManifest {
        try parseManifest(try FileSystem.readSmallFile(FileSystem.join(folder, "manifest.json"), limit: 1 << 20), in: folder)
    }

    static func parseManifest(_ body: [UInt8], in folder: String) throws -> BackupManifest {
        guard let manifest = try? LedgerJSON.decoder.decode(BackupManifest.self, from: Data(body)), manifest.format == BackupManifest.format else {
            throw BackupError.badManifest("\(folder)/manifest.json is not a Coffer backup manifest")
        }
        return manifest
    }
}

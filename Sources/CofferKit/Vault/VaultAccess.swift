#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Whether a command may change the vault directory.
///
/// Auditing commands (`verify`, `audit verify|log|export|report`, `ls`)
/// open a vault `readOnly`: they work on read-only media (a read-only bind
/// mount, write-once media handed to counsel) and create, change and delete
/// nothing in the vault directory, on writable media too.
public enum VaultAccess: Sendable, Equatable {
    /// Commands that append to the ledger.
    case readWrite
    /// Auditing: nothing in the vault directory is created, changed or
    /// deleted, and nothing can be appended (``VaultError/notPermitted(_:)``).
    case readOnly
}

/// A file's device, inode, size and modification time: equal stamps taken
/// before and after reading it mean nobody wrote it meanwhile.
struct FileStamp: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modifiedSeconds: Int
    let modifiedNanoseconds: Int

    /// The stamp of `path` now.
    /// - Throws: ``FileError`` if it cannot be read.
    init(_ path: String) throws {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FileError("stat", path: path) }
        device = UInt64(st.st_dev)
        inode = UInt64(st.st_ino)
        size = Int64(st.st_size)
        modifiedSeconds = Int(st.st_mtim.tv_sec)
        modifiedNanoseconds = Int(st.st_mtim.tv_nsec)
    }
}

extension Catalog {
    /// Opens a catalog to read it without creating, changing or deleting
    /// anything beside it, on read-only media too.
    ///
    /// SQLite in WAL mode needs the `-shm` index to read: it creates `-wal`
    /// and `-shm` when they are missing (on a writable copy, a keyless
    /// `verify` would otherwise create and delete files in the vault), and
    /// cannot open the catalog at all on read-only media without them.
    ///
    /// - If a `-shm` exists or the `-wal` holds changes (a process has the
    ///   catalog open, or one crashed), the catalog is opened as a read-only
    ///   WAL reader: one consistent snapshot, including the log's changes.
    /// - Otherwise every committed change is in the main file, which is
    ///   opened `immutable` (no lock, no `-wal`, no `-shm`). A writer that
    ///   starts meanwhile writes to a new log and leaves the main file alone
    ///   until a checkpoint; the file's stamp is kept, and
    ///   ``unchangedSinceOpened()`` says whether one happened (the reader
    ///   then saw a mix and reports ``VaultError/changedConcurrently(_:)``).
    ///
    /// - Throws: ``DatabaseError`` (I/O) if the log holds changes that cannot
    ///   be read here (read-only media without its `-shm`), rather than
    ///   silently reading the older state in the main file.
    static func openReadOnly(at path: String, toleratingForeignSchema: Bool = false) throws -> Catalog {
        let log = path + "-wal"
        let logBytes = FileSystem.exists(log) ? try FileSystem.size(of: log) : 0
        func immutable() throws -> Catalog {
            let stamp = try FileStamp(path)
            let catalog = try open(at: path, access: .immutable, toleratingForeignSchema: toleratingForeignSchema)
            catalog.openedStamp = stamp
            return catalog
        }
        if logBytes == 0, !FileSystem.exists(path + "-shm") { return try immutable() }
        do {
            return try open(at: path, access: .readOnly, toleratingForeignSchema: toleratingForeignSchema)
        } catch let error as DatabaseError where error.kind == .io {
            // An empty log and a stale index (left by a crash, say): the main file is the whole state.
            if logBytes == 0 { return try immutable() }
            throw DatabaseError(
                code: error.code,
                message: "its write-ahead log (\(FileSystem.baseName(of: log)), \(logBytes) bytes) holds changes not yet in the catalog file, "
                    + "and they cannot be read here (\(error.message)); reading the catalog alone would show an older state. "
                    + "Copy the vault with its -wal and -shm files to writable storage (cp -a) and check the copy",
                path: path)
        }
    }

    /// False if the catalog was opened `immutable` and its file has been
    /// written since (a checkpoint by a writer that started meanwhile).
    func unchangedSinceOpened() -> Bool {
        guard let openedStamp else { return true }
        return (try? FileStamp(database.path)) == openedStamp
    }
}

extension Vault {
    /// Throws if nothing may be appended to this vault (opened read-only, a
    /// restored copy not yet adopted, or a catalog of an earlier schema).
    /// - Throws: ``VaultError/notPermitted(_:)`` saying why and what to do;
    ///   ``VaultError/upgradeRequired(path:schema:)``.
    func requireWritable() throws {
        if let readOnlyReason { throw VaultError.notPermitted(readOnlyReason) }
        try requireCurrentSchema()
    }

    /// Throws ``VaultError/upgradeRequired(path:schema:)`` if the catalog
    /// records an earlier schema than ``Catalog/schemaVersion``.
    func requireCurrentSchema() throws {
        let schema = try catalog.storedSchema() ?? -1
        if schema != Catalog.schemaVersion { throw VaultError.upgradeRequired(path: path, schema: schema) }
    }
}

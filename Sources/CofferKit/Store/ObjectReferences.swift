import Foundation

/// The objects something references (the current versions of a vault's
/// documents), each with a description of what references it, kept in a
/// private temporary SQLite file instead of memory and read back one
/// fan-out directory at a time (``ObjectStore/forEachFanOut(_:)``): a check
/// of a million documents' objects against the store holds a 256th of them.
///
/// Object ids are public (they name the vault's files); no key or
/// plaintext goes into the file. It is removed when the set is released.
final class ObjectReferences {
    /// The private directory holding the file, removed on release.
    let directory: String
    private let database: SQLiteDatabase
    private var pending: [(id: ObjectID, referrer: String)] = []

    private var stored = 0

    /// Distinct objects inserted so far.
    var count: Int {
        get throws {
            try flush()
            return stored
        }
    }

    /// Creates an empty set in a new private temporary directory.
    /// - Throws: ``FileError``, ``DatabaseError``.
    init() throws {
        directory = try FileSystem.makePrivateTemporaryDirectory(named: "coffer-objects")
        do {
            let path = directory + "/objects.sqlite"
            _ = try POSIXFile.createExclusive(path)
            database = try SQLiteDatabase(path: path, create: false)
            // Scratch data: nothing is lost if the process dies, so nothing is synced.
            try database.execute("""
                PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
                CREATE TABLE refs(fan INTEGER NOT NULL, id BLOB NOT NULL, hash INTEGER NOT NULL, referrer TEXT NOT NULL, PRIMARY KEY(fan, id)) WITHOUT ROWID;
                """)
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Adds `id`, referenced by `referrer` (kept for the first referrer only).
    func insert(_ id: ObjectID, referencedBy referrer: String) throws {
        pending.append((id, referrer))
        if pending.count >= Self.batchSize { try flush() }
    }

    /// The objects whose ids start with `leadingByte` (with the hash
    /// function their referrer names them by), with their referrers.
    func inFanOut(_ leadingByte: UInt8) throws -> [ObjectID: String] {
        try flush()
        var found: [ObjectID: String] = [:]
        try database.forEachRow("SELECT id, hash, referrer FROM refs WHERE fan = ?", [.integer(Int64(leadingByte))]) { row in
            guard row.count == 3, let bytes = row[0].blob, let code = row[1].integer, let hash = ObjectHash(rawValue: UInt8(truncatingIfNeeded: code)),
                  let referrer = row[2].text else { return }
            found[try ObjectID(bytes: bytes, hash: hash)] = referrer
        }
        return found
    }

    private static let batchSize = 20_000

    private func flush() throws {
        guard !pending.isEmpty else { return }
        try database.transaction {
            for (id, referrer) in pending {
                try database.run(
                    "INSERT OR IGNORE INTO refs(fan, id, hash, referrer) VALUES (?, ?, ?, ?)",
                    [.integer(Int64(id.leadingByte)), .blob(id.bytes), .integer(Int64(id.hash.rawValue)), .text(referrer)])
                stored += database.changes
            }
        }
        pending.removeAll(keepingCapacity: true)
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// The vault's SQLite catalog (WAL mode): the `meta` table (vault id,
/// schema version) and the signed ledger. It never holds a plaintext name or
/// a raw key.
///
/// Everything else a command needs is derived from the verified ledger and
/// kept by each identity in its own ``StateStore``. Schema 2 also held nine
/// index tables projected from the ledger, which nothing but `verify` read;
/// schema 3 dropped them (``upgradeSchema()``, `coffer vault upgrade`).
final class Catalog: VaultCatalog {
    /// The schema this Coffer writes. Schema 4 has the tables of schema 3;
    /// what changed is that its objects are named by SHA-256 (schema 3's,
    /// by BLAKE2b-256, until `coffer vault upgrade` re-keys them).
    static let schemaVersion = 4
    /// The schemas this Coffer opens: a schema-2 or 3 catalog is read (verify,
    /// audit, ls, a backup's snapshot) but written only by ``upgradeSchema()``.
    static let readableSchemas = [2, 3, 4]
    let database: SQLiteDatabase

    private init(database: SQLiteDatabase) {
        self.database = database
    }

    /// Creates a new catalog file with the schema.
    static func create(at path: String, vaultID: VaultID) throws -> Catalog {
        let db = try SQLiteDatabase(path: path, create: true)
        try db.execute("PRAGMA journal_mode=WAL")
        try db.execute("PRAGMA synchronous=FULL")
        try db.transaction {
            try db.execute(schema)
            try db.run("INSERT INTO meta(key, value) VALUES ('vault_id', ?), ('schema', ?)", [.text(vaultID.description), .text(String(schemaVersion))])
        }
        return Catalog(database: db)
    }

    /// For a catalog opened `immutable`: the file as it was when opened
    /// (see ``ReadOnlyCatalog``).
    var openedStamp: FileStamp?

    /// Opens an existing catalog (`access`: see ``SQLiteDatabase/Access``;
    /// to read one without changing anything, use ``openReadOnly(at:)``) and
    /// checks that its schema is exactly Coffer's own for its version (see ``schemaDeviations()``).
    /// - Parameter toleratingForeignSchema: true only for `verify`, which
    ///   reports the deviations as findings and reads on: with triggers and
    ///   views disabled, reading the tables runs no foreign code.
    /// - Throws: ``CatalogSchemaError`` for any schema object that is not
    ///   Coffer's own (unless tolerated), ``FormatError`` for a schema version
    ///   not in ``readableSchemas``.
    static func open(at path: String, access: SQLiteDatabase.Access = .readWrite, toleratingForeignSchema: Bool = false) throws -> Catalog {
        guard FileSystem.exists(path) else { throw FileError("open", path: path, code: ENOENT) }
        try requireRegularFiles(path)
        let db = try SQLiteDatabase(path: path, create: false, access: access)
        try db.execute("PRAGMA synchronous=FULL")
        let catalog = Catalog(database: db)
        if !toleratingForeignSchema {
            let deviations = try catalog.schemaDeviations()
            guard deviations.isEmpty else { throw CatalogSchemaError(path: path, deviations: deviations) }
        }
        let schema = try catalog.storedSchema()
        guard let schema, readableSchemas.contains(schema) else {
            throw FormatError.unsupportedVersion("catalog", schema ?? -1)
        }
        return catalog
    }

    /// The catalog file and its SQLite companions (`-wal`, `-shm`).
    static func files(at path: String) -> [String] { [path, path + "-wal", path + "-shm"] }

    /// The catalog and its companions, where present, must be regular files:
    /// SQLite refuses a linked companion only with "unable to open database
    /// file", and would block on a FIFO.
    /// - Throws: ``UnsafeEntryError`` (an integrity failure) naming the file and what it is.
    private static func requireRegularFiles(_ path: String) throws {
        for file in files(at: path) {
            var status = stat()
            guard lstat(file, &status) == 0 else { continue }
            let kind = EntryKind(mode: status.st_mode)
            guard kind == .regular else { throw UnsafeEntryError(path: file, found: kind, expected: .regular) }
        }
    }

    /// Every difference between this file's schema and Coffer's own for the
    /// version the file records (schema 2 when it says 2, else the current
    /// one, which ``create(at:vaultID:)`` makes): objects Coffer did not create
    /// (a trigger, a view, an index, a table), objects missing, and
    /// definitions changed. Empty for an intact catalog.
    func schemaDeviations() throws -> [String] {
        let actual = try Self.schemaObjects(of: database)
        let recorded = (try? storedSchema()) ?? nil
        let expected = try Self.expectedSchemaObjects(version: recorded == 2 ? 2 : Self.schemaVersion)
        var findings: [String] = []
        for (key, sql) in actual.sorted(by: { $0.key < $1.key }) {
            switch expected[key] {
            case nil: findings.append("\(key.type) \(key.name.debugDescription) on \(key.table.debugDescription) is not part of Coffer's schema")
            case .some(let wanted) where wanted != sql: findings.append("\(key.type) \(key.name.debugDescription) has a changed definition")
            default: break
            }
        }
        for key in expected.keys.sorted() where actual[key] == nil {
            findings.append("\(key.type) \(key.name.debugDescription) is missing")
        }
        return findings
    }

    /// One entry of `sqlite_schema`.
    private struct SchemaObject: Hashable, Comparable {
        let type: String
        let name: String
        let table: String

        static func < (a: SchemaObject, b: SchemaObject) -> Bool { (a.type, a.name, a.table) < (b.type, b.name, b.table) }
    }

    private static func schemaObjects(of database: SQLiteDatabase) throws -> [SchemaObject: String] {
        var objects: [SchemaObject: String] = [:]
        try database.forEachRow("SELECT type, name, tbl_name, sql FROM sqlite_schema") { row in
            let key = SchemaObject(type: row[0].text ?? "?", name: row[1].text ?? "?", table: row[2].text ?? "?")
            objects[key] = row[3].text ?? ""
        }
        return objects
    }

    /// The schema objects of a fresh catalog of `version` (2 or the current
    /// one): the statements applied to an in-memory database, so their text
    /// is the one source of truth.
    private static func expectedSchemaObjects(version: Int) throws -> [SchemaObject: String] {
        let memory = try SQLiteDatabase(path: ":memory:", create: true)
        try memory.execute(schema)
        if version == 2 { try memory.execute(schema2IndexTables) }
        return try schemaObjects(of: memory)
    }

    /// The current schema: the vault's id and schema version, and the ledger.
    private static let schema = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE ledger(seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL);
        """

    /// What schema 2 had beside ``schema``: nine tables projected from the
    /// ledger at every append (identities, roles and their keys and seals,
    /// documents, versions, their objects and wraps), trusted by no command
    /// and read only by `verify`, which compared them with its replay.
    /// Kept to recognise a schema-2 catalog exactly and to drop them.
    private static let schema2IndexTables = """
        CREATE TABLE identities(fingerprint TEXT PRIMARY KEY, public TEXT NOT NULL, name TEXT NOT NULL, admin INTEGER NOT NULL, revoked INTEGER NOT NULL DEFAULT 0);
        CREATE TABLE roles(id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, kind TEXT NOT NULL, clearance TEXT NOT NULL, current_version INTEGER NOT NULL);
        CREATE TABLE role_members(role TEXT NOT NULL, member TEXT NOT NULL, PRIMARY KEY(role, member));
        CREATE TABLE role_keys(role TEXT NOT NULL, version INTEGER NOT NULL, public_key BLOB NOT NULL, admin_wrap BLOB, admin_version INTEGER, PRIMARY KEY(role, version));
        CREATE TABLE role_seals(role TEXT NOT NULL, version INTEGER NOT NULL, member TEXT NOT NULL, sealed BLOB NOT NULL, PRIMARY KEY(role, version, member));
        CREATE TABLE documents(id TEXT PRIMARY KEY, owner TEXT NOT NULL, label TEXT NOT NULL, current_generation INTEGER NOT NULL);
        CREATE TABLE versions(document TEXT NOT NULL, generation INTEGER NOT NULL, manifest TEXT NOT NULL, metadata BLOB NOT NULL, sealed_at TEXT NOT NULL, sealed_by TEXT NOT NULL, seq INTEGER NOT NULL, PRIMARY KEY(document, generation));
        CREATE TABLE version_objects(object TEXT NOT NULL, document TEXT NOT NULL, generation INTEGER NOT NULL, PRIMARY KEY(object, document, generation));
        CREATE TABLE wraps(document TEXT NOT NULL, generation INTEGER NOT NULL, role TEXT NOT NULL, role_version INTEGER NOT NULL, wrapped BLOB NOT NULL, PRIMARY KEY(document, generation, role));
        """

    /// A value from the `meta` table.
    func meta(_ key: String) throws -> String? {
        try database.query("SELECT value FROM meta WHERE key = ?", [.text(key)]).first?.first?.text
    }

    // MARK: Ledger

    /// Number of ledger entries.
    func ledgerCount() throws -> Int64 {
        try database.query("SELECT count(*) FROM ledger").first?.first?.integer ?? 0
    }

    /// The entry at `seq`, parsed but not verified, if the ledger has one.
    func ledgerEntry(at seq: Int64) throws -> LedgerEntry? {
        guard let row = try database.query("SELECT seq, body, signature, hash FROM ledger WHERE seq = ?", [.integer(seq)]).first else { return nil }
        return try Self.entry(from: row)
    }

    /// Parses a `seq, body, signature, hash` row and checks its stored hash.
    static func entry(from row: [SQLValue]) throws -> LedgerEntry {
        guard row.count == 4, let seq = row[0].integer, let body = row[1].blob, let signature = row[2].blob, let hash = row[3].blob else {
            throw LedgerError.malformed(sequence: row.first?.integer ?? -1, reason: "row has wrong column types")
        }
        let entry = try LedgerEntry(sequence: seq, body: body, signature: signature)
        guard entry.hash == hash else { throw LedgerError.malformed(sequence: seq, reason: "the stored hash column does not match the entry") }
        return entry
    }

    /// Calls `body` with each entry with `seq >= from`, in order, parsed
    /// but not verified, without holding them all: rows are read in order,
    /// a batch at a time, and parsed on every core while `body` runs on the
    /// calling thread. The stored `hash` column (an index for readers of
    /// the raw table) must equal the hash recomputed from the body and
    /// signature. A malformed row stops the walk after every entry before it.
    /// - Parameter signingKeys: a replay's keys (``LedgerVerifier/signingKeys``):
    ///   each entry's signature is then also checked on the parsing threads
    ///   (``LedgerEntry/signatureCheckedAhead``), the replay's dearest step.
    func forEachLedgerEntry(from: Int64, checkingAheadWith signingKeys: SigningKeys?, _ body: (LedgerEntry) throws -> Void) throws {
        var read = 0
        defer { entriesRead += read }
        let cursor = try database.rows("SELECT seq, body, signature, hash FROM ledger WHERE seq >= ? ORDER BY seq", [.integer(from)])
        // Closed here, on the connection's thread, once the workers have stopped
        // (run waits for them): their last reference to the pipeline may be
        // dropped later, on their own threads, while this thread uses the connection.
        defer { cursor.close() }
        try OrderedPipeline.run(
            width: ProcessInfo.processInfo.activeProcessorCount, window: 4,
            next: { () -> [[SQLValue]]? in
                var rows: [[SQLValue]] = []
                var bytes = 0
                while rows.count < Self.rowsPerBatch, bytes < Self.bytesPerBatch, let row = try cursor.next() {
                    rows.append(row)
                    bytes += row.count > 1 ? row[1].blob?.count ?? 0 : 0
                }
                return rows.isEmpty ? nil : rows
            },
            process: { rows -> ParsedBatch in
                var batch = ParsedBatch()
                do {
                    for row in rows {
                        var entry = try Self.entry(from: row)
                        entry.signatureCheckedAhead = signingKeys?.checkAhead(entry)
                        batch.entries.append(entry)
                    }
                } catch {
                    batch.failure = error
                }
                return batch
            },
            consume: { batch in
                for entry in batch.entries {
                    read += 1
                    try body(entry)
                }
                if let failure = batch.failure { throw failure }
            })
    }

    /// Rows one pipeline job reads and parses (few enough that the keys a
    /// replay learns reach the parsing threads soon, many enough that the
    /// threads seldom wait on each other).
    private static let rowsPerBatch = 32
    /// Body bytes after which a batch ends early: a rotation's entries are
    /// over a megabyte each, and 4 batches of 32 of them would hold 170 MB.
    private static let bytesPerBatch = 1 << 20

    /// A batch of parsed entries: those before the first malformed row, and its error.
    private struct ParsedBatch {
        var entries: [LedgerEntry] = []
        var failure: (any Error)?
    }

    /// How many ledger entries ``forEachLedgerEntry(from:_:)`` read on this
    /// connection (the work a command does, which tests bound).
    private(set) var entriesRead = 0

    /// Appends what `plan` returns in one `BEGIN IMMEDIATE` transaction:
    /// the write lock is held while `plan` reads and verifies what others
    /// appended, so nobody can append in between.
    func append(planning plan: () throws -> [LedgerEntry]) throws {
        try database.transaction { try append(try plan()) }
    }

    /// Appends entries. Call inside a transaction. Each entry must insert exactly one row.
    func append(_ entries: [LedgerEntry]) throws {
        for entry in entries {
            try database.run(
                "INSERT INTO ledger(seq, hash, body, signature) VALUES (?, ?, ?, ?)",
                [.integer(entry.sequence), .blob(entry.hash), .blob(entry.body), .blob(entry.signature)], changing: 1)
        }
    }

    // MARK: Upgrade

    /// Brings a schema-2 or 3 catalog to the current schema: drops schema 2's
    /// nine index tables and records the new version. Call inside the write transaction
    /// that also appends the signed `vault.upgrade` entry, so that the two
    /// happen together or not at all.
    /// - Returns: the schema upgraded from, or nil if the catalog is current
    ///   already (another process upgraded it first).
    /// - Throws: ``CatalogSchemaError`` if what remains is not exactly the
    ///   current schema (the transaction then leaves the file as it was).
    func upgradeSchema() throws -> Int? {
        let recorded = try storedSchema()
        guard recorded != Self.schemaVersion else { return nil }
        guard let recorded, [2, 3].contains(recorded) else { throw FormatError.unsupportedVersion("catalog", recorded ?? -1) }
        if recorded == 2 {
            let current = try Self.expectedSchemaObjects(version: Self.schemaVersion)
            let retired = try Self.expectedSchemaObjects(version: 2).keys.filter { $0.type == "table" && current[$0] == nil }
            for table in retired.sorted() { try database.execute("DROP TABLE \(table.name)") }
        }
        try database.run("UPDATE meta SET value = ? WHERE key = 'schema'", [.text(String(Self.schemaVersion))], changing: 1)
        let deviations = try schemaDeviations()
        guard deviations.isEmpty else { throw CatalogSchemaError(path: database.path, deviations: deviations) }
        return recorded
    }
}

/// The catalog file's schema is not Coffer's own: someone with write access
/// to the vault directory added a trigger, view, index or table, or changed
/// a definition. Coffer never runs such code (triggers and views are
/// disabled), but refuses to work on the file until it is restored.
public struct CatalogSchemaError: CofferFailure, Equatable {
    /// The catalog file.
    public let path: String
    /// Each difference, in words.
    public let deviations: [String]

    public var kind: FailureKind { .integrity }

    public var description: String {
        "catalog \(path) was altered: \(deviations.prefix(3).joined(separator: "; "))\(deviations.count > 3 ? " (and \(deviations.count - 3) more)" : ""); run `coffer verify`, keep a copy as evidence and restore the vault from a known-good backup"
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// The vault's SQLite catalog (WAL mode): the ledger, and tables that index
/// what the ledger established (identities, roles, key versions, seals,
/// documents, versions, wraps). It never holds a plaintext name or a raw key.
///
/// The index tables are a convenience for queries; every security decision
/// uses the state replayed from the verified ledger, and ``rowsDisagreeing(with:)``
/// reports any row the ledger does not vouch for (or vouches for but is absent).
final class Catalog {
    static let schemaVersion = 2
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
    /// checks that its schema is exactly Coffer's own (see ``schemaDeviations()``).
    /// - Parameter toleratingForeignSchema: true only for `verify`, which
    ///   reports the deviations as findings and reads on: with triggers and
    ///   views disabled, reading the tables runs no foreign code.
    /// - Throws: ``CatalogSchemaError`` for any schema object that is not
    ///   Coffer's own (unless tolerated), ``FormatError`` for another schema version.
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
        let schema = try catalog.meta("schema")
        guard schema == String(schemaVersion) else {
            throw FormatError.unsupportedVersion("catalog", Int(schema ?? "") ?? -1)
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

    /// Every difference between this file's schema and the one ``create(at:vaultID:)``
    /// makes: objects Coffer did not create (a trigger, a view, an index, a
    /// table), objects missing, and definitions changed. Empty for an intact catalog.
    func schemaDeviations() throws -> [String] {
        let actual = try Self.schemaObjects(of: database)
        let expected = try Self.expectedSchemaObjects
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

    /// The schema objects of a fresh catalog: ``schema`` applied to an
    /// in-memory database, so the statement text is the one source of truth.
    private static var expectedSchemaObjects: [SchemaObject: String] {
        get throws {
            let memory = try SQLiteDatabase(path: ":memory:", create: true)
            try memory.execute(schema)
            return try schemaObjects(of: memory)
        }
    }

    private static let schema = """
        CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE ledger(seq INTEGER PRIMARY KEY, hash BLOB NOT NULL, body BLOB NOT NULL, signature BLOB NOT NULL);
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

    /// Entries with `seq >= from`, in order, parsed but not verified (see ``forEachLedgerEntry(from:_:)``).
    func ledgerEntries(from: Int64 = 0) throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        try forEachLedgerEntry(from: from) { entries.append($0) }
        return entries
    }

    /// The entry at `seq`, parsed but not verified, if the ledger has one.
    func ledgerEntry(at seq: Int64) throws -> LedgerEntry? {
        guard let row = try database.query("SELECT seq, body, signature, hash FROM ledger WHERE seq = ?", [.integer(seq)]).first else { return nil }
        return try Self.entry(from: row)
    }

    /// Checks that the ledger still holds entry `seq` with hash `hash` (a
    /// head this identity verified earlier).
    /// - Throws: ``LedgerError/rolledBack(seenSequence:currentCount:)`` if the
    ///   entry is gone, ``LedgerError/forked(sequence:)`` if it differs.
    func requireEntry(at seq: Int64, hash: [UInt8]) throws {
        guard let entry = try ledgerEntry(at: seq) else {
            throw LedgerError.rolledBack(seenSequence: seq, currentCount: try ledgerCount())
        }
        guard entry.hash == hash else { throw LedgerError.forked(sequence: seq) }
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
    /// but not verified, without holding them all: rows are read in order
    /// and parsed on every core while `body` runs on the calling thread.
    /// The stored `hash` column (an index for readers of the raw table)
    /// must equal the hash recomputed from the body and signature.
    func forEachLedgerEntry(from: Int64 = 0, _ body: (LedgerEntry) throws -> Void) throws {
        var read = 0
        defer { entriesRead += read }
        let cursor = try database.rows("SELECT seq, body, signature, hash FROM ledger WHERE seq >= ? ORDER BY seq", [.integer(from)])
        // Closed here, on the connection's thread, once the workers have stopped
        // (run waits for them): their last reference to the pipeline may be
        // dropped later, on their own threads, while this thread uses the connection.
        defer { cursor.close() }
        try OrderedPipeline.run(
            width: ProcessInfo.processInfo.activeProcessorCount, window: 256,
            next: { try cursor.next() },
            process: { try Self.entry(from: $0) },
            consume: {
                read += 1
                try body($0)
            })
    }

    /// How many ledger entries ``forEachLedgerEntry(from:_:)`` read on this
    /// connection (the work a command does, which tests bound).
    private(set) var entriesRead = 0

    /// Appends entries and indexes what they establish. Call inside a transaction.
    /// Each entry must insert exactly one row.
    func append(_ entries: [LedgerEntry]) throws {
        for entry in entries {
            try database.run(
                "INSERT INTO ledger(seq, hash, body, signature) VALUES (?, ?, ?, ?)",
                [.integer(entry.sequence), .blob(entry.hash), .blob(entry.body), .blob(entry.signature)], changing: 1)
            try index(entry.contents)
        }
    }

    /// Reads back `entries` after their commit: each must be in the ledger,
    /// at its sequence, with its hash, before a command reports success.
    /// - Throws: ``LedgerError/rolledBack(seenSequence:currentCount:)`` or
    ///   ``LedgerError/forked(sequence:)`` if one is not what was written.
    func requireAppended(_ entries: [LedgerEntry]) throws {
        for entry in entries { try requireEntry(at: entry.sequence, hash: entry.hash) }
    }

    private func index(_ c: LedgerEntry.Contents) throws {
        switch c.event {
        case .vaultCreated(let p):
            let creator = try PublicIdentity(p.creator)
            try database.run("INSERT INTO identities VALUES (?, ?, ?, 1, 0)", [.text(creator.fingerprint), .text(p.creator), .text(p.name)])
        case .identityAdded(let p):
            let identity = try PublicIdentity(p.identity)
            try database.run("INSERT INTO identities VALUES (?, ?, ?, 0, 0)", [.text(identity.fingerprint), .text(p.identity), .text(p.name)])
        case .adminAdded(let p):
            try database.run("UPDATE identities SET admin = 1 WHERE fingerprint = ?", [.text(p.member)])
            try database.run("INSERT INTO role_members SELECT id, ? FROM roles WHERE kind = 'admin'", [.text(p.member)])
            if let seal = p.seal {
                try database.run(
                    "INSERT INTO role_seals SELECT id, current_version, ?, ? FROM roles WHERE kind = 'admin'", [.text(p.member), .blob(Array(seal))])
            }
        case .adminRemoved(let p):
            try database.run("UPDATE identities SET admin = 0 WHERE fingerprint = ?", [.text(p.member)])
            try database.run("DELETE FROM role_members WHERE member = ? AND role IN (SELECT id FROM roles WHERE kind = 'admin')", [.text(p.member)])
        case .identityRevoked(let p):
            try database.run("UPDATE identities SET admin = 0, revoked = 1 WHERE fingerprint = ?", [.text(p.member)])
            try database.run("DELETE FROM role_members WHERE member = ?", [.text(p.member)])
        case .roleCreated(let p):
            try database.run("INSERT INTO roles VALUES (?, ?, ?, ?, 0)", [.text(p.role.description), .text(p.name), .text(p.kind.rawValue), .text(p.clearance)])
            if p.kind == .admin {
                try database.run("INSERT INTO role_members SELECT ?, fingerprint FROM identities WHERE admin = 1", [.text(p.role.description)])
            }
        case .roleMemberAdded(let p):
            try database.run("INSERT INTO role_members VALUES (?, ?)", [.text(p.role.description), .text(p.member)])
            if let seal = p.seal {
                try database.run(
                    "INSERT INTO role_seals SELECT id, current_version, ?, ? FROM roles WHERE id = ?",
                    [.text(p.member), .blob(Array(seal)), .text(p.role.description)])
            }
        case .roleMemberRemoved(let p):
            try database.run("DELETE FROM role_members WHERE role = ? AND member = ?", [.text(p.role.description), .text(p.member)])
        case .roleKeyIssued(let p):
            try database.run(
                "INSERT INTO role_keys VALUES (?, ?, ?, ?, ?)",
                [.text(p.role.description), .integer(Int64(p.version)), .blob(Array(p.publicKey)),
                 p.adminWrap.map { .blob(Array($0)) } ?? .null, p.adminVersion.map { .integer(Int64($0)) } ?? .null])
            for (member, sealed) in p.seals {
                try database.run("INSERT INTO role_seals VALUES (?, ?, ?, ?)", [.text(p.role.description), .integer(Int64(p.version)), .text(member), .blob(Array(sealed))])
            }
            try database.run("UPDATE roles SET current_version = ? WHERE id = ?", [.integer(Int64(p.version)), .text(p.role.description)])
        case .roleRewrapped(let p):
            for record in try PackedWrap.unpack(p.records) {
                try database.run(
                    "UPDATE wraps SET role_version = ?, wrapped = ? WHERE document = ? AND generation = ? AND role = ?",
                    [.integer(Int64(p.version)), .blob(record.wrapped), .text(record.document.description), .integer(Int64(record.generation)),
                     .text(p.role.description)])
            }
        case .documentsShared(let p):
            for record in try PackedWrap.unpack(p.records) {
                try insertWrap(document: record.document, generation: record.generation, role: p.role, version: p.version, wrapped: record.wrapped)
            }
        case .adminRewrapped(let p):
            for wrap in p.wraps {
                try database.run(
                    "UPDATE role_keys SET admin_wrap = ?, admin_version = ? WHERE role = ? AND version = ?",
                    [.blob(Array(wrap.wrapped)), .integer(Int64(p.adminVersion)), .text(wrap.role.description), .integer(Int64(wrap.version))])
            }
        case .roleKeysRetired(let p):
            for table in ["role_keys", "role_seals"] {
                try database.run("DELETE FROM \(table) WHERE role = ? AND version < ?", [.text(p.role.description), .integer(Int64(p.before))])
            }
        case .documentSealed(let p), .documentRekeyed(let p):
            let doc = p.document.description
            if p.generation == 1 {
                try database.run("INSERT INTO documents VALUES (?, ?, ?, 1)", [.text(doc), .text(c.actor), .text(p.label)])
            } else {
                try database.run("UPDATE documents SET current_generation = ?, label = ? WHERE id = ?", [.integer(Int64(p.generation)), .text(p.label), .text(doc)])
                // The old generation's data key and objects are no longer referenced.
                try database.run("DELETE FROM wraps WHERE document = ?", [.text(doc)])
                try database.run("DELETE FROM version_objects WHERE document = ?", [.text(doc)])
            }
            try database.run(
                "INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?)",
                [.text(doc), .integer(Int64(p.generation)), .text(p.manifest), .blob(Array(p.metadata)), .text(Timestamp.format(c.time)), .text(c.actor), .integer(c.sequence)])
            for object in [p.manifest] + p.segments {
                try database.run("INSERT OR IGNORE INTO version_objects VALUES (?, ?, ?)", [.text(object), .text(doc), .integer(Int64(p.generation))])
            }
            for wrap in p.wraps {
                try insertWrap(document: p.document, generation: p.generation, role: wrap.role, version: wrap.roleVersion, wrapped: Array(wrap.wrapped))
            }
        case .documentsUnshared(let p):
            for document in p.documents {
                try database.run("DELETE FROM wraps WHERE document = ? AND role = ?", [.text(document.description), .text(p.role.description)])
            }
        case .documentRelabeled(let p):
            try database.run("UPDATE documents SET label = ? WHERE id = ?", [.text(p.label), .text(p.document.description)])
            try database.run("DELETE FROM wraps WHERE document = ?", [.text(p.document.description)])
            for wrap in p.wraps {
                try insertWrap(document: p.document, generation: p.generation, role: wrap.role, version: wrap.roleVersion, wrapped: Array(wrap.wrapped))
            }
        case .documentOpened, .partnerAdded, .bundleCreated, .garbageCollected, .backupStarted, .vaultAdopted, .vaultChecked, .accessRefused:
            break  // kept in the ledger only
        }
    }

    private func insertWrap(document: DocumentID, generation: UInt32, role: RoleID, version: UInt32, wrapped: [UInt8]) throws {
        try database.run(
            "INSERT INTO wraps VALUES (?, ?, ?, ?, ?)",
            [.text(document.description), .integer(Int64(generation)), .text(role.description), .integer(Int64(version)), .blob(wrapped)])
    }

    // MARK: Cross-check

    /// One catalog row that the ledger does not account for, or a row the
    /// ledger establishes that the catalog lacks or holds with other values.
    struct RowFinding: Sendable, Equatable {
        /// The table.
        let table: String
        /// The row's key and values, as text.
        let row: String
        /// True if the row is in the catalog but not vouched for; false if it is missing or differs.
        let unvouched: Bool
    }

    /// Compares every index table with the rows the verified ledger implies.
    func rowsDisagreeing(with state: VaultState) throws -> [RowFinding] {
        var findings: [RowFinding] = []
        for (table, columns, expected) in expectedRows(state) {
            var actual: [String: Int] = [:]
            try database.forEachRow("SELECT \(columns) FROM \(table)") { row in
                actual[Self.render(row), default: 0] += 1
            }
            var wanted: [String: Int] = [:]
            for row in expected { wanted[Self.render(row), default: 0] += 1 }
            for (row, count) in actual where (wanted[row] ?? 0) < count {
                findings.append(RowFinding(table: table, row: row, unvouched: true))
            }
            for (row, count) in wanted where (actual[row] ?? 0) < count {
                findings.append(RowFinding(table: table, row: row, unvouched: false))
            }
        }
        return findings.sorted { ($0.table, $0.row) < ($1.table, $1.row) }
    }

    private static func render(_ row: [SQLValue]) -> String {
        row.map { value in
            switch value {
            case .null: "null"
            case .integer(let v): String(v)
            case .text(let s): s
            case .blob(let b): b.count <= 32 ? Hex.encode(b) : "blob:" + Hex.encode(Blake2b.hash(b, outputByteCount: 16))
            }
        }.joined(separator: " | ")
    }

    private func expectedRows(_ s: VaultState) -> [(String, String, [[SQLValue]])] {
        let identities = s.identities.map { fp, m in
            [SQLValue.text(fp), .text(m.identity.description), .text(m.name), .integer(s.admins.contains(fp) ? 1 : 0),
             .integer(s.revoked.contains(fp) ? 1 : 0)]
        }
        let roles = s.roles.values.map { r in
            [SQLValue.text(r.id.description), .text(r.name), .text(r.kind.rawValue), .text(r.clearance), .integer(Int64(r.currentVersion))]
        }
        let members = s.roles.values.flatMap { r in r.members.map { [SQLValue.text(r.id.description), .text($0)] } }
        let keys = s.roles.values.flatMap { r in
            r.versions.map { v, k in
                [SQLValue.text(r.id.description), .integer(Int64(v)), .blob(k.publicKey),
                 k.adminWrap.map { .blob($0.wrapped) } ?? .null, k.adminWrap.map { .integer(Int64($0.adminVersion)) } ?? .null]
            }
        }
        let seals = s.roles.values.flatMap { r in
            r.versions.flatMap { v, k in k.seals.map { [SQLValue.text(r.id.description), .integer(Int64(v)), .text($0.key), .blob($0.value)] } }
        }
        let documents = s.documents.values.map { d in
            [SQLValue.text(d.id.description), .text(d.owner), .text(d.label), .integer(Int64(d.currentGeneration))]
        }
        let versions = s.documents.values.flatMap { d in
            ([d.current] + d.older).map { v in
                [SQLValue.text(d.id.description), .integer(Int64(v.generation)), .text(v.manifest.description), .blob(v.metadata),
                 .text(Timestamp.format(v.sealedAt)), .text(v.sealedBy), .integer(v.sequence)]
            }
        }
        // Only current versions reference objects and hold wraps; a re-key retires the older ones.
        let objects = s.documents.values.flatMap { d in
            Set([d.current.manifest] + d.current.segments).map {
                [SQLValue.text($0.description), .text(d.id.description), .integer(Int64(d.currentGeneration))]
            }
        }
        let wraps = s.documents.values.flatMap { d in
            d.current.wraps.map { role, w in
                [SQLValue.text(d.id.description), .integer(Int64(d.currentGeneration)), .text(role.description), .integer(Int64(w.roleVersion)), .blob(w.wrapped)]
            }
        }
        return [
            ("identities", "fingerprint, public, name, admin, revoked", identities),
            ("roles", "id, name, kind, clearance, current_version", roles),
            ("role_members", "role, member", members),
            ("role_keys", "role, version, public_key, admin_wrap, admin_version", keys),
            ("role_seals", "role, version, member, sealed", seals),
            ("documents", "id, owner, label, current_generation", documents),
            ("versions", "document, generation, manifest, metadata, sealed_at, sealed_by, seq", versions),
            ("version_objects", "object, document, generation", objects),
            ("wraps", "document, generation, role, role_version, wrapped", wraps),
        ]
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

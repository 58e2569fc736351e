import CSQLite

/// A failure reported by SQLite.
public struct DatabaseError: CofferFailure {
    /// SQLite's (extended) result code.
    public let code: Int32
    /// SQLite's message.
    public let message: String
    /// The database file.
    public let path: String

    public var kind: FailureKind {
        switch code & 0xff {
        case SQLITE_CORRUPT, SQLITE_NOTADB: .integrity
        case SQLITE_FULL, SQLITE_IOERR, SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_PERM: .io
        default: .general
        }
    }

    public var description: String {
        switch code & 0xff {
        case SQLITE_BUSY, SQLITE_LOCKED: "catalog \(path) stayed locked by another process; try again"
        case SQLITE_CORRUPT, SQLITE_NOTADB: "catalog \(path) is damaged (\(message)); restore it from a backup"
        case SQLITE_FULL: "catalog \(path): the disk is full; free some space and run the command again"
        default: "catalog \(path): \(message)"
        }
    }
}

/// A database connection that runs SQL statements: what SQLite's and
/// PostgreSQL's connections share for transactions.
protocol SQLStatementRunning {
    /// Runs statements without parameters or results.
    func execute(_ sql: String) throws
}

extension SQLStatementRunning {
    /// `begin`, `body`, then `COMMIT`; `ROLLBACK` if anything throws.
    func inTransaction<R>(begin: String, _ body: () throws -> R) throws -> R {
        try execute(begin)
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

/// The value of one SQL parameter or column.
enum SQLValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case text(String)
    case blob([UInt8])
}

/// A thin, synchronous wrapper over one SQLite connection. One connection
/// belongs to one thread at a time.
final class SQLiteDatabase: SQLStatementRunning, @unchecked Sendable {
    private var handle: OpaquePointer?
    /// The database file.
    let path: String

    /// How a connection opens its file.
    enum Access: Sendable, Equatable {
        /// Reads and writes (the default).
        case readWrite
        /// Reads only, as a WAL reader: sees one snapshot and takes SQLite's
        /// read locks, but needs the `-shm` index (and creates `-wal` and
        /// `-shm` if they are missing and the directory is writable).
        case readOnly
        /// Reads only, with `immutable=1`: no lock, no `-wal` or `-shm` is
        /// read or created, nothing in the directory changes. The caller
        /// makes sure no write-ahead log holds changes (they would be ignored)
        /// and that the file did not change while it was read.
        case immutable
    }

    /// Opens (and with `create`, creates) the database file.
    ///
    /// The file is data, never code: whoever can write the vault directory
    /// can write this file, so it is opened as SQLite's documentation
    /// advises for an untrusted database. No symbolic link is followed
    /// (`SQLITE_OPEN_NOFOLLOW`); triggers and views never run
    /// (`SQLITE_DBCONFIG_ENABLE_TRIGGER`, `…_ENABLE_VIEW` off), so a trigger
    /// planted in the schema cannot silence or rewrite a write; the schema is
    /// not trusted to call functions (`SQLITE_DBCONFIG_TRUSTED_SCHEMA` off);
    /// and defensive mode forbids schema writes and shadow-table corruption.
    /// ``Catalog`` then compares the schema with its own.
    init(path: String, create: Bool, access: Access = .readWrite) throws {
        self.path = path
        let flags: Int32
        let name: String
        switch access {
        case .readWrite:
            (flags, name) = (SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, path)
        case .readOnly:
            (flags, name) = (SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, path)
        case .immutable:
            (flags, name) = (SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW, Self.immutableURI(path))
        }
        let rc = sqlite3_open_v2(name, &handle, flags, nil)
        guard rc == SQLITE_OK else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(handle)
            handle = nil
            throw DatabaseError(code: rc, message: message, path: path)
        }
        sqlite3_extended_result_codes(handle, 1)
        for (option, value) in Self.untrustedFileConfiguration {
            let rc = coffer_sqlite3_db_config_flag(handle, option, value)
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        // Writers from other processes wait instead of failing with "database is locked".
        sqlite3_busy_timeout(handle, 30_000)
    }

    /// The `sqlite3_db_config` settings for a file an attacker may have written.
    private static let untrustedFileConfiguration: [(Int32, Int32)] = [
        (SQLITE_DBCONFIG_DEFENSIVE, 1),
        (SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0),
        (SQLITE_DBCONFIG_ENABLE_TRIGGER, 0),
        (SQLITE_DBCONFIG_ENABLE_VIEW, 0),
        (SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0),
    ]

    /// `file:` URI for `path` with `immutable=1` (RFC 3986 percent-encoding
    /// of everything but unreserved characters and `/`, so no path can add
    /// a query parameter of its own).
    private static func immutableURI(_ path: String) -> String {
        let unreserved = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/".utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var encoded: [UInt8] = Array("file:".utf8)
        for byte in path.utf8 {
            if unreserved.contains(byte) { encoded.append(byte) } else { encoded += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 15)]] }
        }
        return String(decoding: encoded + Array("?immutable=1".utf8), as: UTF8.self)
    }

    /// Prepared statements by SQL text, reused: a rotation runs the same
    /// update a hundred thousand times.
    private var statements: [String: OpaquePointer] = [:]

    deinit {
        for statement in statements.values { sqlite3_finalize(statement) }
        sqlite3_close_v2(handle)
    }

    /// A prepared statement for `sql`: the cached one, unless a caller up
    /// the stack is still stepping it (then a fresh one). `release` resets it.
    private func prepare(_ sql: String) throws -> (statement: OpaquePointer?, release: () -> Void) {
        if let cached = statements.removeValue(forKey: sql) {
            return (cached, { self.recycle(cached, sql: sql) })
        }
        var statement: OpaquePointer?
        let rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
        return (statement, { self.recycle(statement, sql: sql) })
    }

    private func recycle(_ statement: OpaquePointer?, sql: String) {
        sqlite3_reset(statement)
        sqlite3_clear_bindings(statement)
        if statements[sql] == nil, let statement { statements[sql] = statement } else { sqlite3_finalize(statement) }
    }

    fileprivate func error(_ rc: Int32) -> DatabaseError {
        DatabaseError(code: rc, message: String(cString: sqlite3_errmsg(handle)), path: path)
    }

    /// Runs one or more statements that take no parameters and return no rows.
    func execute(_ sql: String) throws {
        let rc = sqlite3_exec(handle, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc) }
    }

    /// Runs a statement with parameters, discarding any rows.
    func run(_ sql: String, _ parameters: [SQLValue] = []) throws {
        _ = try query(sql, parameters)
    }

    /// Rows the last write changed.
    var changes: Int { Int(sqlite3_changes64(handle)) }

    /// Runs a write that must change exactly `expected` rows.
    /// - Throws: ``DatabaseError`` with `SQLITE_CORRUPT` when it changed
    ///   another number: something in the file interfered with the write.
    func run(_ sql: String, _ parameters: [SQLValue] = [], changing expected: Int) throws {
        try run(sql, parameters)
        let changed = changes
        guard changed == expected else {
            throw DatabaseError(
                code: SQLITE_CORRUPT, message: "a write changed \(changed) rows instead of \(expected) (\(sql.prefix(40))…)", path: path)
        }
    }

    /// Runs a query and returns every row.
    func query(_ sql: String, _ parameters: [SQLValue] = []) throws -> [[SQLValue]] {
        var rows: [[SQLValue]] = []
        try forEachRow(sql, parameters) { rows.append($0) }
        return rows
    }

    /// Runs a query and calls `body` for each row, without holding them all.
    func forEachRow(_ sql: String, _ parameters: [SQLValue] = [], _ body: ([SQLValue]) throws -> Void) throws {
        let cursor = try rows(sql, parameters)
        defer { cursor.close() }
        while let row = try cursor.next() { try body(row) }
    }

    /// Starts a query whose rows are read one `next()` at a time (for a
    /// reader on another thread than the consumer; one thread at a time).
    func rows(_ sql: String, _ parameters: [SQLValue] = []) throws -> RowCursor {
        let (statement, release) = try prepare(sql)
        let cursor = RowCursor(database: self, statement: statement, release: release)
        for (index, value) in parameters.enumerated() {
            let position = Int32(index + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, position)
            case .integer(let v): rc = sqlite3_bind_int64(statement, position, v)
            case .text(let s): rc = sqlite3_bind_text(statement, position, s, -1, sqliteTransient)
            case .blob(let b):
                rc = b.withUnsafeBytes { sqlite3_bind_blob(statement, position, $0.baseAddress ?? UnsafeRawPointer(bitPattern: 1), Int32(b.count), sqliteTransient) }
            }
            guard rc == SQLITE_OK else { throw error(rc) }
        }
        return cursor
    }

    /// The rows of one query, stepped on demand. ``close()`` resets the
    /// statement and hands it back to the connection's cache; call it on the
    /// connection's thread once no one steps the cursor any more (releasing
    /// the last reference closes it too, but that may happen on any thread).
    final class RowCursor: @unchecked Sendable {
        private let database: SQLiteDatabase
        private let statement: OpaquePointer?
        private let release: () -> Void
        private var done = false
        private var closed = false

        fileprivate init(database: SQLiteDatabase, statement: OpaquePointer?, release: @escaping () -> Void) {
            self.database = database
            self.statement = statement
            self.release = release
        }

        deinit { close() }

        /// Resets the statement and returns it to the cache; the cursor yields nothing afterwards.
        func close() {
            guard !closed else { return }
            closed = true
            done = true
            release()
        }

        /// The next row, or nil after the last.
        func next() throws -> [SQLValue]? {
            guard !done else { return nil }
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE {
                done = true
                return nil
            }
            guard rc == SQLITE_ROW else { throw database.error(rc) }
            let columns = sqlite3_column_count(statement)
            var row: [SQLValue] = []
            row.reserveCapacity(Int(columns))
            for column in 0..<columns {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_TEXT: row.append(.text(String(cString: sqlite3_column_text(statement, column))))
                case SQLITE_BLOB:
                    let count = Int(sqlite3_column_bytes(statement, column))
                    if count == 0 {
                        row.append(.blob([]))
                    } else {
                        let base = sqlite3_column_blob(statement, column)!
                        row.append(.blob(Array(UnsafeRawBufferPointer(start: base, count: count))))
                    }
                default: row.append(.null)
                }
            }
            return row
        }
    }

    /// Runs `body` inside `BEGIN IMMEDIATE … COMMIT`, rolling back if it throws.
    /// IMMEDIATE takes the write lock up front, so two writers never deadlock
    /// on a lock upgrade; the busy timeout makes the second one wait.
    func transaction<R>(_ body: () throws -> R) throws -> R {
        try inTransaction(begin: "BEGIN IMMEDIATE", body)
    }

    /// Runs `body` inside one read transaction: every query in it sees the
    /// same snapshot of the database (WAL mode), whatever other processes
    /// commit meanwhile.
    func reading<R>(_ body: () throws -> R) throws -> R {
        try inTransaction(begin: "BEGIN DEFERRED") {
            // The snapshot starts with the first read.
            _ = try query("SELECT 1 FROM sqlite_schema LIMIT 1")
            return try body()
        }
    }


    /// Copies this database into a new file with SQLite's online backup API
    /// (a consistent snapshot even while other connections write). The copy
    /// is written with no journal and no syncs of its own, and its writeback
    /// is started but not awaited: the caller fsyncs it (``POSIXFile/sync()``)
    /// before anything refers to it. A new file that nobody reads until it
    /// is complete and durable needs neither journal nor intermediate syncs.
    func backup(to destination: String) throws {
        let target = try SQLiteDatabase(path: destination, create: true)
        try target.execute("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF")
        guard let backup = sqlite3_backup_init(target.handle, "main", handle, "main") else {
            throw target.error(sqlite3_errcode(target.handle))
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            if rc == SQLITE_BUSY || rc == SQLITE_LOCKED { sqlite3_sleep(20) }
        } while rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED
        sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE else { throw target.error(rc) }
        try POSIXFile.openForReading(destination).startWriteback()
    }
}

/// SQLite's SQLITE_TRANSIENT: copy bound values before returning.
private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLValue {
    /// The integer value, or nil.
    var integer: Int64? { if case .integer(let v) = self { v } else { nil } }
    /// The text value, or nil.
    var text: String? { if case .text(let v) = self { v } else { nil } }
    /// The blob value, or nil.
    var blob: [UInt8]? { if case .blob(let v) = self { v } else { nil } }
}

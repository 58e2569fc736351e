import Foundation

/// A vault's ledger and catalog metadata in PostgreSQL (issue 13, the
/// shared backend; docs/SHARED.md): the same rows as the local catalog's
/// `ledger` and `meta` tables, plus a one-row `head` that serialises
/// appends.
///
/// **Compare-and-append.** ``append(_:after:)`` runs in one transaction
/// under READ COMMITTED: it locks the head row (`SELECT … FOR UPDATE`),
/// checks that it is still the head the caller planned against (the
/// sequence and hash of the caller's last verified entry), inserts the new
/// rows and moves the head. Two writers on that head queue on the row lock;
/// the second finds the head moved and is told so
/// (``LedgerConflict``), to verify what the first appended and plan
/// again. `seq` as primary key and `hash` as unique key are backstops:
/// a row can never be inserted twice, nor the chain forked, even by a
/// client that skipped the head.
///
/// **Untrusted.** The database operator is an adversary (THREAT-MODEL.md):
/// every row read is parsed and its stored hash recomputed
/// (``Catalog/entry(from:)``), and the caller verifies signatures, links and
/// rules with ``LedgerVerifier`` exactly as for a local vault. The head row
/// is only a lock and a hint: a head that does not name the ledger's last
/// row makes every append fail, never a fork.
final class PostgresLedger: VaultCatalog {
    /// The connection (one thread at a time).
    let connection: PostgresConnection
    /// The schema the tables live in (one per vault, so one database can hold several).
    let schema: String

    /// Rows fetched per query while walking the ledger.
    static let batchSize = 256

    /// Opens the ledger of the vault in `schema` (created with ``create(vault:)`` first).
    /// - Parameter schema: letters, digits and `_`, starting with a letter (it is quoted into SQL).
    init(connection: PostgresConnection, schema: String) throws {
        try Self.requireValidSchemaName(schema)
        self.connection = connection
        self.schema = schema
    }

    /// Refuses a schema name that is not 1 to 63 ASCII letters, digits or
    /// `_` starting with a letter (the name is quoted into SQL).
    /// - Throws: ``VaultError/invalidRequest(_:)``.
    static func requireValidSchemaName(_ schema: String) throws {
        guard let first = schema.unicodeScalars.first, first.isASCII, CharacterSet.letters.contains(first), schema.utf8.count <= 63,
              schema.unicodeScalars.allSatisfy({ $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_") })
        else { throw VaultError.invalidRequest("a vault's schema name is 1 to 63 ASCII letters, digits or _, starting with a letter") }
    }

    /// `schema.table`, quoted.
    private func table(_ name: String) -> String { "\"\(schema)\".\(name)" }

    /// Creates the schema and its tables for `vault`, with an empty head.
    /// - Parameter descriptor: the vault's signed descriptor file, kept in
    ///   `meta` for clients that attach (who check its signature and that
    ///   the ledger's first entry names it, as for a local vault).
    /// - Throws: ``PostgresError`` (`42P06` if the schema exists).
    func create(vault: VaultID, descriptor: [UInt8] = []) throws {
        try connection.transaction {
            try connection.execute("""
                CREATE SCHEMA "\(schema)";
                CREATE TABLE \(table("meta")) (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE \(table("ledger")) (seq BIGINT PRIMARY KEY CHECK (seq >= 0), hash BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL, signature BYTEA NOT NULL);
                CREATE TABLE \(table("head")) (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), count BIGINT NOT NULL, hash BYTEA NOT NULL);
                """)
            try connection.query(
                "INSERT INTO \(table("meta")) (key, value) VALUES ('vault_id', $1), ('schema', $2), ('descriptor', $3)",
                [.text(vault.description), .text("\(Catalog.schemaVersion)"), .text(Base64.encode(descriptor))])
            try connection.query("INSERT INTO \(table("head")) (count, hash) VALUES (0, $1)", [.blob(LedgerEntry.genesis)])
        }
    }

    /// A value of the `meta` table.
    func meta(_ key: String) throws -> String? {
        try connection.query("SELECT value FROM \(table("meta")) WHERE key = $1", [.text(key)]).first?.first?.text
    }

    /// The number of entries the head row claims, and the hash of the last (a hint; see the type's notes).
    func head() throws -> (count: Int64, hash: [UInt8]) {
        try readHead(lockingIt: false)
    }

    /// The head row, locked until the transaction ends with `lockingIt`.
    private func readHead(lockingIt: Bool) throws -> (count: Int64, hash: [UInt8]) {
        guard let row = try connection.query("SELECT count, hash FROM \(table("head"))\(lockingIt ? " FOR UPDATE" : "")").first, row.count == 2,
              let count = row[0].integer, let hash = row[1].blob
        else { throw LedgerError.malformed(sequence: -1, reason: "the head row is missing or malformed") }
        return (count, hash)
    }

    /// The number of entries: one past the highest `seq` (the primary key's
    /// index answers it; a missing row below it is found when the walk reaches it).
    func ledgerCount() throws -> Int64 {
        try connection.query("SELECT coalesce(max(seq) + 1, 0) FROM \(table("ledger"))").first?.first?.integer ?? 0
    }

    /// The entry at `seq`, parsed and its stored hash checked, if there is one.
    func ledgerEntry(at seq: Int64) throws -> LedgerEntry? {
        try connection.query("SELECT seq, body, signature, hash FROM \(table("ledger")) WHERE seq = $1", [.integer(seq)]).first.map(Catalog.entry(from:))
    }

    /// Calls `body` with every entry from `seq` on, in order, parsed and
    /// its stored hash checked, but not verified; a batch at a time.
    /// Signatures are left to the caller's verifier (`signingKeys` is not used).
    /// - Throws: ``LedgerError/malformed(sequence:reason:)`` for a bad or missing row; what `body` throws.
    func forEachLedgerEntry(from seq: Int64, checkingAheadWith signingKeys: SigningKeys?, _ body: (LedgerEntry) throws -> Void) throws {
        var next = seq
        while true {
            let rows = try connection.query(
                "SELECT seq, body, signature, hash FROM \(table("ledger")) WHERE seq >= $1 ORDER BY seq LIMIT \(Self.batchSize)", [.integer(next)])
            for row in rows {
                let entry = try Catalog.entry(from: row)
                guard entry.sequence == next else { throw LedgerError.malformed(sequence: next, reason: "entry \(next) is missing") }
                entriesRead += 1
                try body(entry)
                next += 1
            }
            if rows.count < Self.batchSize { return }
        }
    }

    private(set) var entriesRead = 0

    /// Plans and appends with ``append(_:after:)``; when another client
    /// appended first, `plan` (which reads and verifies what it appended)
    /// runs again, after a short random wait, up to ``sharedAppendAttempts`` times.
    func append(planning plan: () throws -> [LedgerEntry]) throws {
        var attempt = 0
        while true {
            let entries = try plan()
            guard let first = entries.first else { return }
            do {
                return try append(entries, after: (first.sequence, first.contents.previous))
            } catch let conflict as LedgerConflict {
                attempt += 1
                guard attempt < sharedAppendAttempts else { throw conflict }
                usleep(UInt32.random(in: 1_000...(5_000 * UInt32(attempt))))
            }
        }
    }

    // MARK: The vault's lock

    /// Takes this vault's lock shared, for as long as the connection lasts:
    /// the shared vault's counterpart of ``VaultLock`` (which is one
    /// client's file), a PostgreSQL session-level advisory lock keyed by the
    /// schema, so it spans every client. Every command holds it shared;
    /// `gc` takes it exclusively (``exclusively(_:)``) while it lists and
    /// deletes objects, so it never deletes what a running command has
    /// uploaded but not yet committed, or is reading. A client that dies
    /// loses its connection and with it the lock.
    /// - Throws: ``LockError/sharedVaultTimedOut(schema:seconds:)`` after
    ///   ``FileLock/defaultWaitLimit`` while a `gc` holds it; ``PostgresError``.
    func holdShared() throws {
        guard !holdsShared else { return }
        try waitFor("pg_try_advisory_lock_shared")
        holdsShared = true
    }

    /// Whether this connection holds the vault's lock shared.
    private var holdsShared = false

    /// Runs `body` holding this vault's lock exclusively (waiting until no
    /// other client holds it, at most ``FileLock/defaultWaitLimit``), then
    /// holds it shared again if it did before. The shared hold is dropped
    /// while waiting, as `flock` does when converting a lock: two clients
    /// that both want it exclusively then take turns instead of each
    /// waiting for the other's shared hold.
    func exclusively<T>(_ body: () throws -> T) throws -> T {
        let wasShared = holdsShared
        if wasShared {
            _ = try connection.query("SELECT pg_advisory_unlock_shared(hashtextextended($1, 0))", [.text(schema)])
            holdsShared = false
        }
        do {
            try waitFor("pg_try_advisory_lock")
        } catch {
            if wasShared { try? holdShared() }
            throw error
        }
        defer {
            // Granted at once: this connection holds it exclusively until the unlock below.
            if wasShared { try? holdShared() }
            _ = try? connection.query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [.text(schema)])
        }
        return try body()
    }

    /// Calls `function` (one of the `pg_try_advisory_lock…` family) on the
    /// schema's key until it grants the lock or the wait limit passes.
    private func waitFor(_ function: String) throws {
        let started = Date()
        var pause: UInt32 = 5_000
        while true {
            let granted = try connection.query("SELECT \(function)(hashtextextended($1, 0))", [.text(schema)]).first?.first?.integer
            if granted == 1 { return }
            let waited = Date().timeIntervalSince(started)
            guard waited < FileLock.defaultWaitLimit else { throw LockError.sharedVaultTimedOut(schema: schema, seconds: waited) }
            usleep(pause)
            pause = min(pause * 2, 500_000)
        }
    }

    /// A shared catalog is created with the current schema: nothing to upgrade.
    func upgradeSchema() throws -> Int? {
        guard try storedSchema() == Catalog.schemaVersion else {
            throw FormatError.unsupportedVersion("shared catalog", try storedSchema() ?? -1)
        }
        return nil
    }

    /// Appends `entries` (signed, verified and applied by the caller on top
    /// of the state whose last entry is `head`) if the ledger's head is still
    /// `head`; all or none.
    /// - Parameter head: the entry count and last hash the caller planned on.
    /// - Throws: ``LedgerConflict`` if another writer appended first (the
    ///   caller refreshes and plans again); ``PostgresError``.
    func append(_ entries: [LedgerEntry], after head: (count: Int64, hash: [UInt8])) throws {
        try connection.transaction {
            let (count, hash) = try readHead(lockingIt: true)
            guard count == head.count, hash == head.hash else { throw LedgerConflict(planned: head.count, found: count) }
            var expected = head
            for entry in entries {
                guard entry.sequence == expected.count, entry.contents.previous == expected.hash else {
                    throw LedgerError.malformed(sequence: entry.sequence, reason: "an appended entry does not follow the head it was planned on")
                }
                try connection.query(
                    "INSERT INTO \(table("ledger")) (seq, hash, body, signature) VALUES ($1, $2, $3, $4)",
                    [.integer(entry.sequence), .blob(entry.hash), .blob(entry.body), .blob(entry.signature)])
                expected = (entry.sequence + 1, entry.hash)
            }
            try connection.query("UPDATE \(table("head")) SET count = $1, hash = $2", [.integer(expected.count), .blob(expected.hash)])
        }
    }
}

/// Another writer appended to a shared ledger after the head an append was
/// planned on: verify its entries and plan again.
public struct LedgerConflict: CofferFailure, Equatable {
    /// The entry count the append was planned on.
    public let planned: Int64
    /// The entry count the head has now.
    public let found: Int64

    public var kind: FailureKind { .concurrentChange }
    public var description: String {
        "the shared ledger moved from \(planned) to \(found) entries while this change was planned; run it again"
    }
}

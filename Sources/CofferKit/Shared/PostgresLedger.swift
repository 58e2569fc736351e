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
final class PostgresLedger {
    /// The connection (one thread at a time).
    let connection: PostgresConnection
    /// The schema the tables live in (one per vault, so one database can hold several).
    let schema: String

    /// Rows fetched per query while walking the ledger.
    static let batchSize = 256

    /// Opens the ledger of the vault in `schema` (created with ``create(vault:)`` first).
    /// - Parameter schema: letters, digits and `_`, starting with a letter (it is quoted into SQL).
    init(connection: PostgresConnection, schema: String) throws {
        guard let first = schema.unicodeScalars.first, CharacterSet.letters.contains(first), schema.count <= 63,
              schema.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "_" }), schema.allSatisfy(\.isASCII)
        else { throw PostgresError(state: "", message: "a vault's schema name is 1 to 63 ASCII letters, digits or _, starting with a letter") }
        self.connection = connection
        self.schema = schema
    }

    /// `schema.table`, quoted.
    private func table(_ name: String) -> String { "\"\(schema)\".\(name)" }

    /// Creates the schema and its tables for `vault`, with an empty head.
    /// - Throws: ``PostgresError`` (`42P06` if the schema exists).
    func create(vault: VaultID) throws {
        try connection.transaction {
            try connection.execute("""
                CREATE SCHEMA "\(schema)";
                CREATE TABLE \(table("meta")) (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                CREATE TABLE \(table("ledger")) (seq BIGINT PRIMARY KEY CHECK (seq >= 0), hash BYTEA NOT NULL UNIQUE, body BYTEA NOT NULL, signature BYTEA NOT NULL);
                CREATE TABLE \(table("head")) (one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one), count BIGINT NOT NULL, hash BYTEA NOT NULL);
                """)
            try connection.query("INSERT INTO \(table("meta")) (key, value) VALUES ('vault_id', $1), ('schema', $2)", [.text(vault.description), .text("\(Catalog.schemaVersion)")])
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

    /// Calls `body` with every entry from `seq` on, in order, parsed and
    /// its stored hash checked, but not verified; a batch at a time.
    /// - Throws: ``LedgerError/malformed(sequence:reason:)`` for a bad row; what `body` throws.
    func forEachEntry(from seq: Int64 = 0, _ body: (LedgerEntry) throws -> Void) throws {
        var next = seq
        while true {
            let rows = try connection.query(
                "SELECT seq, body, signature, hash FROM \(table("ledger")) WHERE seq >= $1 ORDER BY seq LIMIT \(Self.batchSize)", [.integer(next)])
            for row in rows {
                let entry = try Catalog.entry(from: row)
                guard entry.sequence == next else { throw LedgerError.malformed(sequence: next, reason: "entry \(next) is missing") }
                try body(entry)
                next += 1
            }
            if rows.count < Self.batchSize { return }
        }
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

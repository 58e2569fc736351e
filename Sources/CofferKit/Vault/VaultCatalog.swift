/// Where a vault's signed ledger and its little metadata (`meta`: vault id,
/// schema) are kept: the SQLite catalog in a local vault's directory
/// (``Catalog``) or a PostgreSQL database shared by every client of a
/// shared vault (``PostgresLedger``). Either way the storage is untrusted:
/// entries are handed out parsed, with their stored hash checked, and every
/// caller verifies signatures, links and rules (``LedgerVerifier``).
protocol VaultCatalog: AnyObject {
    /// A value of the `meta` table.
    func meta(_ key: String) throws -> String?

    /// The number of entries stored.
    func ledgerCount() throws -> Int64

    /// The entry at `seq`, parsed but not verified, if the ledger has one.
    func ledgerEntry(at seq: Int64) throws -> LedgerEntry?

    /// Calls `body` with each entry with `seq >= from`, in order, parsed but
    /// not verified, without holding them all.
    /// - Parameter signingKeys: a replay's keys: each entry's signature may
    ///   then be checked ahead, on other threads (``LedgerEntry/signatureCheckedAhead``).
    /// - Throws: ``LedgerError/malformed(sequence:reason:)`` at the first bad
    ///   or missing row (after every entry before it); what `body` throws.
    func forEachLedgerEntry(from: Int64, checkingAheadWith signingKeys: SigningKeys?, _ body: (LedgerEntry) throws -> Void) throws

    /// A compare-and-append: `plan` verifies the entries appended since
    /// the caller last looked, and returns the signed entries to append after
    /// them; those are appended only if no other writer appended in between,
    /// all or none. A local catalog holds its write lock while `plan` runs;
    /// a shared one runs `plan` again (up to ``sharedAppendAttempts``)
    /// when another client appended first.
    /// - Throws: what `plan` throws; ``LedgerConflict`` if other clients kept
    ///   appending first; ``DatabaseError`` or ``PostgresError``.
    func append(planning plan: () throws -> [LedgerEntry]) throws

    /// Brings the storage to the current schema inside an ``append(planning:)``.
    /// - Returns: the schema upgraded from, or nil if it was current.
    func upgradeSchema() throws -> Int?

    /// How many entries ``forEachLedgerEntry(from:checkingAheadWith:_:)``
    /// read through this connection (the work a command does, which tests bound).
    var entriesRead: Int { get }
}

/// How many times a shared catalog plans an append again after another
/// client appended first (each time from the fresher ledger).
let sharedAppendAttempts = 16

extension VaultCatalog {
    /// The schema version the `meta` table records (nil if it records none or not a number).
    func storedSchema() throws -> Int? {
        try meta("schema").flatMap { Int($0) }
    }

    /// ``forEachLedgerEntry(from:checkingAheadWith:_:)`` without checking signatures ahead.
    func forEachLedgerEntry(from: Int64 = 0, _ body: (LedgerEntry) throws -> Void) throws {
        try forEachLedgerEntry(from: from, checkingAheadWith: nil, body)
    }

    /// Entries with `seq >= from`, in order, parsed but not verified (for tests and fuzz seeds: it holds them all).
    func ledgerEntries(from: Int64 = 0) throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        try forEachLedgerEntry(from: from) { entries.append($0) }
        return entries
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

    /// Reads back `entries` after their commit: each must be in the ledger,
    /// at its sequence, with its hash, before a command reports success.
    /// - Throws: ``LedgerError/rolledBack(seenSequence:currentCount:)`` or
    ///   ``LedgerError/forked(sequence:)`` if one is not what was written.
    func requireAppended(_ entries: [LedgerEntry]) throws {
        for entry in entries { try requireEntry(at: entry.sequence, hash: entry.hash) }
    }
}

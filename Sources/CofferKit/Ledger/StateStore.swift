import Foundation

/// One identity's verified state of one vault, kept in its state directory
/// as an indexed SQLite file (`<fingerprint>/<vault id>.sqlite`), so that a
/// command loads the small core and reads only the documents it touches,
/// and the next command replays only the entries appended since.
///
/// Only that identity can produce it. Every document record carries a MAC
/// (BLAKE2b-256 keyed by `KDF(identity seed, 5, "cofrstat")`) over the vault
/// id, the document id and the record; the core and the document count are
/// sealed by one more MAC. Whoever can write the state directory cannot
/// forge a record, move one to another document or vault, or change the
/// core. A record put back from an older copy of the file authenticates; it
/// is caught by `coffer verify --deep`, which compares the whole saved state
/// with a replay of the ledger. A record or core that does not authenticate or parse makes the
/// store *damaged*: the command fails (exit 5), the store is emptied, and
/// the next command rebuilds it from a full replay of the ledger, which
/// stays the only source of truth (docs/THREAT-MODEL.md, "State directory").
///
/// The state it returns reads documents from one snapshot (a read
/// transaction held open), which ``save(_:)`` renews: a state obtained
/// before a save must not be used after it (a read through it is reported
/// as damage rather than answered from a newer snapshot).
final class StateStore: @unchecked Sendable {
    /// The SQLite file.
    let path: String
    private let database: SQLiteDatabase
    /// A second connection for the name index, which is read and written
    /// while ``database`` holds its snapshot.
    private let names: SQLiteDatabase
    private let key: SymmetricKey
    private let nameKey: SymmetricKey
    private let vaultID: VaultID
    private let lock = NSLock()
    /// Whether a read transaction (the snapshot states read from) is open.
    private var snapshotOpen = false
    private var problem: String?
    /// How many document records were read and authenticated (the work a
    /// command does, which tests bound).
    private(set) var recordsRead = 0

    static let format = "coffer-state-store-v6"
    private static let schema = """
        CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS documents (id BLOB PRIMARY KEY, record BLOB NOT NULL, mac BLOB NOT NULL, label TEXT NOT NULL, sealed INTEGER NOT NULL) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS documents_by_label ON documents (label, id);
        CREATE INDEX IF NOT EXISTS documents_by_seal ON documents (sealed, id);
        CREATE TABLE IF NOT EXISTS holders (id BLOB NOT NULL, role BLOB NOT NULL, PRIMARY KEY (id, role)) WITHOUT ROWID;
        CREATE INDEX IF NOT EXISTS holders_by_role ON holders (role, id);
        CREATE TABLE IF NOT EXISTS names (tag BLOB NOT NULL, id BLOB NOT NULL, PRIMARY KEY (tag, id)) WITHOUT ROWID;
        CREATE TABLE IF NOT EXISTS unnamed (id BLOB PRIMARY KEY) WITHOUT ROWID;
        """

    /// A store in a new private temporary directory, under a key nobody
    /// keeps, removed with the store: where a full replay (`coffer verify`)
    /// puts the documents it has verified instead of holding them all in memory.
    /// - Throws: ``FileError``, ``DatabaseError``.
    static func temporary(vault: VaultID) throws -> StateStore {
        let scratch = try StagingDirectory.scratch(prefix: "coffer-replay-")
        let store = try StateStore(path: scratch.path + "/state.sqlite", identity: .generate(name: "replay"), vault: vault)
        store.scratch = scratch
        // Scratch data, gone with the process: nothing is worth an fsync.
        try store.database.execute("PRAGMA synchronous = OFF")
        try store.names.execute("PRAGMA synchronous = OFF")
        return store
    }

    /// The private directory ``temporary(vault:)`` made, removed with the
    /// store (or by the next one any process makes, if this one is killed).
    private var scratch: StagingDirectory?

    /// Opens (creating, mode 0600) `identity`'s store of `vaultID` at `path`.
    /// Its records are authenticated under `KDF(seed, 5, "cofrstat")`; its
    /// name index is keyed by `KDF(seed, 6, "cofrname")`.
    /// - Throws: ``FileError``, ``DatabaseError``.
    init(path: String, identity: Identity, vault vaultID: VaultID) throws {
        self.path = path
        let keys = try identity.stateKeys()
        key = keys.records
        nameKey = keys.names
        self.vaultID = vaultID
        try FileSystem.createDirectories(FileSystem.directoryName(of: path))
        if !FileSystem.exists(path) {
            // SQLite creates files with the process umask; the state is 0600 from the start.
            do { _ = try POSIXFile.createExclusive(path) } catch let error as FileError where error.kind == .conflict {}
        }
        let database = try SQLiteDatabase(path: path, create: false)
        // The log is truncated back to 16 MiB after a checkpoint (a rotation writes a hundred MB through it).
        try database.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA journal_size_limit = 16777216")
        try database.transaction {
            // A store of another format (an earlier Coffer's) is a cache like any
            // other: dropped, and rebuilt by the next replay of the ledger.
            let tables = try database.query("SELECT name FROM sqlite_schema WHERE type = 'table'").compactMap { $0.first?.text }
            let format = tables.contains("meta") ? try database.query("SELECT value FROM meta WHERE name = 'format'").first?.first?.blob : nil
            if let format, format != Array(Self.format.utf8) {
                for table in tables { try database.execute("DROP TABLE \"\(table.replacingOccurrences(of: "\"", with: "\"\""))\"") }
            }
            try database.execute(Self.schema)
        }
        self.database = database
        names = try SQLiteDatabase(path: path, create: false)
        try names.execute("PRAGMA synchronous = NORMAL")
    }

    deinit {
        if snapshotOpen { try? database.execute("COMMIT") }
    }

    // MARK: Loading

    /// The saved state, reading its documents from a new snapshot; nil if
    /// nothing is saved (or the store was emptied after damage).
    /// - Throws: ``VaultError/integrity(_:)`` if the core does not authenticate or parse (the store is emptied first).
    func load() throws -> VaultState? {
        try locked {
            try renewSnapshot()
            return try readCore()
        }
    }

    /// The core as saved in the current snapshot, with its documents read from it.
    private func readCore() throws -> VaultState? {
        let meta = try metaRows()
        guard let seal = meta["seal"] else { return nil }
        guard meta["format"] == Array(Self.format.utf8), let core = meta["core"], let countBytes = meta["count"], countBytes.count == 8
        else { return try damaged("its core is incomplete") }
        guard Sodium.constantTimeEqual(coreMAC(core: core, count: countBytes), seal) else {
            return try damaged("its core does not authenticate")
        }
        var state: VaultState
        do {
            var reader = ByteReader(core, what: "vault state")
            state = try StateCodec.decodeCore(&reader)
        } catch {
            return try damaged("its core does not parse (\(error))")
        }
        guard state.vaultID == vaultID else { return try damaged("it belongs to another vault") }
        let count = countBytes.reduce(0) { $0 << 8 | Int($1) }
        state.documents = DocumentTable(source: Snapshot(store: self, epoch: snapshotEpoch, count: count, entryCount: state.entryCount))
        return state
    }

    // MARK: Saving

    /// Saves `state` (which must have been loaded from this store, or hold
    /// every document itself), writing only the documents it changed and
    /// queueing them for the name index (every document, when the roles
    /// `reader` holds changed: what it can read changed with them), and
    /// returns it reading from the new snapshot. If the store already holds
    /// a newer state (another process of this identity saved one), nothing
    /// is written and that state is returned: the caller checks it against
    /// the ledger like any state it loads.
    /// - Throws: ``DatabaseError``, ``VaultError/integrity(_:)``.
    func save(_ state: VaultState, reader: String?) throws -> VaultState {
        try locked {
            if let problem { _ = try damaged(problem) }
            let wholeState = state.documents.source == nil
            let snapshot = state.documents.source as? Snapshot
            precondition(wholeState || snapshot?.isCurrent(in: self) == true, "a state saved after its snapshot was renewed")
            try endSnapshot()
            try database.transaction {
                // Whether the store still holds the snapshot the state was loaded from (no other process saved since).
                var holdsSnapshot = false
                switch try savedCore() {
                case .authentic(let count) where count > state.entryCount: return
                case .authentic(let count): holdsSnapshot = count == snapshot?.entryCount
                case .damaged where !wholeState: throw VaultError.integrity(Self.message(path: path, "its core no longer authenticates"))
                default: break
                }
                if wholeState { try database.execute("DELETE FROM documents; DELETE FROM holders; DELETE FROM names; DELETE FROM unnamed") }
                // In id order: the rows of a batch share pages, so each page is read and written once.
                // Records and their MACs are made on every core, 1,024 at a time; only the writes are in series.
                let changed = state.documents.changed.sorted(by: { $0.id < $1.id })
                for start in stride(from: 0, to: changed.count, by: 1_024) {
                    let chunk = Array(changed[start..<min(start + 1_024, changed.count)])
                    let encoded = try ParallelMap.run(chunk) { document in
                        let record = StateCodec.encodeDocument(document)
                        return (record: record, mac: self.recordMAC(id: document.id, record: record))
                    }
                    for (document, (record, recordMAC)) in zip(chunk, encoded) {
                        let id: SQLValue = .blob(document.id.bytes)
                        let mac: SQLValue = .blob(recordMAC)
                        let now = Self.indexing(of: document)
                        // Only the rows that change are written: a rewrap changes the record alone. What the
                        // store holds is the snapshot's record when nobody saved since, else it is read back.
                        let saved =
                            wholeState ? nil
                            : holdsSnapshot ? state.documents.original(of: document.id).map(Self.indexing(of:)) : try savedIndexing(of: document.id)
                        if let saved, saved.label == now.label, saved.sealed == now.sealed {
                            try database.run("UPDATE documents SET record = ?, mac = ? WHERE id = ?", [.blob(record), mac, id], changing: 1)
                        } else {
                            try database.run(
                                "INSERT OR REPLACE INTO documents (id, record, mac, label, sealed) VALUES (?, ?, ?, ?, ?)",
                                [id, .blob(record), mac, .text(document.label), .integer(document.sealOrder.sequence)])
                        }
                        if saved?.roles != now.roles {
                            try database.run("DELETE FROM holders WHERE id = ?", [id])
                            for role in now.roles { try database.run("INSERT INTO holders (id, role) VALUES (?, ?)", [id, .blob(role.bytes)]) }
                        }
                        // Named again only if its name or who can read it may have changed.
                        if reader != nil, saved?.roles != now.roles || saved?.metadata != now.metadata {
                            try database.run("INSERT OR IGNORE INTO unnamed (id) VALUES (?)", [id])
                        }
                    }
                }
                if let reader {
                    let held = Self.readerKey(state, reader)
                    if try database.query("SELECT value FROM meta WHERE name = 'reader'").first?[0].blob != held {
                        try database.execute("INSERT OR IGNORE INTO unnamed (id) SELECT id FROM documents")
                        try database.run("INSERT OR REPLACE INTO meta (name, value) VALUES ('reader', ?)", [.blob(held)])
                    }
                }
                let core = StateCodec.encodeCore(state)
                let count = Self.bigEndian(UInt64(state.documents.count))
                let values: [(String, [UInt8])] = [
                    ("format", Array(Self.format.utf8)), ("core", core), ("count", count),
                    ("seal", coreMAC(core: core, count: count)),
                ]
                for (name, value) in values {
                    try database.run("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", [.text(name), .blob(value)])
                }
            }
            try renewSnapshot()
            guard let saved = try readCore() else {
                _ = try damaged("its core vanished")
                return state
            }
            if saved.entryCount == state.entryCount && saved.head == state.head {
                var kept = state
                kept.documents = saved.documents
                return kept
            }
            return saved
        }
    }

    /// What the store holds for document `id` that decides which of its
    /// rows a save must write: the indexed columns, the roles in the holders
    /// index, and the current version's (encrypted) metadata, read without
    /// authentication. Like the indexes themselves these are hints: a wrong
    /// one makes a save write a row it could have left, or leave an index
    /// row as an attacker who can write the store could have left it anyway.
    private func savedIndexing(of id: DocumentID) throws -> Indexing? {
        guard let row = try database.query("SELECT record, label, sealed FROM documents WHERE id = ?", [.blob(id.bytes)]).first else { return nil }
        var reader = ByteReader(row[0].blob ?? [], what: "vault state")
        let metadata = (try? StateCodec.decodeDocument(&reader))?.current.metadata
        let roles = try database.query("SELECT role FROM holders WHERE id = ?", [.blob(id.bytes)]).compactMap { row in
            row.first?.blob.flatMap { try? RoleID(bytes: $0) }
        }
        return Indexing(label: row[1].text, sealed: row[2].integer, roles: roles.sorted(), metadata: metadata)
    }

    /// What a save writes of `document` besides its record, as its rows hold it.
    private static func indexing(of document: VaultState.Document) -> Indexing {
        Indexing(
            label: document.label, sealed: document.sealOrder.sequence, roles: document.current.wraps.keys.sorted(),
            metadata: document.current.metadata)
    }

    /// A document's indexed columns, its roles in the holders index (in
    /// order) and its current version's (encrypted) metadata, which decide
    /// the rows a save writes.
    private struct Indexing {
        let label: String?
        let sealed: Int64?
        let roles: [RoleID]
        let metadata: [UInt8]?
    }

    /// What decides which documents `reader` can read: whether it is an
    /// administrator, and the roles it belongs to.
    private static func readerKey(_ state: VaultState, _ reader: String) -> [UInt8] {
        Blake2b.hash(Array(((state.admins.contains(reader) ? "admin" : "member") + state.roles(of: reader).map { " \($0.id)" }.joined()).utf8))
    }

    // MARK: Name index

    /// The name index maps a keyed hash of each readable document's name, and
    /// of each folder its name is in, to its id, so that a document is found
    /// by name (and a folder listed) without decrypting every
    /// document's metadata. It is a hint: a match is always checked against
    /// the document's authenticated metadata, and documents saved since they
    /// were last indexed are queued (`unnamed`) until the next lookup.

    /// The index tag of `name`.
    func tag(name: String) -> [UInt8] { tag("coffer-name", name) }

    /// The index tag of the folder `folder` (a name prefix ending in `/`).
    func tag(folder: String) -> [UInt8] { tag("coffer-folder", folder) }

    /// BLAKE2b-128 under the name key of `domain` ‖ `\n` ‖ `text`.
    private func tag(_ domain: String, _ text: String) -> [UInt8] {
        let hasher = Blake2b(outputByteCount: 16, key: nameKey)
        hasher.update(Array("\(domain)\n\(text)".utf8))
        return hasher.finalize()
    }

    /// Up to `limit` documents queued for the name index.
    func unnamedDocuments(limit: Int) throws -> [DocumentID] {
        try locked {
            ids(try names.query("SELECT id FROM unnamed LIMIT ?", [.integer(Int64(limit))]))
        }
    }

    /// Indexes `named` documents under their names' tags and takes every
    /// document of `indexed` off the queue (those this identity cannot read have no name).
    func index(_ named: [(id: DocumentID, name: String)], indexed: [DocumentID]) throws {
        try locked {
            try names.transaction {
                for entry in named {
                    for tag in tags(ofName: entry.name) {
                        try names.run("INSERT OR IGNORE INTO names (tag, id) VALUES (?, ?)", [.blob(tag), .blob(entry.id.bytes)])
                    }
                }
                for id in indexed { try names.run("DELETE FROM unnamed WHERE id = ?", [.blob(id.bytes)]) }
            }
        }
    }

    /// The documents indexed under `name` (candidates, to be checked).
    func documents(named name: String) throws -> [DocumentID] {
        try locked { ids(try names.query("SELECT id FROM names WHERE tag = ?", [.blob(tag(name: name))])) }
    }

    /// The documents indexed under the folder `folder` (a name prefix ending in `/`; candidates, to be checked).
    func documents(inFolder folder: String) throws -> [DocumentID] {
        try locked { ids(try names.query("SELECT id FROM names WHERE tag = ?", [.blob(tag(folder: folder))])) }
    }

    /// The tags a document named `name` is indexed under: its name, and each folder it is in.
    func tags(ofName name: String) -> [[UInt8]] {
        let utf8 = Array(name.utf8)
        let folders = utf8.indices.filter { utf8[$0] == UInt8(ascii: "/") }.map { String(decoding: utf8[...$0], as: UTF8.self) }
        return [tag(name: name)] + folders.map(tag(folder:))
    }

    /// The documents of the current snapshot labelled `label`, by the
    /// store's label column (candidates: the caller checks each record).
    func documents(labelled label: String) throws -> [DocumentID] {
        try locked { ids(try database.query("SELECT id FROM documents WHERE label = ? ORDER BY id", [.text(label)])) }
    }

    /// Up to `limit` of the documents of the current snapshot wrapped for
    /// `role`, with ids after `after`, in id order (candidates, to be checked).
    func documents(heldBy role: RoleID, after: DocumentID? = nil, limit: Int = Int(Int64.max)) throws -> [DocumentID] {
        try locked {
            ids(try database.query(
                "SELECT id FROM holders WHERE role = ? AND id > ? ORDER BY id LIMIT ?", [.blob(role.bytes), .blob(after?.bytes ?? []), .integer(Int64(limit))]))
        }
    }

    private func ids(_ rows: [[SQLValue]]) -> [DocumentID] {
        rows.compactMap { $0[0].blob.flatMap { try? DocumentID(bytes: $0) } }
    }

    // MARK: Checks

    /// Throws if a record read so far did not authenticate or parse, or was
    /// read through a state older than the current snapshot; the store is
    /// emptied so that the next command rebuilds it.
    /// - Throws: ``VaultError/integrity(_:)``.
    func requireIntact() throws {
        try locked {
            if let problem { _ = try damaged(problem) }
        }
    }

    /// The `meta` table as the connection's current transaction sees it.
    private func metaRows() throws -> [String: [UInt8]] {
        var meta: [String: [UInt8]] = [:]
        for row in try database.query("SELECT name, value FROM meta") {
            if let name = row[0].text, let value = row[1].blob { meta[name] = value }
        }
        return meta
    }

    /// What the store holds before a save.
    private enum SavedCore {
        case none
        case damaged
        /// A core that authenticates, with its entry count.
        case authentic(Int64)
    }

    /// The saved core, checked (its entry count is its second field, after the vault id).
    private func savedCore() throws -> SavedCore {
        let meta = try metaRows()
        guard let seal = meta["seal"] else { return .none }
        guard let core = meta["core"], core.count >= 24, let count = meta["count"], count.count == 8,
              Sodium.constantTimeEqual(coreMAC(core: core, count: count), seal)
        else { return .damaged }
        return .authentic(Int64(bitPattern: core[16..<24].reduce(0) { $0 << 8 | UInt64($1) }))
    }

    /// Empties the store, so that the next command rebuilds it from the
    /// ledger, and throws: for an index found incomplete.
    /// - Throws: ``VaultError/integrity(_:)``, always.
    func discard(because reason: String) throws {
        try locked { _ = try damaged(reason) }
    }

    // MARK: Reading documents

    /// A document from the current snapshot, authenticated.
    fileprivate func document(_ id: DocumentID, epoch: Int) -> VaultState.Document? {
        lock.lock()
        defer { lock.unlock() }
        guard epoch == snapshotEpoch else {
            problem = problem ?? "a document was read through a state older than the store's snapshot"
            return nil
        }
        if let cached = recentlyRead[id] { return cached }
        do {
            guard let row = try database.query("SELECT record, mac FROM documents WHERE id = ?", [.blob(id.bytes)]).first else { return nil }
            recordsRead += 1
            switch authenticated(id: id, record: row[0].blob, mac: row[1].blob) {
            case .success(let document):
                keep(document)
                return document
            case .failure(let damage):
                problem = problem ?? damage.reason
                return nil
            }
        } catch {
            problem = problem ?? "its records cannot be read (\(error))"
            return nil
        }
    }

    /// Up to `limit` documents from `from` on, in id order, authenticated.
    fileprivate func documents(from: [UInt8], limit: Int, epoch: Int) -> [VaultState.Document] {
        page("SELECT id, record, mac FROM documents WHERE id >= ? ORDER BY id LIMIT ?", [.blob(from), .integer(Int64(limit))], epoch: epoch)
    }

    /// Up to `limit` documents after `position`, in seal order (the `sealed`
    /// column, then id), authenticated. The column orders the listing only:
    /// a value changed on disk moves a document, never hides or repeats one.
    fileprivate func documents(sealedAfter position: VaultState.SealPosition?, limit: Int, epoch: Int) -> [VaultState.Document] {
        page(
            "SELECT id, record, mac FROM documents WHERE (sealed, id) > (?, ?) ORDER BY sealed, id LIMIT ?",
            [.integer(position?.sequence ?? Int64.min), .blob(position?.id.bytes ?? []), .integer(Int64(limit))], epoch: epoch)
    }

    /// Up to `limit` documents wrapped for `role` according to the role
    /// index, with ids after `after`, in id order, authenticated (candidates:
    /// the index is a hint, the caller checks each document's wraps). They
    /// are kept as recently read, since the caller changes them next.
    fileprivate func documents(heldBy role: RoleID, after: DocumentID?, limit: Int, epoch: Int) -> [VaultState.Document] {
        page(
            """
            SELECT documents.id, documents.record, documents.mac FROM holders JOIN documents ON documents.id = holders.id
            WHERE holders.role = ? AND holders.id > ? ORDER BY holders.id LIMIT ?
            """,
            [.blob(role.bytes), .blob(after?.bytes ?? []), .integer(Int64(limit))], epoch: epoch, keepingRead: true)
    }

    /// The documents a `SELECT id, record, mac` query returns, authenticated
    /// on every core; with `keepingRead`, kept in ``recentlyRead`` too.
    private func page(_ query: String, _ parameters: [SQLValue], epoch: Int, keepingRead: Bool = false) -> [VaultState.Document] {
        lock.lock()
        defer { lock.unlock() }
        guard epoch == snapshotEpoch else {
            problem = problem ?? "documents were listed through a state older than the store's snapshot"
            return []
        }
        do {
            var rows: [(id: DocumentID, record: [UInt8]?, mac: [UInt8]?)] = []
            try database.forEachRow(query, parameters) { row in
                guard let raw = row[0].blob, let id = try? DocumentID(bytes: raw) else {
                    problem = problem ?? "a record has a malformed id"
                    return
                }
                rows.append((id, row[1].blob, row[2].blob))
            }
            recordsRead += rows.count
            let checked = try ParallelMap.run(rows) { row in self.authenticated(id: row.id, record: row.record, mac: row.mac) }
            var page: [VaultState.Document] = []
            for result in checked {
                switch result {
                case .success(let document):
                    page.append(document)
                    if keepingRead { keep(document) }
                case .failure(let damage): problem = problem ?? damage.reason
                }
            }
            return page
        } catch {
            problem = problem ?? "its records cannot be read (\(error))"
            return []
        }
    }

    /// Keeps `document` in ``recentlyRead``, emptied first when full.
    private func keep(_ document: VaultState.Document) {
        if recentlyRead.count >= Self.recentlyReadLimit { recentlyRead.removeAll(keepingCapacity: true) }
        recentlyRead[document.id] = document
    }

    /// Why a record was refused.
    private struct Damage: Error {
        let reason: String
    }

    /// The record's document, if its MAC verifies and it parses to the same
    /// id; else the damage, which the caller records. Safe on any thread.
    private func authenticated(id: DocumentID, record: [UInt8]?, mac: [UInt8]?) -> Result<VaultState.Document, Damage> {
        guard let record, let mac, Sodium.constantTimeEqual(recordMAC(id: id, record: record), mac) else {
            return .failure(Damage(reason: "the record of document \(id) does not authenticate"))
        }
        var reader = ByteReader(record, what: "vault state")
        guard let document = try? StateCodec.decodeDocument(&reader), document.id == id else {
            return .failure(Damage(reason: "the record of document \(id) does not parse"))
        }
        return .success(document)
    }

    // MARK: Helpers

    private var snapshotEpoch = 0
    /// Documents read from the current snapshot, so that the several reads
    /// of one document while an entry is applied cost one query, and a
    /// batch a command reads before it commits (a rotation's 5,000
    /// documents) is not read again when its entry is applied.
    private var recentlyRead: [DocumentID: VaultState.Document] = [:]
    /// How many documents ``recentlyRead`` holds before it is emptied: more
    /// than a batch. Documents a state changes stay in memory anyway (as
    /// ``DocumentTable``'s originals), so the cache costs little beyond them.
    private static let recentlyReadLimit = 8_192

    private func renewSnapshot() throws {
        try endSnapshot()
        try database.execute("BEGIN DEFERRED")
        _ = try database.query("SELECT 1 FROM meta LIMIT 1")  // the snapshot starts with the first read
        snapshotOpen = true
        snapshotEpoch += 1
        recentlyRead.removeAll()
    }

    private func endSnapshot() throws {
        guard snapshotOpen else { return }
        snapshotOpen = false
        try database.execute("COMMIT")
    }

    /// Records `reason`, empties the store (the next command rebuilds it), and throws.
    private func damaged(_ reason: String) throws -> VaultState? {
        problem = nil
        try? endSnapshot()
        try? database.transaction { try database.execute("DELETE FROM meta; DELETE FROM documents") }
        throw VaultError.integrity(Self.message(path: path, reason))
    }

    private static func message(path: String, _ reason: String) -> String {
        "the saved state \(path) is damaged: \(reason); it was discarded and the next command rebuilds it from the ledger"
    }

    private func locked<R>(_ body: () throws -> R) throws -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    private func recordMAC(id: DocumentID, record: [UInt8]) -> [UInt8] {
        let hasher = Blake2b(outputByteCount: 32, key: key)
        hasher.update(Array("coffer-state-record\n".utf8) + vaultID.bytes + id.bytes)
        hasher.update(record)
        return hasher.finalize()
    }

    private func coreMAC(core: [UInt8], count: [UInt8]) -> [UInt8] {
        let hasher = Blake2b(outputByteCount: 32, key: key)
        hasher.update(Array("coffer-state-core\n".utf8) + vaultID.bytes + count)
        hasher.update(core)
        return hasher.finalize()
    }

    private static func bigEndian(_ value: UInt64) -> [UInt8] {
        (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) }
    }

    /// The documents of one snapshot, as a ``DocumentTable`` reads them.
    private final class Snapshot: DocumentSource, @unchecked Sendable {
        let store: StateStore
        let epoch: Int
        let documentCount: Int
        /// The entry count of the state saved in this snapshot.
        let entryCount: Int64

        init(store: StateStore, epoch: Int, count: Int, entryCount: Int64) {
            self.store = store
            self.epoch = epoch
            documentCount = count
            self.entryCount = entryCount
        }

        func isCurrent(in store: StateStore) -> Bool { store === self.store && epoch == store.snapshotEpoch }

        func document(_ id: DocumentID) -> VaultState.Document? { store.document(id, epoch: epoch) }

        func documents(from: [UInt8], limit: Int) -> [VaultState.Document] { store.documents(from: from, limit: limit, epoch: epoch) }

        func documents(sealedAfter position: VaultState.SealPosition?, limit: Int) -> [VaultState.Document] {
            store.documents(sealedAfter: position, limit: limit, epoch: epoch)
        }

        func documents(heldBy role: RoleID, after: DocumentID?, limit: Int) -> [VaultState.Document] {
            store.documents(heldBy: role, after: after, limit: limit, epoch: epoch)
        }
    }
}

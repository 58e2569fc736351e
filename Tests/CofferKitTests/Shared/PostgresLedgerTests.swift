import CofferTestSupport
import Foundation
import Testing

@testable import CofferKit

/// Issue 13, first part: a vault's ledger in a real PostgreSQL 15 server
/// (started by `scripts/servers`, which `scripts/test` runs), appended with
/// compare-and-append on the one-row head. Real signed entries, replayed
/// by the same verifier as a local vault's; eight writers at once; a
/// database operator's edits; a client killed in the middle of an append.
@Suite("PostgreSQL ledger")
struct PostgresLedgerTests {
    /// The test server's connection URI, from `scripts/servers` through the environment.
    static func server() throws -> String {
        guard let uri = ProcessInfo.processInfo.environment["COFFER_TEST_POSTGRES"], !uri.isEmpty else {
            throw HarnessFailure("COFFER_TEST_POSTGRES is not set: run the tests through scripts/test, which starts PostgreSQL (scripts/servers)")
        }
        return uri
    }

    /// A value shared by the writer threads.
    final class Locked<Value>: @unchecked Sendable {
        private var value: Value
        private let lock = NSLock()
        init(_ value: Value) { self.value = value }
        func withLock<R>(_ body: (inout Value) -> R) -> R {
            lock.lock()
            defer { lock.unlock() }
            return body(&value)
        }
    }

    struct HarnessFailure: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    let fixture: VaultFixture
    let schema = "t" + Hex.encode(Sodium.randomBytes(8))

    init() throws {
        fixture = try VaultFixture()
    }

    /// A new connection and the ledger in this test's own schema.
    func ledger() throws -> PostgresLedger {
        try Self.ledger(in: schema)
    }

    /// A new connection and the ledger in `schema`.
    static func ledger(in schema: String) throws -> PostgresLedger {
        try PostgresLedger(connection: try PostgresConnection(try server()), schema: schema)
    }

    /// The local vault's entries, after some real activity.
    func localEntries() throws -> [LedgerEntry] {
        try fixture.seal("plan.txt", Array("the plan".utf8), label: "confidential")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(Identity.generate(name: "bob").publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["plan.txt"], withRole: "eng")
        return try Catalog.open(at: Vault.catalogPath(fixture.path)).ledgerEntries()
    }

    /// A ledger in PostgreSQL holding the local vault's entries.
    func copiedLedger() throws -> (PostgresLedger, [LedgerEntry]) {
        let entries = try localEntries()
        let shared = try ledger()
        try shared.create(vault: try fixture.open().state.vaultID)
        try shared.append(entries, after: (0, LedgerEntry.genesis))
        return (shared, entries)
    }

    /// Every entry of `shared`, read back.
    static func entries(of shared: PostgresLedger) throws -> [LedgerEntry] {
        var entries: [LedgerEntry] = []
        try shared.forEachLedgerEntry { entries.append($0) }
        return entries
    }

    /// A signed `vault.check` entry by the owner on top of `head`.
    func checkEntry(after head: (count: Int64, hash: [UInt8]), vault: VaultID, part: Int = 1) throws -> LedgerEntry {
        try Self.checkEntry(after: head, vault: vault, actor: fixture.owner, part: part)
    }

    /// A signed `vault.check` entry by `actor` on top of `head`, of part `part` of 2.
    static func checkEntry(after head: (count: Int64, hash: [UInt8]), vault: VaultID, actor: Identity, part: Int = 1) throws -> LedgerEntry {
        try LedgerEntry.make(
            event: .vaultChecked(VaultChecked(part: part, parts: 2, objects: 0, bytes: 0, findings: 0)),
            vault: vault, sequence: head.count, previous: head.hash, time: Date(), actor: actor)
    }

    @Test("a vault's ledger stored in PostgreSQL reads back byte for byte and replays through the verifier to the same state")
    func roundTrip() throws {
        let (shared, entries) = try copiedLedger()
        let read = try Self.entries(of: shared)
        #expect(read.map(\.body) == entries.map(\.body) && read.map(\.signature) == entries.map(\.signature) && read.map(\.hash) == entries.map(\.hash))
        var verifier = LedgerVerifier(vaultID: try fixture.open().state.vaultID)
        for entry in read { try verifier.append(entry) }
        let local = try fixture.open().state
        #expect(verifier.state.entryCount == local.entryCount && verifier.state.head == local.head)
        #expect(try shared.head() == (Int64(entries.count), entries.last!.hash))
        #expect(try shared.meta("vault_id") == local.vaultID.description)
    }

    @Test("eight writers append on one head at once: each append lands once, the chain stays linear, and it replays")
    func concurrentWriters() throws {
        let (shared, entries) = try copiedLedger()
        let vault = try fixture.open().state.vaultID
        let writers = 8, appends = 12
        let conflicts = Locked(0)
        let failures = Locked<[String]>([])
        let (schema, owner) = (self.schema, fixture.owner)
        DispatchQueue.concurrentPerform(iterations: writers) { _ in
            do {
                let mine = try Self.ledger(in: schema)
                for _ in 0..<appends {
                    while true {
                        let head = try mine.head()
                        do {
                            try mine.append([try Self.checkEntry(after: head, vault: vault, actor: owner)], after: head)
                            break
                        } catch is LedgerConflict {
                            conflicts.withLock { $0 += 1 }
                        }
                    }
                }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        let read = try Self.entries(of: shared)
        #expect(read.count == entries.count + writers * appends)
        var verifier = LedgerVerifier(vaultID: vault)
        for entry in read { try verifier.append(entry) }
        #expect(try shared.head() == (verifier.state.entryCount, verifier.state.head))
    }

    @Test("a database operator's edits: a changed body, a removed row and a planted row are refused on reading; a moved head blocks appends and never forks")
    func hostileOperator() throws {
        let (shared, entries) = try copiedLedger()
        let admin = try PostgresConnection(try Self.server())
        let table = "\"\(schema)\".ledger"
        let vault = try fixture.open().state.vaultID

        try admin.query("UPDATE \(table) SET body = overlay(body placing 'X'::bytea from 40 for 1) WHERE seq = 3")
        #expect(throws: LedgerError.self) { try Self.entries(of: shared) }
        try admin.query("UPDATE \(table) SET body = $1 WHERE seq = 3", [.blob(entries[3].body)])
        #expect(try Self.entries(of: shared).count == entries.count)

        // A row removed from the middle.
        try admin.query("DELETE FROM \(table) WHERE seq = 5")
        #expect(throws: LedgerError.self) { try Self.entries(of: shared) }
        try admin.query("INSERT INTO \(table) (seq, hash, body, signature) VALUES (5, $1, $2, $3)", [.blob(entries[5].hash), .blob(entries[5].body), .blob(entries[5].signature)])

        // A head moved by the operator: every append is refused, nothing is written.
        let head = try shared.head()
        try admin.query("UPDATE \"\(schema)\".head SET hash = $1", [.blob([UInt8](repeating: 7, count: 32))])
        #expect(throws: LedgerConflict.self) { try shared.append([try checkEntry(after: head, vault: vault)], after: head) }
        #expect(try Self.entries(of: shared).count == entries.count)
        try admin.query("UPDATE \"\(schema)\".head SET hash = $1", [.blob(head.hash)])

        // A row planted past the head (bypassing it): the next append hits the key and writes nothing; reading refuses the plant.
        try admin.query("INSERT INTO \(table) (seq, hash, body, signature) VALUES ($1, $2, $3, $4)", [.integer(head.count), .blob([UInt8](repeating: 1, count: 32)), .blob(Array("{}".utf8)), .blob([])])
        #expect(throws: PostgresError.self) { try shared.append([try checkEntry(after: head, vault: vault)], after: head) }
        #expect(try shared.head() == head)
        #expect(throws: LedgerError.self) { try Self.entries(of: shared) }
    }

    @Test("a client killed (SIGKILL) in the middle of an append leaves the ledger and head as they were, and the lock is released")
    func killedClient() throws {
        let (shared, entries) = try copiedLedger()
        let vault = try fixture.open().state.vaultID
        let head = try shared.head()
        let entry = try checkEntry(after: head, vault: vault, part: 2)
        // psql takes the head, inserts the row and moves the head, then waits
        // for more input inside the transaction; it is killed before COMMIT.
        let hex = { (bytes: [UInt8]) in "'\\x\(Hex.encode(bytes))'::bytea" }
        let script = """
            BEGIN;
            SELECT count FROM "\(schema)".head FOR UPDATE;
            INSERT INTO "\(schema)".ledger (seq, hash, body, signature) VALUES (\(entry.sequence), \(hex(entry.hash)), \(hex(entry.body)), \(hex(entry.signature)));
            UPDATE "\(schema)".head SET count = \(entry.sequence + 1), hash = \(hex(entry.hash));

            """
        let input = Pipe()
        let psql = ChildProcess()
        psql.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        psql.arguments = ["-X", "-q", "-v", "ON_ERROR_STOP=1", try Self.server()]
        psql.standardInput = input
        psql.standardOutput = FileHandle.nullDevice
        psql.standardError = FileHandle.nullDevice
        try psql.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        defer { try? input.fileHandleForWriting.close() }
        // Wait until its transaction holds the head (another session sees the lock).
        let observer = try PostgresConnection(try Self.server())
        var held = false
        for _ in 0..<200 where !held {
            held = (try observer.query(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON l.relation = c.oid JOIN pg_namespace n ON c.relnamespace = n.oid WHERE n.nspname = $1 AND c.relname = 'head' AND l.mode = 'RowExclusiveLock' AND l.granted",
                [.text(schema)]).first?.first?.integer ?? 0) > 0
            if !held { usleep(20_000) }
        }
        #expect(held, "psql never took the head")
        kill(psql.processIdentifier, SIGKILL)
        psql.waitUntilExit()
        // The server rolls the dead session back; the head is free again at once.
        try shared.append([try checkEntry(after: head, vault: vault)], after: head)
        let read = try Self.entries(of: shared)
        #expect(read.count == entries.count + 1 && read.last?.hash != entry.hash)
    }
}

import Foundation
import Testing

@testable import CofferKit

/// The catalog file is data, never code: an insider who plants a trigger,
/// a view, an index or a changed table definition is refused by every
/// command and named by `verify`, and no planted trigger ever runs.
@Suite("Catalog hardening")
struct CatalogHardeningTests {
    let fixture: VaultFixture

    init() throws {
        fixture = try VaultFixture()
        try fixture.seal("plan.txt", Array("plan".utf8))
    }

    /// Schema objects an insider might plant, and what each tries.
    static let planted: [(label: String, sql: String)] = [
        ("a trigger that drops every ledger append", "CREATE TRIGGER silence BEFORE INSERT ON ledger BEGIN SELECT RAISE(IGNORE); END"),
        ("a trigger that drops only document opens",
         "CREATE TRIGGER quiet BEFORE INSERT ON ledger WHEN instr(CAST(new.body AS TEXT), 'document.open') > 0 BEGIN SELECT RAISE(IGNORE); END"),
        ("a view", "CREATE VIEW everything AS SELECT * FROM ledger"),
        ("an extra index", "CREATE INDEX by_hash ON ledger(hash)"),
        ("an extra table", "CREATE TABLE notes(x)"),
    ]

    @Test("a planted schema object stops every command and is a verify finding", arguments: planted.indices)
    func plantedObject(_ index: Int) throws {
        let (label, sql) = Self.planted[index]
        try fixture.database().execute(sql)
        expectFailure(.integrity, Comment(rawValue: label)) { _ = try fixture.open() }
        let report = try fixture.verify()
        #expect(report.findings.contains { $0.check == "catalog" && $0.subject == "schema" }, "\(label): \(report.findings)")
    }

    @Test("a changed table definition is a finding")
    func changedDefinition() throws {
        let database = try fixture.database()
        try database.execute("CREATE TABLE meta2 AS SELECT * FROM meta; DROP TABLE meta; ALTER TABLE meta2 RENAME TO meta")
        expectFailure(.integrity) { _ = try fixture.open() }
        let findings = try fixture.verify().findings.filter { $0.subject == "schema" }.map(\.message)
        #expect(findings.contains { $0.contains("\"meta\" has a changed definition") }, "\(findings)")
    }

    @Test("a trigger never runs, even on a connection that skips the schema check")
    func triggersNeverRun() throws {
        let database = try fixture.database()
        try database.execute("CREATE TABLE fired(x); CREATE TRIGGER t AFTER INSERT ON meta BEGIN INSERT INTO fired VALUES (1); END")
        try database.run("INSERT INTO meta(key, value) VALUES ('k', 'v')")
        #expect(try database.query("SELECT count(*) FROM fired").first?.first?.integer == 0)
    }

    @Test("a write that changes another number of rows than it must is refused")
    func rowCounts() throws {
        let database = try fixture.database()
        expectFailure(.integrity) {
            try database.run("INSERT OR IGNORE INTO meta(key, value) VALUES ('vault_id', 'x')", changing: 1)
        }
    }

    @Test("an intact catalog has no deviations, and a fresh one matches its own schema")
    func intact() throws {
        #expect(try Catalog.open(at: Vault.catalogPath(fixture.path)).schemaDeviations().isEmpty)
        #expect(try fixture.verify().isClean)
    }

    @Test("the catalog and its companions are never opened through a link or a FIFO", arguments: ["", "-wal", "-shm"])
    func noLinks(_ suffix: String) throws {
        let victim = try fixture.scratch.write("victim", Array("victim".utf8))
        let file = Vault.catalogPath(fixture.path) + suffix
        let moved = fixture.scratch.join("moved")
        if suffix.isEmpty { try FileManager.default.moveItem(atPath: file, toPath: moved) } else { try? FileManager.default.removeItem(atPath: file) }
        try FileManager.default.createSymbolicLink(atPath: file, withDestinationPath: suffix.isEmpty ? moved : victim)
        expectFailure(.integrity) { _ = try Catalog.open(at: Vault.catalogPath(fixture.path)) }
        expectFailure(.integrity) { _ = try fixture.open() }
        #expect(try Data(contentsOf: URL(fileURLWithPath: victim)) == Data("victim".utf8))
        try FileManager.default.removeItem(atPath: file)
        #expect(mkfifo(file, 0o600) == 0)
        expectFailure(.integrity) { _ = try Catalog.open(at: Vault.catalogPath(fixture.path)) }
    }
}

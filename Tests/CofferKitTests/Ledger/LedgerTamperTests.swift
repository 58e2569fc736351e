import Foundation
import Testing

@testable import CofferKit

/// Raw SQL edits to the ledger table, as an attacker with write access to the
/// vault directory could make. Each is caught by opening the vault and by
/// `verify`, which names the first bad entry.
@Suite("Ledger tampering")
struct LedgerTamperTests {
    /// A vault with a few entries: create, seal, seal, open.
    static func vault() throws -> VaultFixture {
        let fixture = try VaultFixture()
        try fixture.seal("one", [1])
        try fixture.seal("two", [2])
        _ = try fixture.read("one")
        return fixture
    }

    static func row(_ fixture: VaultFixture, _ seq: Int64) throws -> (body: [UInt8], signature: [UInt8]) {
        let row = try fixture.database().query("SELECT body, signature FROM ledger WHERE seq = ?", [.integer(seq)])[0]
        return (row[0].blob!, row[1].blob!)
    }

    /// Expects verify (from scratch, as a fresh reader) to name `entry` and
    /// opening the vault to fail with an integrity error.
    static func expectCaught(_ fixture: VaultFixture, entry: Int64, _ comment: Comment) throws {
        let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false)
        let ledger = report.findings("ledger")
        #expect(ledger.count == 1, "\(comment): \(report.findings)")
        #expect(ledger.first?.subject == "entry \(entry)", "\(comment): \(ledger)")
        // A fresh reader (nothing remembered) and the owner (remembered head) both refuse. The
        // owner's saved state ends after the edited entry, so its commands replay only later
        // entries (docs/THREAT-MODEL.md): without the saved state, it replays everything.
        expectFailure(.integrity, comment) { _ = try Vault.open(at: fixture.path, identity: fixture.owner, stateDirectory: .withoutRollbackDetection) }
        let owned = fixture.stateDirectory + "/" + fixture.owner.fingerprint
        for file in try FileManager.default.contentsOfDirectory(atPath: owned) where file.contains(".sqlite") {
            try FileManager.default.removeItem(atPath: owned + "/" + file)
        }
        expectFailure(.integrity, comment) { _ = try fixture.open() }
    }

    @Test("the untouched ledger verifies")
    func clean() throws {
        let fixture = try Self.vault()
        let report = try fixture.verify()
        #expect(report.isClean)
        #expect(report.counts.ledgerEntries == (try fixture.open().state.entryCount))
    }

    @Test("editing any entry's body is caught at that entry")
    func edit() throws {
        let fixture = try Self.vault()
        let count = try fixture.open().state.entryCount
        for seq in 0..<count {
            let original = try Self.row(fixture, seq)
            // Change one character inside the JSON: the time field's last digit.
            var body = original.body
            let text = String(decoding: body, as: UTF8.self)
            let range = text.range(of: "Z\"")!
            let index = text.utf8.distance(from: text.startIndex, to: range.lowerBound) - 1
            body[index] = body[index] == UInt8(ascii: "1") ? UInt8(ascii: "2") : UInt8(ascii: "1")
            // A careful attacker also recomputes the stored hash column.
            try fixture.database().run(
                "UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
                [.blob(body), .blob(LedgerEntry.hash(body: body, signature: original.signature)), .integer(seq)])
            let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false)
            #expect(report.findings("ledger").first?.subject == "entry \(seq)", "seq \(seq): \(report.findings)")
            #expect(report.findings("ledger").first?.message.contains("signature") == true, "seq \(seq)")
            expectFailure(.integrity, "seq \(seq)") { _ = try Vault.open(at: fixture.path, identity: fixture.owner, stateDirectory: .withoutRollbackDetection) }
            try fixture.database().run(
                "UPDATE ledger SET body = ?, hash = ? WHERE seq = ?",
                [.blob(original.body), .blob(LedgerEntry.hash(body: original.body, signature: original.signature)), .integer(seq)])
        }
        #expect(try fixture.verify().isClean)
    }

    /// A vault of 300 documents sealed as one folder: a ledger long enough
    /// that entries from 128 on are sure to have their signatures checked
    /// ahead, on reader threads (4 batches of at most 32 are read ahead).
    static func longVault() throws -> VaultFixture {
        let fixture = try VaultFixture()
        for n in 0..<300 { _ = try fixture.scratch.write("folder/d\(n)", Array("\(n)".utf8)) }
        _ = try fixture.open().seal(paths: [fixture.scratch.join("folder")])
        return fixture
    }

    @Test("a flipped signature bit is caught at that entry, early or deep in a long ledger", arguments: [Int64(2), 290])
    func signature(entry: Int64) throws {
        let fixture = entry < 4 ? try Self.vault() : try Self.longVault()
        var signature = try Self.row(fixture, entry).signature
        signature[10] ^= 4
        let body = try Self.row(fixture, entry).body
        try fixture.database().run(
            "UPDATE ledger SET signature = ?, hash = ? WHERE seq = ?",
            [.blob(signature), .blob(LedgerEntry.hash(body: body, signature: signature)), .integer(entry)])
        try Self.expectCaught(fixture, entry: entry, "flipped signature")
        #expect(try Audit.verify(vaultAt: fixture.path).failure?.sequence == entry)
    }

    @Test("a signature checked ahead counts only under the key the actor has at that entry")
    func checkedAhead() throws {
        let fixture = try Self.vault()
        let entries = try fixture.open().catalog.ledgerEntries()
        let outsider = Identity.generate(name: "outsider").publicIdentity.signingKey
        var verifier = LedgerVerifier(vaultID: entries[0].contents.vault)
        // Nothing verified yet: no key to check ahead with.
        #expect(verifier.signingKeys.checkAhead(entries[1]) == nil)
        try verifier.append(entries[0])
        // A forged signature that a check under another key called valid is still refused.
        var flipped = entries[1].signature
        flipped[0] ^= 1
        var forged = try LedgerEntry(sequence: 1, body: entries[1].body, signature: flipped)
        forged.signatureCheckedAhead = SignatureCheck(key: outsider, isValid: true)
        var copy = verifier
        #expect(throws: LedgerError.badSignature(sequence: 1)) { try copy.append(forged) }
        // A genuine entry whose check ahead was made under another key is checked again, and accepted.
        var genuine = entries[1]
        genuine.signatureCheckedAhead = SignatureCheck(key: outsider, isValid: false)
        try verifier.append(genuine)
        // Keys are learned from verified entries only; with one, a reader thread checks ahead.
        #expect(verifier.signingKeys.checkAhead(entries[2])?.isValid == true)
        #expect(verifier.signingKeys.checkAhead(forged)?.isValid == false)
    }

    @Test("deleting an entry is caught at the gap")
    func delete() throws {
        let fixture = try Self.vault()
        try fixture.database().run("DELETE FROM ledger WHERE seq = 3")
        try Self.expectCaught(fixture, entry: 4, "deleted entry 3")
    }

    @Test("deleting the newest entries is caught by the remembered head")
    func truncateTail() throws {
        let fixture = try Self.vault()
        let count = try fixture.open().state.entryCount
        try fixture.database().run("DELETE FROM ledger WHERE seq = ?", [.integer(count - 1)])
        // A fresh reader cannot know; the owner, who saw the newer head, does.
        expectFailure(.integrity) { _ = try fixture.open() }
        #expect(try !fixture.verify().findings("ledger").isEmpty)
    }

    @Test("reordering two entries is caught")
    func reorder() throws {
        let fixture = try Self.vault()
        let db = try fixture.database()
        try db.transaction {
            try db.run("UPDATE ledger SET seq = -1 WHERE seq = 2")
            try db.run("UPDATE ledger SET seq = 2 WHERE seq = 3")
            try db.run("UPDATE ledger SET seq = 3 WHERE seq = -1")
        }
        try Self.expectCaught(fixture, entry: 2, "entries 2 and 3 swapped")
    }

    @Test("inserting a copy of an entry is caught")
    func insertCopy() throws {
        let fixture = try Self.vault()
        let db = try fixture.database()
        let count = try fixture.open().state.entryCount
        let row = try Self.row(fixture, 2)
        try db.run(
            "INSERT INTO ledger(seq, hash, body, signature) VALUES (?, ?, ?, ?)",
            [.integer(count), .blob(LedgerEntry.hash(body: row.body, signature: row.signature)), .blob(row.body), .blob(row.signature)])
        try Self.expectCaught(fixture, entry: count, "entry 2 replayed at the end")
    }

    @Test("a well-formed entry signed by an outsider is refused as unauthorised")
    func outsiderEntry() throws {
        let fixture = try Self.vault()
        let vault = try fixture.open()
        let mallory = Identity.generate(name: "mallory")
        let entry = try LedgerEntry.make(
            event: .adminAdded(MemberChange(member: mallory.fingerprint)),
            vault: vault.state.vaultID, sequence: vault.state.entryCount, previous: vault.state.head, time: Date(), actor: mallory)
        try fixture.database().run(
            "INSERT INTO ledger(seq, hash, body, signature) VALUES (?, ?, ?, ?)",
            [.integer(entry.sequence), .blob(entry.hash), .blob(entry.body), .blob(entry.signature)])
        try Self.expectCaught(fixture, entry: entry.sequence, "outsider's entry")
        let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false)
        #expect(report.findings("ledger").first?.message.contains("not authorised") == true, "\(report.findings)")
    }

    @Test("an entry row parser refuses truncated, flipped and oversized bodies with typed errors")
    func entryParser() throws {
        let fixture = try Self.vault()
        let row = try Self.row(fixture, 1)
        _ = try LedgerEntry(sequence: 1, body: row.body, signature: row.signature)
        for (label, body) in Damage.truncations(of: row.body) {
            #expect(throws: LedgerError.self, "\(label)") { try LedgerEntry(sequence: 1, body: body, signature: row.signature) }
        }
        for (label, body) in Damage.bitFlips(of: row.body) {
            // Either the JSON no longer parses, or it parses and the signature check (below) fails.
            if let entry = try? LedgerEntry(sequence: 1, body: body, signature: row.signature) {
                let message = LedgerEntry.signedMessage(vault: entry.contents.vault, body: entry.body)
                #expect(!Ed25519.isValid(signature: row.signature, message: message, publicKey: fixture.owner.publicIdentity.signingKey), "\(label)")
            }
        }
        for (label, signature) in Damage.truncations(of: row.signature) + [("65 bytes", row.signature + [0])] {
            #expect(throws: LedgerError.self, "\(label)") { try LedgerEntry(sequence: 1, body: row.body, signature: signature) }
        }
        #expect(throws: LedgerError.self) { try LedgerEntry(sequence: 2, body: row.body, signature: row.signature) }
    }
}

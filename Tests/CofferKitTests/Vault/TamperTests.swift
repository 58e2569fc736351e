import Foundation
import Testing

@testable import CofferKit

/// An attacker with write access to the vault directory changes objects,
/// catalog rows and the ledger. Every change is detected by `verify` and by
/// the command that meets it; none yields wrong plaintext or damages what is stored.
@Suite("Tampering with stored data")
struct TamperTests {
    /// A vault with two documents of two segments each.
    static func twoDocuments() throws -> (VaultFixture, SealedDocument, SealedDocument) {
        let fixture = try VaultFixture()
        let a = try fixture.seal("a.bin", patternBytes((4 << 20) + 100, seed: 1))
        let b = try fixture.seal("b.bin", patternBytes((4 << 20) + 200, seed: 2))
        return (fixture, a, b)
    }

    /// Opens `document` to a file, expecting an integrity failure and no file left behind.
    static func expectOpenFails(_ fixture: VaultFixture, _ document: SealedDocument, _ comment: Comment) {
        let output = fixture.scratch.join("must-not-exist")
        expectFailure(.integrity, comment) { try fixture.open().open(document.id.description, to: .file(path: output, overwrite: false)) }
        #expect(!FileManager.default.fileExists(atPath: output), "\(comment): output left behind")
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: fixture.scratch.path)) ?? []
        #expect(!leftovers.contains { $0.contains("must-not-exist") }, "\(comment): temporary file left behind")
    }

    @Test("a whole fan-out directory, or the whole store, gone: verify names every referenced object in it as missing")
    func missingFanOutAndStore() throws {
        let (fixture, a, b) = try Self.twoDocuments()
        let target = try fixture.objects(of: a.id).segments[0]
        let fanOut = FileSystem.directoryName(of: fixture.objectPath(target))
        let expected = try ([a.id, b.id].flatMap { id -> [ObjectID] in
            let objects = try fixture.objects(of: id)
            return [objects.manifest] + objects.segments
        }).filter { $0.description.prefix(2) == target.description.prefix(2) }
        try FileManager.default.removeItem(atPath: fanOut)
        var report = try fixture.verify()
        #expect(Set(report.findings("object").map(\.subject)) == Set(expected.map(\.description)), "\(report.findings)")
        #expect(report.findings("object").allSatisfy { $0.message.contains("is missing") })
        try FileManager.default.removeItem(atPath: Vault.objectsPath(fixture.path))
        report = try fixture.verify()
        #expect(report.findings("object").count == 6 && report.counts.objectsReferenced == 6 && report.counts.objectsHashed == 0, "\(report.findings)")
    }

    @Test("a truncated, bit-flipped, oversized or missing segment or manifest fails verify and open", arguments: ["manifest", "segment"])
    func damagedObjects(kind: String) throws {
        let (fixture, a, b) = try Self.twoDocuments()
        let objects = try fixture.objects(of: a.id)
        let target = kind == "manifest" ? objects.manifest : objects.segments[1]
        let original = try fixture.objectBytes(target)
        let damages: [(String, [UInt8]?)] = [
            ("truncated by one byte", Array(original.dropLast())),
            ("truncated to half", Array(original.prefix(original.count / 2))),
            ("emptied", []),
            ("first byte flipped", [original[0] ^ 0x01] + original.dropFirst()),
            ("middle byte flipped", { var c = original; c[c.count / 2] ^= 0x80; return c }()),
            ("last byte flipped", Array(original.dropLast()) + [original.last! ^ 0x40]),
            ("extended", original + [0]),
            ("deleted", nil),
        ]
        for (label, bytes) in damages {
            if let bytes {
                try fixture.replaceObject(target, with: bytes)
            } else {
                try FileManager.default.removeItem(atPath: fixture.objectPath(target))
            }
            let report = try fixture.verify()
            #expect(report.findings("object").contains { $0.subject == target.description }, "\(kind) \(label): \(report.findings)")
            Self.expectOpenFails(fixture, a, "\(kind) \(label)")
            // The other document is untouched and still opens.
            #expect(try fixture.read(b.id.description) == patternBytes((4 << 20) + 200, seed: 2), "\(kind) \(label)")
            try fixture.replaceObject(target, with: original)
        }
        #expect(try fixture.verify(deep: true).isClean)
        #expect(try fixture.read(a.id.description) == patternBytes((4 << 20) + 100, seed: 1))
    }

    @Test("streaming to standard output releases only authenticated frames")
    func standardOutputStopsAtDamage() throws {
        let (fixture, a, _) = try Self.twoDocuments()
        let objects = try fixture.objects(of: a.id)
        var damaged = try fixture.objectBytes(objects.segments[1])
        damaged[damaged.count - 5] ^= 1
        try fixture.replaceObject(objects.segments[1], with: damaged)
        // Redirect standard output to a file for the duration of the call.
        let capture = fixture.scratch.join("stdout")
        let fd = open(capture, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let saved = dup(STDOUT_FILENO)
        dup2(fd, STDOUT_FILENO)
        expectFailure(.integrity) { try fixture.open().open(a.id.description, to: .standardOutput) }
        dup2(saved, STDOUT_FILENO)
        close(saved)
        close(fd)
        let written = [UInt8](try Data(contentsOf: URL(fileURLWithPath: capture)))
        // Exactly the first (authentic) segment was released.
        #expect(written == Array(patternBytes((4 << 20) + 100, seed: 1).prefix(4 << 20)))
    }

    @Test("a wrapped key does not open in another document's place, nor under another generation, label or vault")
    func wrapCopiedToAnotherDocument() throws {
        let (fixture, a, b) = try Self.twoDocuments()
        // The wrap's associated data binds it to its document: b's wrap does
        // not unwrap in a's place even with the right role key.
        let vault = try fixture.open()
        let docA = vault.state.documents[a.id]!, docB = vault.state.documents[b.id]!
        let role = docB.current.wraps.keys.first!
        let roleKey = try #require(try vault.roleKey(role, version: docB.current.wraps[role]!.roleVersion))
        let wrapB = docB.current.wraps[role]!.wrapped
        var context = vault.wrapContext(document: docB, version: docB.current, role: role)
        #expect(throws: (any Error).self) {
            context.documentID = docA.id
            _ = try DataKey.unwrap(wrapB, with: roleKey, context: context)
        }
        for change in ["generation", "label", "vault"] {
            var changed = vault.wrapContext(document: docB, version: docB.current, role: role)
            switch change {
            case "generation": changed.generation += 1
            case "label": changed.label = "public"
            default: changed.vaultID = VaultID.random()
            }
            #expect(throws: (any Error).self, "\(change)") { _ = try DataKey.unwrap(wrapB, with: roleKey, context: changed) }
        }
        _ = try DataKey.unwrap(wrapB, with: roleKey, context: vault.wrapContext(document: docB, version: docB.current, role: role))
    }

    @Test("an object swapped for another document's object fails verify and open")
    func objectSwapped() throws {
        let (fixture, a, b) = try Self.twoDocuments()
        let aSegment = try fixture.objects(of: a.id).segments[0]
        let bSegment = try fixture.objects(of: b.id).segments[0]
        try fixture.replaceObject(aSegment, with: try fixture.objectBytes(bSegment))
        #expect(try fixture.verify().findings("object").contains { $0.subject == aSegment.description })
        Self.expectOpenFails(fixture, a, "swapped segment")
    }

    @Test("a vault replaced by an older copy of itself is reported as a rollback")
    func rollback() throws {
        let fixture = try VaultFixture()
        try fixture.seal("first", [1])
        let copy = fixture.scratch.join("old-copy")
        try FileManager.default.copyItem(atPath: fixture.path, toPath: copy)
        try fixture.seal("second", [2])
        _ = try fixture.open()  // the owner has now seen the newer head
        try FileManager.default.removeItem(atPath: fixture.path)
        try FileManager.default.moveItem(atPath: copy, toPath: fixture.path)
        expectFailure(.integrity) { _ = try fixture.open() }
        let report = try fixture.verify()
        #expect(report.findings("ledger").contains { $0.message.contains("rolled back") || $0.message.contains("older") },
                "\(report.findings)")
    }

    @Test("another vault swapped in at a known path is reported, even one the attacker built for the victim")
    func swappedVault() throws {
        let fixture = try VaultFixture()
        try fixture.seal("first", [1])
        // An attacker's vault, in which the victim (the owner) is the creator
        // for simplicity; any vault with a different id will do.
        let other = fixture.scratch.join("other")
        _ = try Vault.create(at: other, creator: fixture.owner, stateDirectory: .withoutRollbackDetection)
        try FileManager.default.removeItem(atPath: fixture.path)
        try FileManager.default.moveItem(atPath: other, toPath: fixture.path)
        expectFailure(.integrity) { _ = try fixture.open() }
        do {
            _ = try fixture.open()
        } catch let error as VaultError {
            guard case .replaced = error else { Issue.record("expected replaced, got \(error)"); return }
        }
        // verify needs no key to see it.
        let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .directory(fixture.stateDirectory), deep: false)
        #expect(report.findings("vault").count == 1, "\(report.findings)")
    }

    @Test("a damaged remembered head is an error, not a reason to trust")
    func damagedHead() throws {
        let fixture = try VaultFixture()
        try fixture.seal("first", [1])
        let vault = try fixture.open()
        let headFile = fixture.stateDirectory + "/" + fixture.owner.fingerprint + "/" + vault.state.vaultID.description + ".head"
        #expect(FileManager.default.fileExists(atPath: headFile))
        try Data("garbage".utf8).write(to: URL(fileURLWithPath: headFile))
        expectFailure(.integrity) { _ = try fixture.open() }
        #expect(try !fixture.verify().findings.isEmpty)
    }

    @Test("a stored hash column that disagrees with its entry is caught")
    func hashColumn() throws {
        let fixture = try VaultFixture()
        try fixture.seal("first", [1])
        try fixture.database().run("UPDATE ledger SET hash = zeroblob(32) WHERE seq = 1")
        let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false)
        #expect(report.findings("ledger").first?.subject == "entry 1", "\(report.findings)")
    }
}

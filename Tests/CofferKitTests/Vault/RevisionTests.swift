import Crypto
import Foundation
import Testing

@testable import CofferKit

/// Issue 15, finding 4: sealing an existing name adds a revision of that
/// document; `history` lists them; `open --at` opens an earlier one. The
/// earlier revisions are reached through version links from the current
/// version, so sharing, unsharing, re-keying and deletion act on all of them.
@Suite("Revisions")
struct RevisionTests {
    @Test("sealing a name again adds revision 2 of the same document; the same content adds nothing; history and --at open each revision; a role shared later reads the history; unshare takes it all")
    func revisionsThroughSharing() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let first = try fixture.seal("plan.txt", Array("first draft".utf8))
        let second = try fixture.seal("plan.txt", Array("second draft, longer".utf8))
        #expect(first.revision == 1 && !first.unchanged)
        #expect(second.id == first.id && second.revision == 2 && !second.unchanged)
        let same = try fixture.seal("plan.txt", Array("second draft, longer".utf8))
        #expect(same.id == first.id && same.revision == 2 && same.unchanged)
        #expect(try fixture.open().list().documents.map(\.id) == [first.id])

        let history = try fixture.open().history(of: "plan.txt")
        #expect(history.map(\.revision) == [1, 2] && history.map(\.current) == [false, true])
        #expect(history.map(\.size) == [11, 20] && history.allSatisfy { $0.name == "plan.txt" })
        #expect(try fixture.read("plan.txt") == Array("second draft, longer".utf8))
        #expect(try fixture.open().contents(of: "plan.txt", revision: 1) == Array("first draft".utf8))
        #expect(throws: VaultError.self) { _ = try fixture.open().contents(of: "plan.txt", revision: 3) }

        // The read of revision 1 is recorded with its own generation.
        let opens = try Catalog.open(at: Vault.catalogPath(fixture.path)).ledgerEntries().compactMap { entry -> UInt32? in
            if case .documentOpened(let p) = entry.contents.event { p.generation } else { nil }
        }
        #expect(opens.suffix(2) == [2, 1])

        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["plan.txt"], withRole: "eng")
        #expect(try fixture.open(as: bob).contents(of: "plan.txt", revision: 1) == Array("first draft".utf8))
        // A reader who does not own it may not add a revision; nothing is committed.
        let entries = try fixture.open().state.entryCount
        let input = try fixture.scratch.write("inputs/bob", Array("bob's take".utf8))
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).seal(paths: [input], name: "plan.txt") }
        #expect(try fixture.open().state.entryCount == entries)

        _ = try fixture.open().unshare(["plan.txt"], fromRole: "eng", rekey: false)
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).contents(of: first.id.description, revision: 1) }
        #expect(try fixture.verify(deep: true).findings.isEmpty)
    }

    @Test("a re-key keeps the history: every revision still opens, gc keeps every revision's objects and collects the re-keyed generation's, verify --deep decrypts them all; delete takes them all")
    func rekeyGarbageAndDelete() throws {
        let fixture = try VaultFixture()
        let document = try fixture.seal("r.bin", Array(repeating: 1, count: 1000)).id
        _ = try fixture.seal("r.bin", Array(repeating: 2, count: 2000))
        _ = try fixture.seal("r.bin", Array(repeating: 3, count: 3000))
        let before = try #require(fixture.open().state.documents[document])
        let replaced = before.current
        _ = try fixture.open().rekey(["r.bin"], plan: false)
        let after = try #require(fixture.open().state.documents[document])
        #expect(after.current.revision == 3 && after.current.generation == 4 && after.revisions.map(\.generation) == [1, 2, 4])
        for (revision, byte) in [(UInt32(1), UInt8(1)), (2, 2), (3, 3)] {
            #expect(try fixture.open().contents(of: "r.bin", revision: revision) == Array(repeating: byte, count: 1000 * Int(revision)))
        }
        _ = try fixture.open().collectGarbage(grace: 0, plan: false)
        for version in after.revisions {
            #expect(([version.manifest] + version.segments).allSatisfy { FileManager.default.fileExists(atPath: fixture.objectPath($0)) })
        }
        #expect(!FileManager.default.fileExists(atPath: fixture.objectPath(replaced.manifest)))
        let report = try fixture.verify(deep: true)
        #expect(report.findings.isEmpty && report.counts.documentsDecrypted == 1, "\(report.findings)")

        _ = try fixture.open().delete(["r.bin"], plan: false)
        let emptied = try fixture.open()
        #expect(try ObjectReferences(usedBy: emptied.state.documents).unreferenced(in: #require(emptied.objects as? ObjectStore)).referenced == 0)
        #expect(throws: VaultError.self) { _ = try fixture.open().history(of: document.description) }
    }

    @Test("a name two documents share is refused with both candidates; two revisions of one name in one seal; a concurrent revision is a clear conflict")
    func ambiguityAndRaces() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob"), carol = Identity.generate(name: "carol")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        try vault.addMember(carol.publicIdentity, name: "carol", toRole: "eng")
        // Bob and carol each seal an x.txt the other cannot read; the administrator reads both.
        let bobs = try fixture.open(as: bob).seal(bytes: Array("bob".utf8), name: "x.txt")
        let carols = try fixture.open(as: carol).seal(bytes: Array("carol".utf8), name: "x.txt")
        #expect(bobs.id != carols.id && bobs.revision == 1 && carols.revision == 1)
        do {
            _ = try fixture.open().seal(bytes: Array("third".utf8), name: "x.txt")
            Issue.record("an ambiguous name was revised")
        } catch VaultError.ambiguous(_, let matches) {
            #expect(matches.count == 2 && matches.contains { $0.hasPrefix(bobs.id.description) } && matches.contains { $0.contains("bytes") })
        }

        // Two inputs with one name in one seal: revision 1 and revision 2.
        let a = try fixture.scratch.write("one/y.txt", Array("one".utf8))
        let b = try fixture.scratch.write("two/y.txt", Array("two".utf8))
        let sealed = try fixture.open().seal(paths: [a, b])
        #expect(sealed.map(\.revision) == [1, 2] && sealed[0].id == sealed[1].id)

        // Another process revises between this one's read and its commit: exit 9, nothing committed.
        let slow = try fixture.open()
        _ = try fixture.open().seal(bytes: Array("fast".utf8), name: "y.txt")
        let entries = try fixture.open().state.entryCount
        #expect(throws: VaultError.self) { _ = try slow.seal(bytes: Array("slow".utf8), name: "y.txt") }
        #expect(try fixture.open().state.entryCount == entries)
        #expect(try fixture.open().contents(of: "y.txt") == Array("fast".utf8))
    }

    @Test("the ledger refuses, whoever signs it: a revision by a reader who does not own it, without a link, with a malformed link, or with another label; a re-key of a revised document without its link")
    func ledgerRules() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        _ = try fixture.seal("d.txt", Array("1".utf8))
        _ = try fixture.seal("d.txt", Array("2".utf8))
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["d.txt"], withRole: "eng")
        let state = try fixture.open().state
        let document = try #require(state.documents.values.first { _ in true })
        let current = document.current
        let valid = DocumentSealed(
            document: document.id, generation: current.generation + 1, manifest: current.manifest.description,
            segments: current.segments.map(\.description), label: document.label, commitment: Data(current.commitment),
            metadata: Data(current.metadata), wraps: [], objectHash: "sha256", previousKey: Data([1] + [UInt8](repeating: 0, count: 72)))

        func refused(_ event: LedgerEvent, by actor: Identity, _ comment: Comment) {
            let entry = try? LedgerEntry.make(event: event, vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: Date(), actor: actor)
            var verifier = LedgerVerifier(state: state)
            #expect(throws: LedgerError.self, comment) { try verifier.append(try #require(entry)) }
        }
        refused(.documentRevised(valid), by: bob, "a member revises a document it reads but does not own")
        var unlinked = valid
        unlinked.previousKey = nil
        refused(.documentRevised(unlinked), by: fixture.owner, "a revision without a link")
        var short = valid
        short.previousKey = Data([1, 2, 3])
        refused(.documentRevised(short), by: fixture.owner, "a malformed link")
        var relabelled = valid
        relabelled.label = "secret"
        refused(.documentRevised(relabelled), by: fixture.owner, "a revision under another label")
        refused(.documentRekeyed(unlinked), by: fixture.owner, "a re-key of revision 2 that drops the history")
        var sealed = valid
        sealed.generation = 1
        refused(.documentSealed(sealed), by: fixture.owner, "a new document with a link")
    }

    @Test("a well-formed link to the wrong key, signed by the document's own owner, is caught: the current revision opens, the earlier one fails its commitment (integrity, exit 5), and verify --deep reports it")
    func maliciousOwnersLink() throws {
        let fixture = try VaultFixture()
        _ = try fixture.seal("plan.txt", Array("first".utf8))
        let vault = try fixture.open()
        let document = try #require(vault.state.documents.values.first { _ in true })
        // The owner's client, edited: a revision whose link wraps a random key, as the format allows.
        let target = try vault.revisionTarget(of: document)
        let batch = PublishBatch(store: vault.objects)
        let prepared = try vault.prepare(
            source: MemorySource(Array("second".utf8)), name: "plan.txt", mode: nil, label: document.label, origin: "memory", revising: target, into: batch)
        try batch.finish()
        try vault.commit { state in
            let current = try #require(state.documents[document.id])
            var event = try vault.versionEvent(
                document: document.id, generation: prepared.generation, key: prepared.key, sealed: prepared.sealed, metadata: prepared.metadata,
                label: current.label, roles: current.current.wraps.keys.sorted().map { state.roles[$0]! })
            event.previousKey = Data(VersionLink(
                vaultID: state.vaultID, documentID: document.id, generation: prepared.generation, previousGeneration: current.currentGeneration
            ).wrap(DataKey.generate(), under: prepared.key))
            return [.documentRevised(event)]
        }
        #expect(try fixture.open().contents(of: "plan.txt") == Array("second".utf8))
        expectFailure(.integrity, "open --at 1") { _ = try fixture.open().contents(of: "plan.txt", revision: 1) }
        expectFailure(.integrity, "history") { _ = try fixture.open().history(of: "plan.txt") }
        let report = try fixture.verify(deep: true)
        #expect(!report.isClean, "verify --deep finds the bad link")
    }

    @Test("a document state record with revisions and links round-trips, and its truncations and flips are refused")
    func stateRecord() throws {
        let fixture = try VaultFixture()
        _ = try fixture.seal("s.txt", Array("1".utf8))
        let id = try fixture.seal("s.txt", Array("2".utf8)).id
        let document = try #require(fixture.open().state.documents[id])
        let bytes = StateCodec.encodeDocument(document)
        var reader = ByteReader(bytes, what: "record")
        #expect(try StateCodec.decodeDocument(&reader) == document)
        for cut in [1, bytes.count / 2, bytes.count - 1] {
            var truncated = ByteReader(Array(bytes.prefix(cut)), what: "record")
            #expect(throws: (any Error).self) { _ = try StateCodec.decodeDocument(&truncated) }
        }
        var longer = ByteReader(bytes + [0], what: "record")
        #expect(throws: (any Error).self) { _ = try StateCodec.decodeDocument(&longer) }
    }

    @Test("the content digest is SHA-256 over the segment size and each segment's SHA-256; a file or bytes sealed again unchanged add nothing, one flipped byte in a later segment adds a revision; a revision that records only the old whole-content SHA-256 is still recognised for a file")
    func contentDigest() throws {
        let fixture = try VaultFixture()
        let segment = StreamGeometry.standard.segmentPlaintextSize
        var content = (0..<(2 * segment + 1000)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let first = try fixture.seal("big.bin", content)
        let vault = try fixture.open()
        let recorded = try vault.revisionTarget(of: #require(vault.state.documents[first.id])).metadata
        var expected = SHA256()
        expected.update(data: Array("coffer-content-digest-v1".utf8) + [0, 0, 0, 0, 0, 0x40, 0, 0])
        #expect(segment == 0x40_0000)
        for start in stride(from: 0, to: content.count, by: segment) {
            expected.update(data: Array(SHA256.hash(data: content[start..<min(start + segment, content.count)])))
        }
        #expect(recorded.contentDigest == Hex.encode(Array(expected.finalize())) && recorded.digest == nil)
        #expect(recorded.contentDigest != Hex.encode(Array(SHA256.hash(data: content))))
        // The empty document is one empty segment: the value docs/FORMAT.md shows.
        let empty = try fixture.seal("empty", [])
        let reopened = try fixture.open()
        let emptyMetadata = try reopened.revisionTarget(of: #require(reopened.state.documents[empty.id])).metadata
        #expect(emptyMetadata.contentDigest == "ecd34995030e3ccbc56034c389733bea1581284960afb07beac1d79a5ac16175")

        #expect(try fixture.seal("big.bin", content).unchanged)
        #expect(try fixture.open().seal(bytes: content, name: "big.bin").unchanged)
        content[segment + 5] ^= 1
        let changed = try fixture.seal("big.bin", content)
        #expect(!changed.unchanged && changed.revision == 2)

        // A revision as sealed before ContentDigest: its metadata records the whole content's SHA-256 only.
        let legacy = try fixture.open()
        let target = try legacy.revisionTarget(of: #require(legacy.state.documents[first.id]))
        content[0] ^= 1
        let batch = PublishBatch(store: legacy.objects)
        let prepared = try legacy.prepare(
            source: MemorySource(content), name: "big.bin", mode: nil, label: target.document.label, origin: "memory", revising: target, into: batch)
        var metadata = prepared.metadata
        metadata.contentDigest = nil
        metadata.digest = Hex.encode(Array(SHA256.hash(data: content)))
        let old = Vault.PreparedDocument(
            id: prepared.id, generation: prepared.generation, key: prepared.key, sealed: prepared.sealed, metadata: metadata, label: prepared.label,
            revising: target)
        #expect(try legacy.commitSealed([old], objects: batch)[0].revision == 3)
        #expect(try fixture.seal("big.bin", content).unchanged)
        // Bytes sealed over it cannot be compared before they are written: they add a revision, which records the new digest.
        let fromMemory = try fixture.open().seal(bytes: content, name: "big.bin")
        #expect(!fromMemory.unchanged && fromMemory.revision == 4)
        #expect(try fixture.open().seal(bytes: content, name: "big.bin").unchanged)
        #expect(try fixture.read("big.bin") == content)
        #expect(try fixture.verify(deep: true).findings.isEmpty)
    }
}

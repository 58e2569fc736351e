import Foundation
import Testing

@testable import CofferKit

/// The state checkpoint body parser on bodies that authenticate but are
/// damaged (regressions found by `scripts/fuzz`, target `state-checkpoint`).
@Suite("State checkpoint parser")
struct StateCheckpointTests {
    /// The body of an empty state up to the document count, then `documents`
    /// as that count, then `documentBytes` (the documents, if any).
    static func body(documents: UInt32, documentBytes: [UInt8] = []) -> [UInt8] {
        var w = ByteWriter()
        w.write([UInt8](repeating: 7, count: 16))  // vault id
        w.write(UInt64(0))  // entry count
        w.write([UInt8](repeating: 0, count: 32))  // head
        w.write(UInt32(0))  // labels
        w.write(UInt8(0))  // no chosen export limit
        for _ in 0..<4 { w.write(UInt32(0)) }  // identities, admins, revoked, roles
        w.write(documents)
        w.write(documentBytes)
        w.write(UInt32(0))  // partners
        w.write(UInt32(0))  // bundles
        w.write(UInt32(0))  // sealed-details keys (v2)
        return w.bytes
    }

    @Test("a well-formed empty body parses")
    func emptyBody() throws {
        var reader = ByteReader(Self.body(documents: 0), what: "state checkpoint")
        let state = try StateCheckpoint.parseBody(&reader)
        #expect(state.documents.isEmpty && state.vaultID.bytes == [UInt8](repeating: 7, count: 16))
    }

    // Fuzzing found it: a document count of 0xFFFFFFFF sized the document
    // table before reading one document, and the process died allocating
    // 200 GB. It is a typed error now.
    @Test("a document count larger than the body is refused before it sizes anything", arguments: [UInt32.max, 1 << 31, 1000])
    func hugeDocumentCount(count: UInt32) throws {
        var reader = ByteReader(Self.body(documents: count), what: "state checkpoint")
        #expect(throws: FormatError.truncated("state checkpoint")) { try StateCheckpoint.parseBody(&reader) }
    }

    /// One document whose current version has a commitment of `commitmentBytes` bytes.
    static func document(commitmentBytes: Int) -> [UInt8] {
        var w = ByteWriter()
        w.write([UInt8](repeating: 1, count: 16))  // document id
        for text in ["owner", "internal"] { w.write(UInt32(text.utf8.count)); w.write(Array(text.utf8)) }
        w.write(UInt8(0))  // not due for a re-key
        w.write(UInt32(1))  // generation
        w.write([UInt8](repeating: 2, count: 32))  // manifest object
        w.write(UInt32(0))  // segments
        w.write(UInt32(0))  // metadata
        w.write(UInt32(commitmentBytes))
        w.write([UInt8](repeating: 3, count: commitmentBytes))
        w.write(UInt32(0))  // wraps
        w.write(UInt64(0))  // sealed at
        w.write(UInt32(0))  // sealed by ""
        w.write(UInt64(0))  // sequence
        w.write(UInt32(0))  // older versions
        return w.bytes
    }

    // Fuzzing found it: a version whose commitment is not 32 bytes reached
    // `VaultState.Version`, which keeps the commitment inline and traps on
    // any other length. It is a typed error now.
    @Test("a commitment that is not 32 bytes is refused", arguments: [0, 16, 31, 33])
    func commitmentLength(bytes: Int) throws {
        var reader = ByteReader(Self.body(documents: 1, documentBytes: Self.document(commitmentBytes: bytes)), what: "state checkpoint")
        #expect(throws: FormatError.malformed("state checkpoint", "commitment is not 32 bytes")) { try StateCheckpoint.parseBody(&reader) }
    }

    @Test("a document with a 32-byte commitment parses")
    func commitmentOfThirtyTwo() throws {
        var reader = ByteReader(Self.body(documents: 1, documentBytes: Self.document(commitmentBytes: 32)), what: "state checkpoint")
        let state = try StateCheckpoint.parseBody(&reader)
        #expect(state.documents.count == 1 && state.documents.values.first?.current.commitment == [UInt8](repeating: 3, count: 32))
    }

    @Test("the same body in a checkpoint file whose MAC verifies: read(at:key:) throws, it does not crash")
    func hugeDocumentCountInFile() throws {
        let scratch = try ScratchDirectory()
        let key = StateCheckpoint.key(of: Identity.generate(name: "owner"))
        let signed = StateCheckpoint.magic + Self.body(documents: UInt32.max)
        let mac = Blake2b(outputByteCount: StateCheckpoint.macByteCount, key: key)
        mac.update(signed)
        let path = try scratch.write("checkpoint.state", signed + mac.finalize())
        #expect(throws: FormatError.truncated("state checkpoint")) { _ = try StateCheckpoint.read(at: path, key: key) }
    }
}

import Foundation
import Testing

@testable import CofferKit

/// The state checkpoint body parser on bodies that authenticate but are
/// damaged (regressions found by `scripts/fuzz`, target `state-checkpoint`).
@Suite("State checkpoint parser")
struct StateCheckpointTests {
    /// The body of an empty state up to the document count, then `documents`
    /// as that count (and no documents).
    static func body(documents: UInt32) -> [UInt8] {
        var w = ByteWriter()
        w.write([UInt8](repeating: 7, count: 16))  // vault id
        w.write(UInt64(0))  // entry count
        w.write([UInt8](repeating: 0, count: 32))  // head
        w.write(UInt32(0))  // labels
        w.write(UInt8(0))  // no chosen export limit
        for _ in 0..<4 { w.write(UInt32(0)) }  // identities, admins, revoked, roles
        w.write(documents)
        w.write(UInt32(0))  // partners
        w.write(UInt32(0))  // bundles
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

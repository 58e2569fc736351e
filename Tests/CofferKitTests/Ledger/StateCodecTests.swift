import Foundation
import Testing

@testable import CofferKit

/// The saved-state parsers (core and document record) on bytes that
/// authenticate but are damaged: truncated, flipped, oversized, and the
/// regressions `scripts/fuzz` found (target `state-checkpoint`).
@Suite("Saved state parsers")
struct StateCodecTests {
    /// A core of an empty state, with `identities` as the identity count and nothing after it.
    static func core(identities: UInt32 = 0) -> [UInt8] {
        var w = ByteWriter()
        w.write([UInt8](repeating: 7, count: 16))  // vault id
        w.write(UInt64(0))  // entry count
        w.write([UInt8](repeating: 0, count: 32))  // head
        w.write(UInt32(0))  // labels
        w.write(UInt8(0))  // no chosen export limit
        w.write(identities)
        guard identities == 0 else { return w.bytes }
        for _ in 0..<3 { w.write(UInt32(0)) }  // admins, revoked, roles
        for _ in 0..<7 { w.write(UInt32(0)) }  // wrap counts, partners, bundles, sealed-details keys, holds, key-age policies, retention
        return w.bytes
    }

    @Test("a well-formed empty core parses")
    func emptyCore() throws {
        var reader = ByteReader(Self.core(), what: "vault state")
        let state = try StateCodec.decodeCore(&reader)
        #expect(state.documents.count == 0 && state.vaultID.bytes == [UInt8](repeating: 7, count: 16))
    }

    // Fuzzing found it in the whole-state format: a count of 0xFFFFFFFF sized
    // a table before reading one element. Every list is checked against what is left.
    @Test("a list count larger than the bytes left is refused before it sizes anything", arguments: [UInt32.max, 1 << 31, 1000])
    func hugeCount(count: UInt32) throws {
        var reader = ByteReader(Self.core(identities: count), what: "vault state")
        #expect(throws: FormatError.truncated("vault state")) { try StateCodec.decodeCore(&reader) }
    }

    /// One document whose current version has a commitment of `commitmentBytes` bytes.
    static func document(commitmentBytes: Int = 32, objectHash: UInt8 = 1) -> [UInt8] {
        var w = ByteWriter()
        w.write([UInt8](repeating: 1, count: 16))  // document id
        for text in ["owner", "internal"] { w.write(UInt32(text.utf8.count)); w.write(Array(text.utf8)) }
        w.write(UInt8(0))  // not due for a re-key
        w.write(UInt32(1))  // generation
        w.write(objectHash)  // 1: objects named by SHA-256
        w.write([UInt8](repeating: 2, count: 32))  // manifest object
        w.write(UInt32(0))  // segments
        w.write(UInt32(0))  // metadata
        w.write(UInt32(commitmentBytes))
        w.write([UInt8](repeating: 3, count: commitmentBytes))
        w.write(UInt32(0))  // wraps
        w.write(UInt64(0))  // sealed at
        w.write(UInt32(0))  // sealed by ""
        w.write(UInt64(0))  // sequence
        w.write(UInt32(1))  // revision 1
        w.write(UInt8(0))  // no link to a previous revision
        w.write(UInt32(0))  // older versions
        w.write(UInt8(0))  // not deleted
        w.write(UInt32(0))  // under no legal hold
        return w.bytes
    }

    // Fuzzing found it: a version whose commitment is not 32 bytes reached
    // `VaultState.Version`, which keeps the commitment inline and traps on
    // any other length. It is a typed error now.
    @Test("a commitment that is not 32 bytes is refused", arguments: [0, 16, 31, 33])
    func commitmentLength(bytes: Int) throws {
        var reader = ByteReader(Self.document(commitmentBytes: bytes), what: "vault state")
        #expect(throws: FormatError.malformed("vault state", "commitment is not 32 bytes")) { try StateCodec.decodeDocument(&reader) }
    }

    @Test("a record with a 32-byte commitment parses, its object ids named by the hash function it records")
    func commitmentOfThirtyTwo() throws {
        var reader = ByteReader(Self.document(), what: "vault state")
        let version = try StateCodec.decodeDocument(&reader).current
        #expect(version.commitment == [UInt8](repeating: 3, count: 32) && version.manifest.hash == .sha256)
        var legacy = ByteReader(Self.document(objectHash: 0), what: "vault state")
        #expect(try StateCodec.decodeDocument(&legacy).current.manifest.hash == .blake2b256)
    }

    @Test("a record naming an unknown object hash function is refused", arguments: [2, 0x80, 0xff] as [UInt8])
    func unknownObjectHash(code: UInt8) throws {
        var reader = ByteReader(Self.document(objectHash: code), what: "vault state")
        #expect(throws: FormatError.malformed("vault state", "unknown object hash")) { try StateCodec.decodeDocument(&reader) }
    }

    /// A real core and record: a populated vault's.
    static func realParts() throws -> (core: [UInt8], record: [UInt8], fixture: VaultFixture) {
        let fixture = try VaultFixture()
        try fixture.seal("a.txt", Array("alpha".utf8))
        let state = try fixture.open().state
        return (StateCodec.encodeCore(state), StateCodec.encodeDocument(state.documents.values.first { _ in true }!), fixture)
    }

    @Test("every truncation of a real core and record, and a byte added, is a typed error")
    func truncatedAndOversized() throws {
        let (core, record, _) = try Self.realParts()
        for (bytes, decode) in [(core, { (r: inout ByteReader) in _ = try StateCodec.decodeCore(&r) }), (record, { _ = try StateCodec.decodeDocument(&$0) })] {
            var reader = ByteReader(bytes, what: "vault state")
            try decode(&reader)
            for length in 0..<bytes.count {
                var cut = ByteReader(Array(bytes.prefix(length)), what: "vault state")
                #expect(throws: (any Error).self, "truncated to \(length)") { try decode(&cut) }
            }
            var longer = ByteReader(bytes + [0], what: "vault state")
            #expect(throws: FormatError.self) { try decode(&longer) }
        }
    }

    @Test("a real core and record with any byte flipped parse or fail with a typed error, never crash")
    func flipped() throws {
        let (core, record, _) = try Self.realParts()
        var failures = 0
        for bytes in [core, record] {
            for offset in 0..<bytes.count {
                var flipped = bytes
                flipped[offset] ^= 0xff
                var reader = ByteReader(flipped, what: "vault state")
                do {
                    if bytes == core { _ = try StateCodec.decodeCore(&reader) } else { _ = try StateCodec.decodeDocument(&reader) }
                } catch is FormatError {
                    failures += 1
                } catch let error as any CofferFailure {
                    _ = error.kind  // identity and id errors are typed too
                    failures += 1
                }
            }
        }
        #expect(failures > 0)
    }
}

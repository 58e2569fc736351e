import Foundation
import Testing

@testable import CofferKit

/// `Vault.seal(bytes:name:label:)` and `Vault.contents(of:limit:)`.
@Suite("Sealing and opening in memory")
struct MemoryIOTests {
    @Test("bytes of every size around a segment boundary round-trip; each read is in the ledger; the origin is memory", arguments: [0, 1, 4 << 20, (4 << 20) + 1, 9 << 20])
    func roundTrip(size: Int) throws {
        let fixture = try VaultFixture()
        let bytes = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let sealed = try fixture.open().seal(bytes: bytes, name: "memory/doc.bin", label: "secret")
        #expect(sealed.size == UInt64(size) && sealed.label == "secret")
        let before = try fixture.open().state.entryCount
        #expect(try fixture.open().contents(of: "memory/doc.bin") == bytes)
        let after = try fixture.open().state
        #expect(after.entryCount == before + 1)
        #expect(try fixture.read(sealed.id.description) == bytes)  // and through a file, the same
        let vault = try fixture.open()
        let document = try #require(after.documents[sealed.id])
        let (key, _) = try vault.dataKey(of: document, version: document.current)
        #expect(try vault.metadata(of: document, version: document.current, key: key).source == "memory")
    }

    @Test("refusals: an unsafe name, an unknown label, a document above the limit (nothing recorded), one this identity cannot read")
    func refusals() throws {
        let fixture = try VaultFixture()
        #expect(throws: VaultError.self) { _ = try fixture.open().seal(bytes: [1], name: "../escape") }
        #expect(throws: VaultError.self) { _ = try fixture.open().seal(bytes: [1], name: "x", label: "nosuch") }
        _ = try fixture.open().seal(bytes: [UInt8](repeating: 7, count: 100), name: "big.bin")
        let before = try fixture.open().state.entryCount
        #expect(throws: VaultError.self) { _ = try fixture.open().contents(of: "big.bin", limit: 99) }
        #expect(try fixture.open().state.entryCount == before)
        let bob = Identity.generate(name: "bob")
        try fixture.open().createRole(named: "eng", clearance: nil)
        try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        let id = try #require(try fixture.open().list().documents.first).id
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).contents(of: id.description) }
    }
}

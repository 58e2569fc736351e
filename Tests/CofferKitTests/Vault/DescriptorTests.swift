import Foundation
import Testing

@testable import CofferKit

@Suite("Vault descriptor")
struct DescriptorTests {
    @Test("every truncation, bit flip and oversized variant is refused with a typed error")
    func damage() throws {
        let fixture = try VaultFixture()
        let path = fixture.path + "/" + VaultDescriptor.fileName
        let original = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        _ = try VaultDescriptor.parse(original)
        let variants = Damage.truncations(of: original) + Damage.bitFlips(of: original)
            + Damage.oversized(original, limit: VaultDescriptor.maximumSize)
        for (label, bytes) in variants {
            expectTypedOutcome("\(label)") {
                do {
                    _ = try VaultDescriptor.parse(bytes)
                    Issue.record("\(label) parsed")
                } catch let error as any CofferFailure {
                    #expect([.integrity, .usage].contains(error.kind), "\(label): \(error)")
                    throw error
                }
            }
        }
        // Through the vault: a damaged descriptor stops every command and is reported by verify.
        var flipped = original
        flipped[20] ^= 1
        try FileManager.default.removeItem(atPath: path)
        try Data(flipped).write(to: URL(fileURLWithPath: path))
        expectFailure(.integrity) { _ = try fixture.open() }
        #expect(try !fixture.verify().findings("descriptor").isEmpty)
    }

    @Test("a descriptor from another vault does not match this ledger")
    func swapped() throws {
        let a = try VaultFixture()
        let b = try VaultFixture(owner: a.owner)
        let name = "/" + VaultDescriptor.fileName
        try FileManager.default.removeItem(atPath: a.path + name)
        try FileManager.default.copyItem(atPath: b.path + name, toPath: a.path + name)
        expectFailure(.integrity) { _ = try a.open() }
        #expect(try !a.verify().findings.isEmpty)
    }
}

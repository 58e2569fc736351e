import Foundation
import Testing

@testable import CofferKit

/// How a vault that lacks the remembered head is explained.
@Suite("Head conflicts")
struct HeadConflictTests {
    @Test("a head file from an earlier Coffer (no path) still reports a rollback, and says it does not know where the head was seen")
    func recordWithoutPath() throws {
        let fixture = try VaultFixture()
        let heads = HeadStore(directory: fixture.stateDirectory)
        let vault = try fixture.open().state.vaultID
        let file = fixture.stateDirectory + "/\(fixture.owner.fingerprint)/\(vault).head"
        try Data("40 \(String(repeating: "ab", count: 32))\n".utf8).write(to: URL(fileURLWithPath: file))
        #expect(try heads.head(fingerprint: fixture.owner.fingerprint, vault: vault)?.seenAt == nil)
        do {
            _ = try fixture.open()
            Issue.record("a vault behind the remembered head opened")
        } catch VaultError.headConflict(let conflict) {
            #expect(conflict.kind == .rollback && conflict.seenAt == nil && conflict.seenSequence == 40)
            #expect(conflict.description.contains("does not say where") && conflict.description.contains("numbered from 0"), "\(conflict)")
        }
        // The keyless check says the same.
        let report = try fixture.verify()
        #expect(report.findings.contains { $0.check == "ledger" && $0.message.contains("was rolled back") }, "\(report.findings)")
    }
}

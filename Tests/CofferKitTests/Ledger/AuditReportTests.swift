import Foundation
import Testing

@testable import CofferKit

/// The unusual-access report on a real vault with real ledger entries.
@Suite("Audit report")
struct AuditReportTests {
    @Test("flags a burst of opens, a first access to a label, a bulk export, a revoked identity's attempt and overdue keys")
    func report() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: "secret")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        var names: [String] = []
        for i in 0..<22 {
            try fixture.seal("d\(i).txt", [UInt8(i)], label: "internal")
            names.append("d\(i).txt")
        }
        try fixture.seal("s.txt", [9], label: "secret")
        _ = try fixture.open().share(names + ["s.txt"], withRole: "eng")
        let before = Date().addingTimeInterval(-3600)
        for name in names { _ = try fixture.read(name, as: bob) }
        _ = try fixture.read("s.txt", as: bob)
        _ = try fixture.read("d0.txt")  // the owner: two opens, no burst
        _ = try fixture.read("d1.txt")
        try fixture.open().addPartner(name: "acme", recipient: Identity.generate(name: "p").publicIdentity.ageRecipient, minisignKey: nil)
        _ = try fixture.open().createBundle(BundleRequest(
            documents: ["d0.txt", "d1.txt", "d2.txt"], recipients: ["acme"], output: .file(path: fixture.scratch.join("b.age"), overwrite: false)))
        _ = try fixture.open().revoke("bob", rekey: false, plan: false)
        #expect(throws: VaultError.revoked(fingerprint: bob.fingerprint)) { try fixture.open(as: bob) }

        var policy = AuditPolicy(since: before)
        policy.bulkFiles = 3
        policy.maxKeyAge = 0
        let result = try Audit.report(vaultAt: fixture.path, policy: policy)
        func kinds(_ kind: String) -> [AuditFinding] { result.findings.filter { $0.kind == kind } }
        #expect(kinds("open-rate").map(\.actor) == [bob.fingerprint])
        #expect(kinds("first-label-access").filter { $0.actor == bob.fingerprint }.count == 2)  // internal, then secret
        #expect(kinds("first-label-access").filter { $0.actor == fixture.owner.fingerprint }.count == 1)
        #expect(kinds("bulk-export").count == 1)
        #expect(kinds("refused-after-revocation").map(\.actor) == [bob.fingerprint])
        #expect(kinds("rotation-overdue").count == 3)  // admin, eng, the owner's personal role (bob's is memberless)

        // A window after everything: nothing but the (time-independent) overdue keys.
        policy.since = Date().addingTimeInterval(60)
        policy.maxKeyAge = nil
        #expect(try Audit.report(vaultAt: fixture.path, policy: policy).findings.isEmpty)
        // Default thresholds: the three-file bundle is not bulk.
        let defaults = try Audit.report(vaultAt: fixture.path, policy: AuditPolicy(since: before))
        #expect(defaults.findings.filter { $0.kind == "bulk-export" }.isEmpty && defaults.findings.contains { $0.kind == "open-rate" })
    }
}

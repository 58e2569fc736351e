import Foundation
import Testing

@testable import CofferKit

/// `verify --subset PART/PARTS`: the parts divide the objects, a damaged
/// object is found by its part only (and by a full verify), every other
/// check stays complete, and the check is recorded in the ledger for
/// `audit report`; a recorded check outside the rules is refused.
@Suite("Verify by parts")
struct SubsetVerifyTests {
    @Test("parts 1…M re-hash each object exactly once; a damaged object is found by its part and by the full check")
    func partsCoverEverything() throws {
        let fixture = try VaultFixture()
        var sealed: [SealedDocument] = []
        for i in 0..<12 { sealed.append(try fixture.seal("d\(i).txt", Array("document \(i)".utf8))) }
        let full = try fixture.verify()
        #expect(full.isClean && full.counts.objectsHashed >= 24)
        let parts = 5
        var hashed = 0
        for part in 1...parts {
            let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false, subset: try ObjectSubset(part: part, of: parts))
            #expect(report.isClean && report.subset == "\(part)/\(parts)")
            #expect(report.counts.objectsReferenced == full.counts.objectsReferenced, "presence is checked in full")
            hashed += report.counts.objectsHashed
        }
        #expect(hashed == full.counts.objectsHashed)

        let damaged = try fixture.objects(of: sealed[3].id).manifest
        var bytes = try fixture.objectBytes(damaged)
        bytes[bytes.count / 2] ^= 1
        try fixture.replaceObject(damaged, with: bytes)
        let owner = (1...parts).first { try! ObjectSubset(part: $0, of: parts).contains(damaged) }!
        for part in 1...parts {
            let report = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false, subset: try ObjectSubset(part: part, of: parts))
            let found = report.findings("object").contains { $0.subject == damaged.description }
            #expect(found == (part == owner), "part \(part)")
        }
        #expect(try fixture.verify().findings("object").contains { $0.subject == damaged.description })
    }

    @Test("a subset outside 1 ≤ PART ≤ PARTS ≤ 1000 is a usage error", arguments: ["0/3", "4/3", "1/0", "1/1001", "a/b", "1/2/3", "", "/", "1/", " 1/2", "+1/2", "99999/99999"])
    func malformed(text: String) {
        #expect(throws: VaultError.self) { try ObjectSubset(parsing: text) }
        expectFailure(.usage) { _ = try ObjectSubset(parsing: text) }
    }

    @Test("a recorded check is in the ledger and in audit report's coverage; a check outside the rules is refused")
    func recorded() throws {
        let fixture = try VaultFixture()
        try fixture.seal("a.txt", [1])
        for part in [1, 2] {
            let subset = try ObjectSubset(part: part, of: 3)
            let report = try VaultVerifier.verify(at: fixture.path, identity: fixture.owner, stateDirectory: .directory(fixture.stateDirectory), deep: false, subset: subset)
            try fixture.open().recordCheck(of: subset, report: report)
        }
        var coverage = try #require(try Audit.report(vaultAt: fixture.path, policy: AuditPolicy(since: Date(timeIntervalSince1970: 0))).objectChecks)
        #expect(coverage.parts == 3 && coverage.lastChecked.map { $0 != nil } == [true, true, false] && coverage.everyObjectCheckedSince == nil)
        let last = try ObjectSubset(part: 3, of: 3)
        try fixture.open().recordCheck(
            of: last, report: try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .withoutRollbackDetection, deep: false, subset: last))
        coverage = try #require(try Audit.report(vaultAt: fixture.path, policy: AuditPolicy(since: Date(timeIntervalSince1970: 0))).objectChecks)
        #expect(coverage.everyObjectCheckedSince == coverage.lastChecked[0] && coverage.checksWithFindings == 0)

        let vault = try fixture.open()
        for bad in [VaultChecked(part: 4, parts: 3, objects: 0, bytes: 0, findings: 0), VaultChecked(part: 1, parts: 1001, objects: 0, bytes: 0, findings: 0),
                    VaultChecked(part: 1, parts: 2, objects: -1, bytes: 0, findings: 0)] {
            expectFailure(.accessDenied, "\(bad)") { try vault.commit { _ in [.vaultChecked(bad)] } }
        }
        #expect(try fixture.verify().isClean)
    }
}

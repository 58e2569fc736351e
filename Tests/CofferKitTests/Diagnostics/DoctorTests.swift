import Foundation
import Testing

@testable import CofferKit

/// ``Doctor``'s clock check against a real vault's newest ledger entry.
@Suite("Doctor")
struct DoctorTests {
    @Test("a clock more than 5 minutes behind the vault's newest entry is a problem; 4 minutes behind, or ahead, is not")
    func clockBehindTheLedger() throws {
        let fixture = try VaultFixture()
        _ = try fixture.seal("a", [1])
        let now = Date()
        func clock(_ offset: TimeInterval) -> DoctorCheck.Status? {
            Doctor.examine(identityFile: fixture.scratch.join("none"), stateDirectory: fixture.stateDirectory, vault: fixture.path, now: now + offset)
                .checks.first { $0.subject == "clock" }?.status
        }
        #expect(clock(-600) == .problem)
        #expect(clock(-240) == .ok)
        #expect(clock(3600) == .ok)
        let report = Doctor.examine(identityFile: fixture.scratch.join("none"), stateDirectory: fixture.stateDirectory, vault: fixture.path, now: now - 600)
        #expect(report.hasProblems)
        #expect(report.checks.first { $0.subject == "clock" }?.fix?.contains("timedatectl") == true)
    }
}

import Foundation
import Testing

@testable import CofferKit

/// Break-glass recovery: libgfshare's Shamir sharing, the share file, and
/// `setUpRecovery` / `recover` against a real vault.
@Suite("Break-glass recovery")
struct RecoveryTests {
    @Test("any 3 of 5 shares rebuild the seed; no 2 do; two splits of one seed share nothing")
    func shamir() throws {
        let seed = SymmetricKey.random()
        let shares = SecretSharing.split(seed, count: 5, threshold: 3)
        #expect(shares.map(\.number) == [1, 2, 3, 4, 5])
        let seedBytes = seed.withUnsafeBytes { Array($0) }
        for a in 0..<5 {
            for b in (a + 1)..<5 {
                let two = SecretSharing.combine([shares[a], shares[b]]).withUnsafeBytes { Array($0) }
                #expect(two != seedBytes, "shares \(a + 1), \(b + 1)")
                for c in (b + 1)..<5 {
                    let three = SecretSharing.combine([shares[c], shares[a], shares[b]]).withUnsafeBytes { Array($0) }
                    #expect(three == seedBytes, "shares \(a + 1), \(b + 1), \(c + 1)")
                }
            }
        }
        let again = SecretSharing.split(seed, count: 5, threshold: 3)
        #expect(zip(shares, again).allSatisfy { !$0.bytes.constantTimeEquals($1.bytes) })
    }

    /// A vault with a document, and a recovery set up with 5 shares, threshold 3.
    static func setUp() throws -> (VaultFixture, RecoverySetup, [[UInt8]]) {
        let fixture = try VaultFixture()
        _ = try fixture.seal("plan.txt", Array("the plan".utf8))
        let setup = try fixture.open().setUpRecovery(shares: 5, threshold: 3, into: fixture.scratch.join("shares"))
        let files = try setup.files.map { [UInt8](try Data(contentsOf: URL(fileURLWithPath: $0))) }
        return (fixture, setup, files)
    }

    @Test("set-up: administrators only, 0600 files in a new 0700 folder, the recovery identity an administrator in the ledger; use: 3 shares add an administrator who reads everything, 2 do not")
    func setUpAndUse() throws {
        let fixture = try VaultFixture()
        let bob = Identity.generate(name: "bob")
        try fixture.open().createRole(named: "eng", clearance: nil)
        try fixture.open().addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).setUpRecovery(shares: 3, threshold: 2, into: fixture.scratch.join("x")) }
        #expect(throws: VaultError.self) { _ = try fixture.open().setUpRecovery(shares: 3, threshold: 4, into: fixture.scratch.join("x")) }
        #expect(throws: VaultError.self) { _ = try fixture.open().setUpRecovery(shares: 3, threshold: 1, into: fixture.scratch.join("x")) }
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.join("x")))

        let (vault, setup, files) = try Self.setUp()
        #expect(try vault.open().state.admins.contains(setup.recovery))
        #expect(try FileManager.default.attributesOfItem(atPath: vault.scratch.join("shares"))[.posixPermissions] as? Int == 0o700)
        for file in setup.files { #expect(try FileManager.default.attributesOfItem(atPath: file)[.posixPermissions] as? Int == 0o600) }
        #expect(throws: (any Error).self) { _ = try vault.open().setUpRecovery(shares: 3, threshold: 2, into: vault.scratch.join("shares")) }

        let dana = Identity.generate(name: "dana")
        #expect(throws: RecoveryError.notEnoughShares(have: 2, need: 3)) {
            _ = try Vault.recover(vaultAt: vault.path, shareFiles: [files[0], files[4]], addingAdministrator: dana.publicIdentity, name: "dana", stateDirectory: .directory(vault.stateDirectory))
        }
        let used = try Vault.recover(
            vaultAt: vault.path, shareFiles: [files[4], files[1], files[2]], addingAdministrator: dana.publicIdentity, name: "dana",
            stateDirectory: .directory(vault.stateDirectory))
        #expect(used.recovery == setup.recovery && used.sharesUsed == [2, 3, 5] && used.damaged.isEmpty)
        #expect(try vault.read("plan.txt", as: dana) == Array("the plan".utf8))
        #expect(try vault.open(as: dana).state.admins.contains(dana.fingerprint))
        #expect(try vault.verify(deep: true).findings.isEmpty)
    }

    @Test("a damaged share is named and left out while enough remain; alone with too few it is the error; shares of two set-ups or of another vault are refused")
    func damagedAndMismatched() throws {
        let (vault, _, files) = try Self.setUp()
        let dana = Identity.generate(name: "dana")
        var damaged = files[2]
        let secretAt = try #require(String(decoding: damaged, as: UTF8.self).range(of: "secret ")).upperBound.utf16Offset(in: String(decoding: damaged, as: UTF8.self))
        damaged[secretAt] = damaged[secretAt] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        func recover(_ shares: [[UInt8]]) throws -> RecoveryUse {
            try Vault.recover(vaultAt: vault.path, shareFiles: shares, addingAdministrator: dana.publicIdentity, name: nil, stateDirectory: .directory(vault.stateDirectory))
        }
        #expect(throws: RecoveryError.damagedShare("share 3: its secret does not match its digest")) { _ = try recover([files[0], damaged, files[4]]) }
        let used = try recover([files[0], damaged, files[4], files[3]])
        #expect(used.sharesUsed == [1, 4, 5] && used.damaged == ["share 3: its secret does not match its digest"])

        let (other, _, otherFiles) = try Self.setUp()
        #expect(throws: RecoveryError.self) { _ = try recover([files[0], otherFiles[1], files[2]]) }
        #expect(throws: RecoveryError.self) {
            _ = try Vault.recover(
                vaultAt: vault.path, shareFiles: Array(otherFiles.prefix(3)), addingAdministrator: dana.publicIdentity, name: nil,
                stateDirectory: .directory(other.stateDirectory))
        }
    }

    @Test("the share file parser: round trip; every truncation, a byte added past the limit, and every bit flip are typed errors or a share that fails its digest, never a crash")
    func parser() throws {
        let (_, _, files) = try Self.setUp()
        let original = try RecoveryShare(parsing: files[0])
        #expect(original.encoded() == files[0] && original.number == 1 && original.count == 5 && original.threshold == 3)
        for length in 0..<files[0].count {
            #expect(throws: RecoveryError.self, "truncated to \(length)") { _ = try RecoveryShare(parsing: Array(files[0].prefix(length))) }
        }
        #expect(throws: RecoveryError.self) { _ = try RecoveryShare(parsing: files[0] + [UInt8](repeating: 0x41, count: RecoveryShare.maximumFileSize)) }
        for index in files[0].indices {
            for bit in [0, 5] {
                var flipped = files[0]
                flipped[index] ^= 1 << bit
                guard let share = try? RecoveryShare(parsing: flipped) else { continue }
                // What still parses differs from the original, and the digests catch it.
                let same = share.vault == original.vault && share.recovery == original.recovery && share.number == original.number
                    && share.count == original.count && share.threshold == original.threshold && share.digests == original.digests
                    && share.secret.constantTimeEquals(original.secret)
                if same { continue }  // another spelling of the same share (base64's last bits)
                #expect(!share.matches(original.digests[original.number - 1]) || share.digests != original.digests || share.recovery != original.recovery
                    || share.vault != original.vault || share.number != original.number || share.count != original.count || share.threshold != original.threshold,
                    "byte \(index) bit \(bit): a changed share that passes its digest")
            }
        }
    }
}

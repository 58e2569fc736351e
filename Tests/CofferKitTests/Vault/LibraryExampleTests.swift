import Foundation
import Testing

@testable import CofferKit

/// README's "Using the library" example, as written there, with its paths
/// made local and the state directory given (`.standard` would be the
/// user's own).
@Suite("Library example")
struct LibraryExampleTests {
    @Test("README's library example runs: identity file, open, seal, open to a file and a folder, seal from and open into memory, verify")
    func readmeExample() throws {
        let fixture = try VaultFixture()
        let path = fixture.scratch.join("identity")
        try IdentityFile.write(try IdentityFile.encode(fixture.owner, passphrase: nil), to: path)
        let passphrase = SecureBytes.copying([])
        let report = fixture.scratch.join("data/reports/report.pdf")
        try FileManager.default.createDirectory(atPath: fixture.scratch.join("data/reports"), withIntermediateDirectories: true)
        try Data("quarterly\n".utf8).write(to: URL(fileURLWithPath: report))

        let identity = try IdentityFile.decode(try FileSystem.readSmallFile(path, limit: 65_536), path: path) { passphrase }
        let vault = try Vault.open(at: fixture.path, identity: identity, stateDirectory: .directory(fixture.stateDirectory))
        let sealed = try vault.seal(paths: [fixture.scratch.join("data/reports")], label: "secret")
        try vault.open(sealed[0].id.description, to: .file(path: fixture.scratch.join("report.pdf"), overwrite: false))
        try vault.open(folder: "reports/", to: fixture.scratch.join("reports"))
        let memo = try vault.seal(bytes: Array("board minutes".utf8), name: "minutes/2026-12.txt")
        let minutes = try vault.contents(of: memo.id.description)
        let verification = try VaultVerifier.verify(at: fixture.path, identity: nil, stateDirectory: .directory(fixture.stateDirectory), deep: false)

        #expect(verification.isClean)
        #expect(minutes == Array("board minutes".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.scratch.join("report.pdf"))) == Data("quarterly\n".utf8))
        #expect(try Data(contentsOf: URL(fileURLWithPath: fixture.scratch.join("reports/report.pdf"))) == Data("quarterly\n".utf8))
        #expect(StateLocation.directory("x").path == "x" && StateLocation.withoutRollbackDetection.path == nil)
    }
}

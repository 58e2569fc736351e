import CofferKit
import Foundation
import Testing

/// The getting-started article of the DocC catalog
/// (`Sources/CofferKit/CofferKit.docc/GettingStarted.md`), run as printed:
/// its one Swift block is the region between the markers below, and a
/// second test checks the two are the same text, so neither can drift.
@Suite("Getting started (DocC)")
struct GettingStartedTests {
    @Test("the article's code runs: the memo is sealed, shared, read back by alice and bob, and the vault verifies")
    func articleRuns() throws {
        let scratch = try ScratchDirectory()
        let directory = scratch.path
        // BEGIN GettingStarted
        // An identity: Ed25519, X25519 and X-Wing keys from one random seed, in
        // locked memory. Its file is encrypted under a passphrase (Argon2id).
        let alice = Identity.generate(name: "alice")
        let identityPath = directory + "/alice.identity"
        let passphrase = SecureBytes.copying(Array("correct horse battery staple".utf8))
        FileManager.default.createFile(
            atPath: identityPath, contents: Data(try IdentityFile.encode(alice, passphrase: passphrase)),
            attributes: [.posixPermissions: 0o600])

        // A vault: alice becomes its first administrator. The state directory is
        // where each identity remembers the ledger heads it saw (rollback
        // detection); `.standard` is the user's own, ~/.local/state/coffer.
        let vaultPath = directory + "/vault"
        let state = StateLocation.directory(directory + "/state")
        let vault = try Vault.create(at: vaultPath, creator: alice, stateDirectory: state)

        // Seal from memory: no plaintext file is written anywhere.
        let memo = try vault.seal(bytes: Array("board minutes".utf8), name: "minutes/2026-12.txt", label: "confidential")

        // A role cleared for the label, a member, and the document shared with it.
        let bob = Identity.generate(name: "bob")
        try vault.createRole(named: "board", clearance: "confidential")
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "board")
        try vault.share([memo.id.description], withRole: "board")

        // Later, in another process: load the identity, open the vault, read.
        // Every read is recorded in the ledger before any plaintext is returned.
        let loaded = try IdentityFile.load(from: identityPath) { passphrase }
        let minutes = try Vault.open(at: vaultPath, identity: loaded, stateDirectory: state)
            .contents(of: "minutes/2026-12.txt")

        // Bob reads it through the role's key.
        let bobsCopy = try Vault.open(at: vaultPath, identity: bob, stateDirectory: state)
            .contents(of: memo.id.description)

        // Anyone can check the vault without a key: the ledger's signatures and
        // chain, every object's hash, and the state remembered in `state`.
        let report = try VaultVerifier.verify(at: vaultPath, identity: nil, stateDirectory: state, deep: false)
        // END GettingStarted
        #expect(minutes == Array("board minutes".utf8) && bobsCopy == minutes)
        #expect(report.isClean, "\(report.findings)")
        var st = stat()
        #expect(stat(identityPath, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(loaded.fingerprint == alice.fingerprint)
    }

    @Test("the article shows exactly the code the test runs")
    func articleMatchesTest() throws {
        let testFile = URL(fileURLWithPath: #filePath)
        let root = testFile.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let article = try String(contentsOf: root.appendingPathComponent("Sources/CofferKit/CofferKit.docc/GettingStarted.md"), encoding: .utf8)
        let blocks = article.components(separatedBy: "```swift\n").dropFirst().map { $0.components(separatedBy: "```").first ?? "" }
        #expect(blocks.count == 1)
        let source = try String(contentsOf: testFile, encoding: .utf8)
        let region = try #require(source.components(separatedBy: "// BEGIN GettingStarted\n").dropFirst().first?.components(separatedBy: "        // END GettingStarted").first)
        // The test's copy is indented by eight spaces.
        let unindented = region.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasPrefix("        ") ? String($0.dropFirst(8)) : String($0) }
        #expect(unindented.joined(separator: "\n") == blocks.first ?? "")
    }
}

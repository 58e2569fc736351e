import Foundation
import Testing

@testable import CofferKit

/// Opening bundles with the library: the staging of extracted files.
@Suite("Bundle opening")
struct BundleOpenerTests {
    @Test("past the limit of unnamed files, the rest are staged under names, and the bundle opens the same")
    func unnamedLimit() throws {
        let fixture = try VaultFixture()
        let vault = try fixture.open()
        let names = (0..<5).map { "doc-\($0).txt" }
        for (index, name) in names.enumerated() {
            try vault.seal(paths: [try fixture.scratch.write(name, Array("document \(index)".utf8))])
        }
        let partner = AgeX25519Identity.generate()
        let bundle = fixture.scratch.join("out.age")
        let manifest = try vault.createBundle(
            BundleRequest(documents: names, recipients: [partner.recipient.encoded], output: .file(path: bundle, overwrite: false)))
        let sender = try MinisignPublicKey(base64: fixture.owner.publicIdentity.minisignPublicKey)
        for limit in [0, 2, 5] {
            let destination = fixture.scratch.join("opened-\(limit)")
            let opened = try BundleOpener.open(
                bundle, identities: [.x25519(partner)], sender: sender, destination: destination, unnamedLimit: limit)
            #expect(opened == manifest, "limit \(limit)")
            for (index, name) in names.enumerated() {
                let path = FileSystem.join(destination, name)
                #expect(FileManager.default.contents(atPath: path) == Data("document \(index)".utf8), "limit \(limit): \(name)")
            }
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: fixture.scratch.path).filter { $0.hasPrefix(".coffer") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }
}

import Foundation
import Testing

@testable import CofferKit

@Suite("DocumentName")
struct DocumentNameTests {
    @Test("names that could target a path outside the output folder are refused", arguments: [
        "", ".", "..", "/", "/etc/passwd", "../up", "a/../b", "a/..", "a//b", "a/", "./a", "a/./b", "a\u{0}b",
        String(repeating: "x", count: 4097),
    ])
    func refused(_ name: String) {
        #expect(throws: VaultError.self) { try DocumentName.check(name) }
        do {
            try DocumentName.check(name)
        } catch let error as VaultError {
            #expect(error.kind == .usage)
            guard case .unsafeName(let refused, _) = error else { Issue.record("unexpected \(error)"); return }
            #expect(refused == name)
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("ordinary names, folder paths, dots inside names and control characters are accepted", arguments: [
        "q3.pdf", "reports/q3.pdf", "...", "a..b", ".hidden", "dir/.hidden", "back\\slash", "bell\u{07}", "esc\u{1b}[31m",
        String(repeating: "x", count: 4096),
    ])
    func accepted(_ name: String) throws {
        try DocumentName.check(name)
    }

    @Test("seal refuses an unsafe --name before anything is sealed")
    func sealRefuses() throws {
        let fixture = try VaultFixture()
        let input = try fixture.scratch.write("input", Array("x".utf8))
        let vault = try fixture.open()
        for name in ["/", "..", ".", "", "a/../../b"] {
            #expect(throws: VaultError.unsafeName(name, reason: RelativePath.problem(name)!)) {
                try vault.seal(paths: [input], name: name)
            }
        }
        #expect(try fixture.open().list().documents.isEmpty)
    }

    @Test("sealing the folder .. names its files from inside it, never ../")
    func parentFolder() throws {
        let fixture = try VaultFixture()
        try fixture.scratch.write("tree/inner/placeholder", Array("p".utf8))
        try fixture.scratch.write("tree/top.txt", Array("t".utf8))
        let sealed = try fixture.open().seal(paths: [fixture.scratch.join("tree/inner/..")])
        #expect(sealed.map(\.name).sorted() == ["inner/placeholder", "top.txt"])
    }
}

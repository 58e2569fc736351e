import Foundation
import Testing

/// Direct I/O as an ordinary user would run Coffer: root may open any file
/// for writing, an ordinary user only files whose mode lets it, which is
/// what the second, direct descriptor of a read-only object needs.
@Suite("Direct I/O for an ordinary user")
struct DirectIOUserTests {
    /// The user the commands run as: `nobody` when the tests run as root
    /// (through `setpriv`), the current user otherwise.
    static let runAsNobody = getuid() == 0

    /// Bytes of `path` in the page cache (util-linux `fincore`).
    static func cachedBytes(_ cli: CLIHarness, _ path: String) throws -> Int {
        let result = try cli.execute("/usr/bin/fincore", ["--bytes", "--noheadings", "--output", "RES", path])
        guard result.status == 0, let bytes = Int(result.text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw HarnessError("fincore \(path): \(result.stderr)")
        }
        return bytes
    }

    @Test("an ordinary user's seal and open move whole segments around the page cache, and the vault verifies")
    func segmentsBypassTheCache() throws {
        let cli = try CLIHarness()
        let home = cli.path("user")
        try FileManager.default.createDirectory(atPath: home, withIntermediateDirectories: true)
        if Self.runAsNobody {
            #expect(chmod(cli.root, 0o755) == 0)
            #expect(chown(home, 65534, 65534) == 0)
        }
        let size = (9 << 20) + 1000  // two full segments and a partial one
        let content = pattern(size, seed: 9)
        try cli.write("user/input.bin", content)
        let environment = [
            "HOME": home, "COFFER_IDENTITY": home + "/identity.txt", "COFFER_VAULT": home + "/vault",
            "COFFER_STATE_DIR": home + "/state",
        ]
        func coffer(_ arguments: [String]) throws -> CLIHarness.Result {
            let result = Self.runAsNobody
                ? try cli.execute(
                    "/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "--", CLIHarness.binary] + arguments,
                    environment: environment)
                : try cli.execute(CLIHarness.binary, arguments, environment: environment)
            #expect(result.status == 0, "coffer \(arguments.joined(separator: " ")): \(result.stderr)")
            return result
        }
        _ = try coffer(["identity", "new", "--out", home + "/identity.txt", "--no-passphrase"])
        _ = try coffer(["init"])
        _ = try coffer(["seal", home + "/input.bin", "--name", "big"])

        let objects = home + "/vault/objects"
        let segments = try FileManager.default.subpathsOfDirectory(atPath: objects).map { objects + "/" + $0 }
            .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int).flatMap { $0 } ?? 0 > 4 << 20 }
        #expect(segments.count == 2)
        for segment in segments {
            #expect(try Self.cachedBytes(cli, segment) <= 4096, "\(segment)")  // at most the partial last page
            #expect(try FileManager.default.attributesOfItem(atPath: segment)[.posixPermissions] as? Int == 0o400)
        }

        _ = try coffer(["open", "big", "-o", home + "/opened.bin"])
        #expect(try Self.cachedBytes(cli, home + "/opened.bin") <= 4096)
        #expect(FileManager.default.contents(atPath: home + "/opened.bin") == content)
        _ = try coffer(["verify", "--deep"])
    }
}

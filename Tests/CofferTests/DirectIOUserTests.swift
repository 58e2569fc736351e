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

    /// Whether files under `directory` can bypass the page cache: direct
    /// I/O works there (a `dd oflag=direct` probe) and it is not a tmpfs,
    /// whose page cache is its storage.
    static func bypassesCache(_ cli: CLIHarness, _ directory: String) throws -> Bool {
        let type = try cli.execute("/usr/bin/stat", ["-f", "-c", "%T", directory]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        let probe = try cli.execute("/bin/dd", ["if=/dev/zero", "of=\(directory)/probe", "bs=4096", "count=1", "oflag=direct"])
        try? FileManager.default.removeItem(atPath: directory + "/probe")
        return type != "tmpfs" && probe.status == 0
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
        let checksCache = try Self.bypassesCache(cli, home)
        _ = try coffer(["identity", "new", "--out", home + "/identity.txt", "--no-passphrase"])
        _ = try coffer(["init"])
        _ = try coffer(["seal", home + "/input.bin", "--name", "big"])

        let objects = home + "/vault/objects"
        let segments = try FileManager.default.subpathsOfDirectory(atPath: objects).map { objects + "/" + $0 }
            .filter { (try? FileManager.default.attributesOfItem(atPath: $0)[.size] as? Int).flatMap { $0 } ?? 0 > 4 << 20 }
        #expect(segments.count == 2)
        for segment in segments {
            if checksCache { #expect(try Self.cachedBytes(cli, segment) <= 4096, "\(segment)") }  // at most the partial last page
            #expect(try FileManager.default.attributesOfItem(atPath: segment)[.posixPermissions] as? Int == 0o400)
        }

        _ = try coffer(["open", "big", "-o", home + "/opened.bin"])
        if checksCache { #expect(try Self.cachedBytes(cli, home + "/opened.bin") <= 4096) }
        #expect(FileManager.default.contents(atPath: home + "/opened.bin") == content)
        _ = try coffer(["verify", "--deep"])
    }
}

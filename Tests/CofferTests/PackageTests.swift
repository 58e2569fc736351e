import Foundation
import Testing

/// Issue 15, finding 10: the Debian package, installed with `dpkg -i` in a
/// clean Debian root (debootstrap), runs `coffer --version`, its bash
/// completion and the README walk-through there, with no Swift toolchain or
/// runtime in that root. `scripts/package --test` does the work; it takes
/// about 15 minutes (a release build with the Swift runtime linked in, and a
/// debootstrap the first time), needs root and the Debian mirror, so it runs
/// at `COFFER_TEST_LEVEL=full` only (docs/TESTING.md).
@Suite("Debian package")
struct PackageTests {
    @Test(
        "scripts/package --test: the package installs in a clean root and the walk-through passes there",
        .enabled(if: ProcessInfo.processInfo.environment["COFFER_TEST_LEVEL"] == "full" && getuid() == 0, "full level, as root"),
        .timeLimit(.minutes(60)))
    func installsInACleanRoot() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/bash")
        process.arguments = [root.appendingPathComponent("scripts/package").path, "--test"]
        process.currentDirectoryURL = root
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(text.suffix(4000))")
        #expect(text.contains("no Swift toolchain") && text.contains("no Swift runtime"), "\(text.suffix(4000))")
        #expect(text.contains("0.1.0 (commit ") && text.contains("-F _coffer coffer") && text.contains("demo complete"), "\(text.suffix(4000))")
    }
}

import CofferTestSupport
import Foundation
import Testing

/// `-o` at a device, a FIFO or a symbolic link, through the real binary:
/// devices and FIFOs are written in place and stay what they are (as
/// `age -d -o /dev/null` does), links are refused, `--force` or not.
@Suite("Outputs that are devices, FIFOs or links")
struct DeviceOutputTests {
    /// Runs `arguments` (which write to `fifo`) while `cat` reads the FIFO;
    /// returns the command's result and what came through.
    static func throughFIFO(_ cli: CLIHarness, _ fifo: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (CLIHarness.Result, Data) {
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = ChildProcess()
        reader.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
        reader.arguments = ["-s", "KILL", "\(HostileTreeTests.prompt)", "/bin/cat", fifo]
        let output = Pipe()
        reader.standardOutput = output
        try reader.run()
        let result = try cli.run(arguments, timeout: HostileTreeTests.prompt, environment: environment)
        let data = output.fileHandleForReading.readDataToEndOfFile()
        reader.waitUntilExit()
        #expect(HostileTreeTests.kind(fifo) == S_IFIFO, "\(fifo) is no longer a FIFO")
        return (result, data)
    }

    @Test("open -o FIFO --force writes into the FIFO and leaves it a FIFO")
    func openToFIFO() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let (result, data) = try Self.throughFIFO(cli, cli.path("out.fifo"), ["open", "doc.txt", "-o", cli.path("out.fifo"), "--force"])
        #expect(result.status == Exit.ok, "\(result.stderr)")
        #expect(data == Data("stored safely\n".utf8))
    }

    @Test("age decrypt -o, age encrypt -o, sign -x and audit export -o write into a FIFO in place")
    func otherWritersToFIFO() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let passphrase = ["COFFER_PASSPHRASE": "correct horse"]
        #expect(try cli.run(["age", "encrypt", "-p", "-o", cli.path("doc.age"), cli.path("doc.txt")], environment: passphrase).status == Exit.ok)
        var (result, data) = try Self.throughFIFO(cli, cli.path("a.fifo"), ["age", "decrypt", "-p", "-o", cli.path("a.fifo"), cli.path("doc.age")], environment: passphrase)
        #expect(result.status == Exit.ok, "\(result.stderr)")
        #expect(data == Data("stored safely\n".utf8))
        (result, data) = try Self.throughFIFO(cli, cli.path("e.fifo"), ["age", "encrypt", "-p", "-o", cli.path("e.fifo"), "--force", cli.path("doc.txt")], environment: passphrase)
        #expect(result.status == Exit.ok, "\(result.stderr)")
        #expect(data.starts(with: Data("age-encryption.org/v1".utf8)))
        (result, data) = try Self.throughFIFO(cli, cli.path("s.fifo"), ["sign", cli.path("doc.txt"), "-x", cli.path("s.fifo"), "--force"])
        #expect(result.status == Exit.ok, "\(result.stderr)")
        #expect(data.starts(with: Data("untrusted comment:".utf8)))
        (result, data) = try Self.throughFIFO(cli, cli.path("x.fifo"), ["audit", "export", "-o", cli.path("x.fifo")])
        #expect(result.status == Exit.ok, "\(result.stderr)")
        #expect(!data.isEmpty)
    }

    @Test("open -o /dev/null, with and without --force, leaves /dev/null a character device (as root)", .enabled(if: getuid() == 0))
    func openToDevNull() throws {
        let cli = try ErrorTests.vaultWithDocument()
        defer {
            // Never leave the machine without its /dev/null, even if Coffer broke it.
            if HostileTreeTests.kind("/dev/null") != S_IFCHR { _ = try? cli.execute("/bin/sh", ["-c", "rm -f /dev/null; mknod -m 666 /dev/null c 1 3"]) }
        }
        for extra in [[], ["--force"]] {
            let result = try cli.run(["open", "doc.txt", "-o", "/dev/null"] + extra, timeout: HostileTreeTests.prompt)
            #expect(result.status == Exit.ok, "\(extra): \(result.stderr)")
            #expect(HostileTreeTests.kind("/dev/null") == S_IFCHR, "/dev/null is no longer a character device")
        }
    }

    @Test("a symbolic link as output is refused (exit 7), --force or not; link and target are untouched")
    func linkOutputRefused() throws {
        let cli = try ErrorTests.vaultWithDocument()
        let target = try cli.write("target.txt", Data("precious\n".utf8))
        let link = cli.path("link.txt")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        for arguments in [["open", "doc.txt", "-o", link], ["open", "doc.txt", "-o", link, "--force"], ["audit", "export", "-o", link, "--force"]] {
            let result = try cli.run(arguments, timeout: HostileTreeTests.prompt)
            #expect(result.status == Exit.conflict, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("symbolic link"), "\(result.stderr)")
            #expect(HostileTreeTests.kind(link) == S_IFLNK)
            #expect(try Data(contentsOf: URL(fileURLWithPath: target)) == Data("precious\n".utf8))
        }
    }
}

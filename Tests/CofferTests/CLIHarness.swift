import CofferTestSupport
import Foundation
import Testing

/// Drives the real `coffer` binary (built next to this test bundle) in a
/// scratch home directory: its own vault, identity, state directory and
/// environment, standard input never a terminal.
final class CLIHarness {
    /// The scratch directory; removed on release.
    let root: String
    /// The environment every command gets.
    var environment: [String: String]

    /// The built binary: beside the test bundle, or `$COFFER_BINARY`.
    static let binary: String = {
        if let override = ProcessInfo.processInfo.environment["COFFER_BINARY"], !override.isEmpty { return override }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = bundle.deletingLastPathComponent()
        // On Linux the test runner is `<products>/CofferPackageTests.xctest`.
        if !FileManager.default.isExecutableFile(atPath: directory.appendingPathComponent("coffer").path) {
            directory = directory.deletingLastPathComponent()
        }
        return directory.appendingPathComponent("coffer").path
    }()

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/coffer-cli-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        root = String(cString: made)
        environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            "HOME": root + "/home",
            "COFFER_STATE_DIR": root + "/state",
            "COFFER_VAULT": root + "/vault",
            "COFFER_IDENTITY": root + "/home/identity.txt",
            "LANG": "C.UTF-8",
        ]
        try FileManager.default.createDirectory(atPath: root + "/home", withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
    }

    /// A path inside the scratch directory.
    func path(_ relative: String) -> String { root + "/" + relative }

    /// The outcome of one command.
    struct Result {
        let status: Int32
        let stdout: Data
        let stderr: String
        var text: String { String(decoding: stdout, as: UTF8.self) }
        /// Parses standard output as JSON.
        func json() throws -> Any { try JSONSerialization.jsonObject(with: stdout) }
    }

    /// Runs `coffer arguments…`, optionally feeding `stdin` and applying a
    /// shell `ulimit -f` (in KiB) to the process.
    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil, fileSizeLimitKiB: Int? = nil, environment extra: [String: String] = [:]) throws -> Result {
        if let limit = fileSizeLimitKiB {
            return try execute(
                "/bin/sh", ["-c", "ulimit -f \(limit) && exec \"$0\" \"$@\"", Self.binary] + arguments, stdin: stdin, environment: extra)
        }
        return try execute(Self.binary, arguments, stdin: stdin, environment: extra)
    }

    /// Runs `coffer arguments…` killed (SIGKILL, status 137) if it runs
    /// longer than `seconds`: for commands that must not block, so that a
    /// hang fails the test instead of stalling the suite.
    @discardableResult
    func run(_ arguments: [String], timeout seconds: Int, environment extra: [String: String] = [:]) throws -> Result {
        try execute("/usr/bin/timeout", ["-s", "KILL", "\(seconds)", Self.binary] + arguments, environment: extra)
    }

    /// Starts `coffer arguments` (output discarded) and returns at once:
    /// for a command that runs beside another (`waitUntilExit()` it).
    func start(_ arguments: [String]) throws -> ChildProcess {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = arguments
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Microseconds one complete, successful run of `coffer arguments`
    /// takes: the span in which a kill test picks its moments, so that the
    /// kills land inside the command on a loaded machine as on an idle one.
    func duration(of arguments: [String]) throws -> UInt32 {
        let start = DispatchTime.now().uptimeNanoseconds
        try ok(arguments)
        return UInt32(clamping: (DispatchTime.now().uptimeNanoseconds - start) / 1_000)
    }

    /// Kills `coffer arguments` like `kill(_:after:)`, at a random moment
    /// within the first 90 % of `span` (from `duration(of:)`).
    @discardableResult
    func kill(_ arguments: [String], within span: UInt32) throws -> Bool {
        try kill(arguments, after: UInt32.random(in: 1_000...max(2_000, span / 10 * 9)))
    }

    /// Starts `coffer arguments` (output discarded), sends it SIGKILL after
    /// `microseconds`, and waits for it. Returns true if the kill landed
    /// while it was still running.
    @discardableResult
    func kill(_ arguments: [String], after microseconds: UInt32) throws -> Bool {
        let process = try start(arguments)
        usleep(microseconds)
        Foundation.kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        return process.terminationReason == .uncaughtSignal
    }

    /// Runs any program (the stock age, minisign, script) in the scratch
    /// directory with the harness's environment plus `extra`.
    @discardableResult
    func execute(_ executable: String, _ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:]) throws -> Result {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment.merging(extra) { $1 }
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        // Feed stdin from another thread so large inputs cannot deadlock with output.
        if let stdin {
            let writer = input.fileHandleForWriting
            Thread {
                writer.write(stdin)
                try? writer.close()
            }.start()
        }
        let stderrBox = DataBox()
        let stderrDone = DispatchSemaphore(value: 0)
        Thread {
            stderrBox.data = errors.fileHandleForReading.readDataToEndOfFile()
            stderrDone.signal()
        }.start()
        let stdoutData = output.fileHandleForReading.readDataToEndOfFile()
        stderrDone.wait()
        process.waitUntilExit()
        // A death by signal N reads as 128 + N, as in a shell, never as an exit code.
        let status = process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
        return Result(status: status, stdout: stdoutData, stderr: String(decoding: stderrBox.data, as: UTF8.self))
    }

    /// Runs a command that must succeed.
    @discardableResult
    func ok(_ arguments: [String], stdin: Data? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> Result {
        let result = try run(arguments, stdin: stdin)
        #expect(result.status == 0, "coffer \(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        if result.status != 0 { throw HarnessError("coffer \(arguments.joined(separator: " ")) exited \(result.status): \(result.stderr)") }
        return result
    }

    /// Creates an unencrypted identity at `$COFFER_IDENTITY`.
    /// - Returns: its public identity (`coffer1…`).
    @discardableResult
    func newIdentity(name: String = "alice") throws -> String {
        let created = try ok(["identity", "new", "--out", environment["COFFER_IDENTITY"]!, "--name", name, "--no-passphrase", "--json"])
        guard let shown = try created.json() as? [String: Any], let identity = shown["identity"] as? String else {
            throw HarnessError("identity new --json printed no identity")
        }
        return identity
    }

    /// Creates an unencrypted identity and a vault.
    func initVault(name: String = "alice") throws {
        try ok(["identity", "new", "--out", environment["COFFER_IDENTITY"]!, "--name", name, "--no-passphrase"])
        try ok(["init"])
    }

    /// Creates another person's unencrypted identity file; returns its path
    /// (for `COFFER_IDENTITY`) and public identity (`coffer1…`).
    func person(_ name: String) throws -> (file: String, publicIdentity: String) {
        let file = path("home/\(name).txt")
        let created = try ok(["identity", "new", "--out", file, "--name", name, "--no-passphrase", "--json"])
        guard let shown = try created.json() as? [String: Any], let identity = shown["identity"] as? String else {
            throw HarnessError("identity new --json printed no identity")
        }
        return (file, identity)
    }

    /// Runs a command as the person whose identity file is `identityFile`.
    @discardableResult
    func run(as identityFile: String, _ arguments: [String]) throws -> Result {
        try run(arguments, environment: ["COFFER_IDENTITY": identityFile])
    }

    /// Opens `folder` (a name ending in `/`) as the person whose identity
    /// file is `identityFile`, into a scratch folder it then removes.
    /// - Returns: the command's result and the tree it wrote, by path below
    ///   `folder` (empty if the command failed). `open FOLDER/` opens what
    ///   that person can read, so a document they cannot read is missing.
    func openTree(_ folder: String, as identityFile: String) throws -> (result: Result, tree: [String: Data]) {
        let destination = path("opened-tree")
        defer { try? FileManager.default.removeItem(atPath: destination) }
        let result = try run(as: identityFile, ["open", folder, "-o", destination])
        return (result, result.status == Exit.ok ? try OpenFolderTests.files(below: destination) : [:])
    }

    /// Writes a file inside the scratch directory.
    @discardableResult
    func write(_ relative: String, _ data: Data) throws -> String {
        let target = path(relative)
        try FileManager.default.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: target))
        return target
    }

    /// Every object file in the vault.
    func objectFiles() throws -> [String] {
        let objects = path("vault/objects")
        return try FileManager.default.subpathsOfDirectory(atPath: objects)
            .filter { $0.count == 2 + 1 + 64 }
            .map { objects + "/" + $0 }
    }
}

/// Exit codes from docs/CLI.md.
enum Exit {
    static let ok: Int32 = 0, usage: Int32 = 2, authentication: Int32 = 3, accessDenied: Int32 = 4
    static let integrity: Int32 = 5, notFound: Int32 = 6, conflict: Int32 = 7, io: Int32 = 8, concurrentChange: Int32 = 9
}

/// Carries bytes out of a reader thread (the semaphore orders the accesses).
private final class DataBox: @unchecked Sendable {
    var data = Data()
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Deterministic pseudo-random bytes.
func pattern(_ count: Int, seed: UInt64 = 42) -> Data {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        bytes[i] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return Data(bytes)
}

/// Flips one byte of a file in place (the file may be read-only).
func flipByte(in path: String, at offset: Int) throws {
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    bytes[offset] ^= 0x01
    chmod(path, 0o644)
    try bytes.write(to: URL(fileURLWithPath: path))
    chmod(path, 0o444)
}

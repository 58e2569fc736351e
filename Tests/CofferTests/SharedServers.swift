import CofferTestSupport
import Foundation

/// A throwaway PostgreSQL and Ceph radosgw that `scripts/servers` started
/// (issue 13), as the CLI tests reach them: the ones `scripts/test` starts
/// for the whole run (``test()``, from the environment; a test that needs
/// them fails, never skips, when they are missing), or a test's own
/// (``start()``, for tests that stop and restart them).
struct SharedServers: Sendable {
    /// The settings a `coffer` process needs to reach both servers.
    static let variables = [
        "COFFER_TEST_POSTGRES", "COFFER_TEST_POSTGRES_TLS", "COFFER_TEST_OTHER_CA",
        "AWS_ENDPOINT_URL", "AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    ]

    /// The servers' settings, to add to a command's environment.
    let settings: [String: String]
    /// The directory `scripts/servers start` made, for a test's own servers.
    let directory: String?

    /// The servers `scripts/test` started, from this process's environment.
    static func test() throws -> SharedServers {
        let environment = ProcessInfo.processInfo.environment
        var settings: [String: String] = [:]
        for name in variables {
            guard let value = environment[name], !value.isEmpty else {
                throw HarnessError("\(name) is not set: run the tests through scripts/test, which starts PostgreSQL and Ceph radosgw (scripts/servers)")
            }
            settings[name] = value
        }
        return SharedServers(settings: settings, directory: nil)
    }

    /// `scripts/servers` in this checkout.
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/servers").path

    /// Starts a new pair of servers for one test (about 13 s); ``stop()`` them.
    static func start() throws -> SharedServers {
        var template = Array((NSTemporaryDirectory() + "/coffer-servers-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw HarnessError("mkdtemp failed") }
        let directory = String(cString: made)
        _ = try run(script, ["start", directory])
        var settings: [String: String] = [:]
        let env = try String(contentsOfFile: directory + "/env", encoding: .utf8)
        for match in env.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            let pair = match.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            settings[String(pair[0])] = String(pair[1]).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        }
        guard Set(variables).isSubset(of: settings.keys) else { throw HarnessError("scripts/servers wrote \(settings.keys.sorted())") }
        return SharedServers(settings: settings.filter { variables.contains($0.key) }, directory: directory)
    }

    /// Runs `scripts/servers COMMAND DIR` on this test's own servers
    /// (`stop`, `restart-postgres`, `kill-s3`, `start-s3`).
    func control(_ command: String) throws {
        guard let directory else { throw HarnessError("only a test's own servers are stopped or restarted") }
        _ = try Self.run(Self.script, [command, directory])
    }

    /// The libpq URI of the test database (no password: the server trusts the loopback).
    func database() -> String {
        settings["COFFER_TEST_POSTGRES"]!
    }

    /// Creates a new bucket for one test; returns its name.
    func newBucket() throws -> String {
        let bucket = "coffer-cli-" + UUID().uuidString.prefix(12).lowercased()
        let created = try curl(["-X", "PUT", "\(settings["AWS_ENDPOINT_URL"]!)/\(bucket)"])
        guard created == "200" else { throw HarnessError("creating bucket \(bucket) answered HTTP \(created)") }
        return bucket
    }

    /// Runs `curl` signing as the test user, as a bucket operator (or any
    /// other client holding the keys) can; returns the HTTP status.
    /// - Parameter payloadHash: the hex SHA-256 of the body sent (radosgw
    ///   insists on `x-amz-content-sha256`); the empty body's by default.
    @discardableResult
    func curl(_ arguments: [String], payloadHash: String = emptySHA256) throws -> String {
        try curlWithBody(arguments, payloadHash: payloadHash).status
    }

    /// ``curl(_:payloadHash:)``, also returning the response's body.
    func curlWithBody(_ arguments: [String], payloadHash: String = emptySHA256) throws -> (status: String, body: String) {
        let bodyFile = NSTemporaryDirectory() + "/coffer-curl-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: bodyFile) }
        let status = try Self.run("/usr/bin/curl", ["-s", "-o", bodyFile, "-w", "%{http_code}", "--aws-sigv4", "aws:amz:\(settings["AWS_REGION"]!):s3",
                                               "--user", "\(settings["AWS_ACCESS_KEY_ID"]!):\(settings["AWS_SECRET_ACCESS_KEY"]!)",
                                               "-H", "x-amz-content-sha256: \(payloadHash)"] + arguments)
        return (status, (try? String(contentsOfFile: bodyFile, encoding: .utf8)) ?? "")
    }

    /// The S3 endpoint.
    func endpoint() -> String { settings["AWS_ENDPOINT_URL"]! }

    /// Every key in `bucket` (ListObjectsV2, one page: the tests' buckets are small).
    func objectKeys(in bucket: String) throws -> [String] {
        let (status, body) = try curlWithBody(["\(endpoint())/\(bucket)?list-type=2"])
        guard status == "200" else { throw HarnessError("listing \(bucket) answered HTTP \(status)") }
        return body.components(separatedBy: "<Key>").dropFirst().compactMap { $0.components(separatedBy: "</Key>").first }
    }

    /// Turns versioning on for `bucket`.
    func enableVersioning(_ bucket: String) throws {
        let file = NSTemporaryDirectory() + "/coffer-versioning-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: file) }
        try Data(#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        // `versioning=`: curl 7.88 signs a bare `?versioning` wrongly.
        let status = try curl(["-X", "PUT", "--data-binary", "@\(file)", "\(endpoint())/\(bucket)?versioning="], payloadHash: try Self.sha256(ofFile: file))
        guard status == "200" else { throw HarnessError("enabling versioning on \(bucket) answered HTTP \(status)") }
    }

    /// The hex SHA-256 of a file (`sha256sum`).
    static func sha256(ofFile path: String) throws -> String {
        String(try Self.run("/usr/bin/sha256sum", [path]).prefix(64))
    }

    /// Runs a tool; returns its standard output.
    /// - Throws: if it exits non-zero.
    static func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("\(tool) exited \(process.terminationStatus)") }
        return text
    }

    /// SHA-256 of no bytes.
    static let emptySHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// Runs SQL with `psql` on the test database, as its operator can; returns what it printed.
    @discardableResult
    func psql(_ sql: String) throws -> String {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/psql")
        process.arguments = ["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", database(), "-c", sql]
        let output = Pipe(), errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let problems = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw HarnessError("psql exited \(process.terminationStatus): \(problems)") }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

import Crypto
import CofferTestSupport
import Foundation
import Testing

@testable import CofferKit

/// Where the shared conformance vectors live, and small helpers the age and
/// Wycheproof suites share.
enum TestSupport {
    /// `$COFFER_VECTORS_DIR` if set, else `Tests/Vectors/` of this
    /// repository (this file is `<root>/Tests/CofferKitTests/Age/TestSupport.swift`):
    /// the committed conformance vectors, with their licence notes.
    static let vectorsDirectory: URL = {
        if let override = ProcessInfo.processInfo.environment["COFFER_VECTORS_DIR"], !override.isEmpty {
            return URL(fileURLWithPath: override, isDirectory: true)
        }
        var tests = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { tests.deleteLastPathComponent() }
        return tests.appendingPathComponent("Vectors", isDirectory: true)
    }()

    /// Reads a file as bytes.
    static func read(_ url: URL) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: url))
    }

    /// Inflates a zlib stream with the system's Python (the CCTV vectors
    /// compress their large payloads; 22 of 124 need it). Python's zlib is
    /// the reference inflate, and this keeps test-only C targets out of the
    /// package.
    static func zlibInflate(_ compressed: [UInt8]) throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("coffer-inflate-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let input = directory.appendingPathComponent("in.z")
        let output = directory.appendingPathComponent("out")
        try Data(compressed).write(to: input)
        let result = try run(
            "/usr/bin/env",
            ["python3", "-c", "import sys, zlib; open(sys.argv[2], 'wb').write(zlib.decompress(open(sys.argv[1], 'rb').read()))",
             input.path, output.path])
        guard result.status == 0 else { throw TestFailure("python3 zlib inflate failed: \(result.stderr)") }
        return try read(output)
    }

    /// The result of running a program.
    struct RunResult {
        /// Exit status.
        var status: Int32
        /// Standard output as text.
        var stdout: String
        /// Standard error as text.
        var stderr: String
    }

    /// Runs `executable` with `arguments`, stdin from `stdin` (or /dev/null), capturing
    /// stdout and stderr (read to the end before waiting, so a chatty child
    /// cannot block on a full pipe).
    static func run(_ executable: String, _ arguments: [String], stdin: Data? = nil) throws -> RunResult {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        if let stdin {
            // Small inputs only (passphrases): they fit in the pipe buffer.
            input.fileHandleForWriting.write(stdin)
            try input.fileHandleForWriting.close()
        }
        // stderr is small; read stdout fully, then stderr, then wait.
        let stdoutData = out.fileHandleForReading.readDataToEndOfFile()
        let stderrData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return RunResult(
            status: process.terminationStatus,
            stdout: String(decoding: stdoutData, as: UTF8.self),
            stderr: String(decoding: stderrData, as: UTF8.self))
    }

    /// A fresh temporary directory; the caller removes it.
    static func temporaryDirectory() throws -> URL {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("coffer-age-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    /// Deterministic test bytes (a seeded xorshift), so failures reproduce.
    static func bytes(count: Int, seed: UInt64) -> [UInt8] {
        var state = seed | 1
        return (0..<count).map { _ in
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }
}

/// A passphrase or other test secret in locked memory.
func secure(_ text: String) -> SecureBytes {
    Array(text.utf8).withUnsafeBytes { SecureBytes(copying: $0) }
}

/// A failure inside test plumbing.
struct TestFailure: Error, CustomStringConvertible {
    /// What went wrong.
    var description: String
    /// Wraps a message.
    init(_ description: String) { self.description = description }
}

extension Array where Element == UInt8 {
    /// Bytes from a hex string (test vectors); traps on malformed input.
    init(hex: String) {
        let digits = Array(hex.utf8)
        precondition(digits.count % 2 == 0, "odd-length hex")
        func value(_ c: UInt8) -> UInt8 {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: preconditionFailure("not hex")
            }
        }
        self = stride(from: 0, to: digits.count, by: 2).map { value(digits[$0]) << 4 | value(digits[$0 + 1]) }
    }

    /// Lower-case hex.
    var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(count * 2)
        for byte in self {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// A sink that keeps only the SHA-256 of what it receives, and the count.
struct HashingSink: AgeSink {
    private var hash = SHA256()
    /// Bytes received.
    private(set) var count = 0

    /// Absorbs `bytes`.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        hash.update(bufferPointer: bytes)
        count += bytes.count
    }

    /// The hex digest of everything received.
    mutating func hexDigest() -> String {
        Array(hash.finalize()).hex
    }
}

/// A source that hands out bytes in small, varying pieces, to exercise the
/// buffering of every reader.
struct TricklingSource: AgeSource {
    private let bytes: [UInt8]
    private var offset = 0
    private var step: UInt64

    /// A source over `bytes` with read sizes drawn from `seed`.
    init(_ bytes: [UInt8], seed: UInt64) {
        self.bytes = bytes
        step = seed | 1
    }

    /// Copies 1…4099 bytes (pseudo-randomly) into `buffer`.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        step = step &* 6364136223846793005 &+ 1442695040888963407
        let want = Int(step >> 33) % 4099 + 1
        let n = Swift.min(want, buffer.count, bytes.count - offset)
        guard n > 0 else { return 0 }
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
        offset += n
        return n
    }
}

extension AgeError {
    /// The CCTV outcome class of this error, or nil for API errors.
    var cctvClass: String? {
        switch self {
        case .header: "header failure"
        case .noMatch: "no match"
        case .headerMAC: "HMAC failure"
        case .payload: "payload failure"
        case .armor: "armor failure"
        case .invalidRecipient, .invalidIdentity, .invalidUse: nil
        }
    }
}

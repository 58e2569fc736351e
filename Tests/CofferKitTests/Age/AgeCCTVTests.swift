import Foundation
import Testing

@testable import CofferKit

/// One C2SP CCTV age vector: `key: value` lines, an empty line, the file.
struct CCTVVector: Sendable {
    /// The file name.
    var name: String
    /// `success`, `header failure`, …
    var expect: String
    /// Hex SHA-256 of all plaintext released, when given.
    var payload: String?
    /// Identity strings, in order.
    var identities: [String] = []
    /// Passphrases, in order.
    var passphrases: [String] = []
    /// Whether the file is armored.
    var armored = false
    /// The age file (inflated if it was compressed).
    var file: [UInt8]

    /// The keys this runner understands; a vector with another key would be
    /// skipped (the CCTV rule), and the count assertions would catch it.
    static let knownKeys: Set<String> = ["expect", "payload", "file key", "identity", "passphrase", "armored", "compressed", "comment"]

    /// Loads a vector; nil if it has a key this runner does not know.
    static func load(_ url: URL) throws -> CCTVVector? {
        let bytes = try TestSupport.read(url)
        guard let split = bytes.indices.first(where: { bytes[$0] == 0x0A && $0 + 1 < bytes.count && bytes[$0 + 1] == 0x0A }) else {
            throw TestFailure("\(url.lastPathComponent): no blank line after the metadata")
        }
        var vector = CCTVVector(name: url.lastPathComponent, expect: "", file: Array(bytes[(split + 2)...]))
        var compressed = false
        for line in String(decoding: bytes[..<split], as: UTF8.self).split(separator: "\n") {
            guard let colon = line.range(of: ": ") else { throw TestFailure("\(vector.name): bad line \(line)") }
            let key = String(line[..<colon.lowerBound])
            let value = String(line[colon.upperBound...])
            guard knownKeys.contains(key) else { return nil }
            switch key {
            case "expect": vector.expect = value
            case "payload": vector.payload = value
            case "identity": vector.identities.append(value)
            case "passphrase": vector.passphrases.append(value)
            case "armored": vector.armored = value == "yes"
            case "compressed":
                guard value == "zlib" else { return nil }
                compressed = true
            default: break
            }
        }
        if compressed { vector.file = try TestSupport.zlibInflate(vector.file) }
        return vector
    }
}

/// The C2SP CCTV age conformance vectors, read at run time from
/// `shared/age-cctv/`.
@Suite("age CCTV conformance vectors")
struct AgeCCTVTests {
    static let directory = TestSupport.vectorsDirectory.appendingPathComponent("age-cctv", isDirectory: true)

    /// Every vector file name, sorted.
    static let allNames: [String] = {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }()

    /// The post-quantum hybrid vectors (ML-KEM-768 + X25519): 18 names
    /// start with `hybrid`, the 19th is `armor_hybrid` (an
    /// `AGE-SECRET-KEY-PQ-1…` identity inside armor).
    static func isHybrid(_ name: String) -> Bool { name.contains("hybrid") }

    @Test("the directory holds 143 vectors, 19 of them hybrid, with the expected classes; every one runs")
    func counts() throws {
        #expect(Self.allNames.count == 143, "vectors found in \(Self.directory.path)")
        let hybrid = Self.allNames.filter(Self.isHybrid)
        #expect(hybrid.count == 19)
        #expect(hybrid.filter { $0.hasPrefix("hybrid") }.count == 18)
        var classes: [String: Int] = [:]
        var hybridClasses: [String: Int] = [:]
        for name in Self.allNames {
            let vector = try #require(try CCTVVector.load(Self.directory.appendingPathComponent(name)), "\(name) has an unknown key")
            classes[vector.expect, default: 0] += 1
            if Self.isHybrid(name) { hybridClasses[vector.expect, default: 0] += 1 }
        }
        #expect(hybridClasses == ["success": 5, "header failure": 9, "no match": 5])
        #expect(classes == [
            "success": 26, "header failure": 62, "armor failure": 22,
            "payload failure": 19, "no match": 13, "HMAC failure": 1,
        ])
    }

    /// The vector's identities: its secret keys (X25519 or post-quantum), then its passphrases.
    static func identities(of vector: CCTVVector) throws -> [AgeIdentity] {
        try vector.identities.map(AgeIdentity.init(secretKey:)) + vector.passphrases.map { .scrypt(passphrase: secure($0)) }
    }

    @Test("vector", arguments: allNames)
    func vector(_ name: String) throws {
        let vector = try #require(try CCTVVector.load(Self.directory.appendingPathComponent(name)))
        let identities = try Self.identities(of: vector)
        var sink = HashingSink()
        var outcome: String
        var detail = ""
        do {
            let decryptor = try AgeDecryptor(
                source: AgeBytesSource(vector.file), identities: identities, format: vector.armored ? .armored : .binary)
            try decryptor.decrypt(to: &sink)
            outcome = "success"
        } catch let error as AgeError {
            outcome = error.cctvClass ?? "unexpected \(error)"
            detail = error.description
        }
        #expect(outcome == vector.expect, "\(name): \(detail)")
        if let payload = vector.payload {
            #expect(sink.hexDigest() == payload, "\(name): hash of the \(sink.count) plaintext bytes released")
        }
    }

    @Test("automatic format detection agrees with the vectors' armored flag", arguments: allNames)
    func detection(_ name: String) throws {
        let vector = try #require(try CCTVVector.load(Self.directory.appendingPathComponent(name)))
        guard vector.expect == "success" else { return }
        let identities = try Self.identities(of: vector)
        let decryptor = try AgeDecryptor(source: AgeBytesSource(vector.file), identities: identities)
        var sink = HashingSink()
        try decryptor.decrypt(to: &sink)
        #expect(sink.hexDigest() == vector.payload)
    }
}

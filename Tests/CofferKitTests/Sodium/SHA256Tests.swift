import CSodium
import Foundation
import Testing

@testable import CofferKit

/// SHA-256 on every implementation this processor runs (the SHA extensions
/// and libsodium's portable code), against the FIPS 180-4 examples and
/// against libsodium's one-shot `crypto_hash_sha256`.
@Suite struct SHA256Tests {
    /// The implementations under test: each one this processor can run.
    static let implementations = SHA256.Implementation.allCases.filter(\.isAvailable)

    /// A message and its published digest.
    struct Example: Sendable, CustomTestStringConvertible {
        /// What the example is called in test output.
        var name: String
        /// The message.
        var message: [UInt8]
        /// The digest, lowercase hex.
        var digest: String

        /// The name, for test output.
        var testDescription: String { name }
    }

    /// The NIST examples for FIPS 180-4 (one block, two blocks, the 896-bit
    /// message, one million "a"), and the empty message.
    static let examples = [
        Example(name: "empty", message: [], digest: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        Example(name: "abc", message: Array("abc".utf8), digest: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        Example(
            name: "448 bits",
            message: Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8),
            digest: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        Example(
            name: "896 bits",
            message: Array(("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                + "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").utf8),
            digest: "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
        Example(
            name: "one million a",
            message: [UInt8](repeating: 0x61, count: 1_000_000),
            digest: "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"),
    ]

    @Test("published examples, in one piece and in pieces of 1…127 bytes", arguments: implementations, examples)
    func publishedExample(implementation: SHA256.Implementation, example: Example) {
        #expect(SHA256.hash(example.message, implementation: implementation).hex == example.digest)
        var hash = SHA256(implementation: implementation)
        var offset = 0
        var piece = 1
        while offset < example.message.count {
            let end = min(offset + piece, example.message.count)
            example.message[offset..<end].withUnsafeBytes { hash.update($0) }
            offset = end
            piece = piece % 127 + 1
        }
        #expect(hash.finalize().hex == example.digest)
    }

    @Test("every length 0…300, whole and split in two, matches libsodium", arguments: implementations)
    func everyShortLength(implementation: SHA256.Implementation) {
        let seed = UInt64.random(in: 1...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        for length in 0...300 {
            let message = patternBytes(length, seed: generator.next())
            let expected = Self.sodiumDigest(message)
            #expect(SHA256.hash(message, implementation: implementation) == expected, "length \(length), seed \(seed)")
            let split = Int.random(in: 0...length, using: &generator)
            var hash = SHA256(implementation: implementation)
            message[..<split].withUnsafeBytes { hash.update($0) }
            message[split...].withUnsafeBytes { hash.update($0) }
            #expect(hash.finalize() == expected, "length \(length) split at \(split), seed \(seed)")
        }
    }

    @Test("random sizes up to 1 MiB in random update() pieces match libsodium", arguments: implementations)
    func randomPieces(implementation: SHA256.Implementation) {
        let seed = UInt64.random(in: 1...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<24 {
            let message = patternBytes(Int.random(in: 301...(1 << 20), using: &generator), seed: generator.next())
            var hash = SHA256(implementation: implementation)
            var offset = 0
            var pieces = 0
            while offset < message.count {
                // Mostly pieces around a block, some empty, some far larger.
                let size = Bool.random(using: &generator)
                    ? Int.random(in: 0...130, using: &generator) : Int.random(in: 0...70_000, using: &generator)
                let end = min(offset + size, message.count)
                message[offset..<end].withUnsafeBytes { hash.update($0) }
                pieces += 1
                offset = end
            }
            #expect(hash.finalize() == Self.sodiumDigest(message),
                    "\(message.count) bytes in \(pieces) pieces, seed \(seed)")
        }
    }

    #if arch(x86_64) && os(Linux)
    @Test("the SHA extensions are used exactly when the processor reports sha_ni")
    func detection() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flags = cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? []
        let reported = flags.contains("sha_ni") && flags.contains("sse4_1") && flags.contains("ssse3")
        #expect(SHA256.Implementation.shaExtensions.isAvailable == reported)
        #expect(SHA256.Implementation.fastest == (reported ? .shaExtensions : .sodium))
    }
    #endif

    /// libsodium's one-shot SHA-256 of `message`, called directly.
    static func sodiumDigest(_ message: [UInt8]) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: Int(crypto_hash_sha256_BYTES))
        message.withUnsafeBufferPointer { input in
            digest.withUnsafeMutableBufferPointer { output in
                _ = crypto_hash_sha256(output.baseAddress!, input.baseAddress, UInt64(input.count))
            }
        }
        return digest
    }
}

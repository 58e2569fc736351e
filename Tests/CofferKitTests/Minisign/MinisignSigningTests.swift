import Foundation
import Testing

@testable import CofferKit

/// Verification against minisign's own signatures, signing with a Coffer
/// identity, the streaming prehash, and every mismatch.
@Suite("Minisign signing and verification")
struct MinisignSigningTests {
    @Test("minisign's prehashed and legacy signatures verify and give their trusted comments")
    func referenceSignatures() throws {
        let key = try MinisignVectors.publicKey
        let prehashed = try MinisignSignature(fileContents: MinisignVectors.prehashedFile)
        #expect(try prehashed.verify(message: MinisignVectors.message, publicKey: key) == "coffer kat: prehashed")
        let legacy = try MinisignSignature(fileContents: MinisignVectors.legacyFile)
        #expect(try legacy.verify(message: MinisignVectors.message, publicKey: key) == "coffer kat: legacy")
    }

    @Test("a changed message, trusted comment, key or key id each fail as integrity")
    func mismatches() throws {
        let key = try MinisignVectors.publicKey
        let signature = try MinisignSignature(fileContents: MinisignVectors.prehashedFile)
        #expect(throws: MinisignError.signatureMismatch) {
            try signature.verify(message: MinisignVectors.message + [0], publicKey: key)
        }
        var lines = MinisignVectors.lines(MinisignVectors.prehashedFile)
        lines[2] = "trusted comment: coffer kat: prehashed!"
        #expect(throws: MinisignError.trustedCommentMismatch) {
            try MinisignSignature(fileContents: MinisignVectors.file(lines)).verify(message: MinisignVectors.message, publicKey: key)
        }
        let other = Identity.generate(name: "other").publicIdentity.minisignKey
        #expect(throws: MinisignError.keyMismatch(signature: signature.keyID, publicKey: other.keyID)) {
            try signature.verify(message: MinisignVectors.message, publicKey: other)
        }
        // Another Ed25519 key that claims the signer's key id.
        let impostor = MinisignPublicKey(keyID: key.keyID, key: other.key)
        #expect(throws: MinisignError.trustedCommentMismatch) {
            try signature.verify(message: MinisignVectors.message, publicKey: impostor)
        }
        for error in [MinisignError.signatureMismatch, .trustedCommentMismatch, .keyMismatch(signature: key.keyID, publicKey: other.keyID)] {
            #expect(error.kind == .integrity)
        }
    }

    @Test("an identity signs prehashed; the signature verifies with its minisign key and round-trips as a file")
    func identitySigns() throws {
        let identity = Identity.generate(name: "signer")
        let message = patternBytes(100_000)
        let signature = try identity.minisignSignature(prehash: MinisignPrehash(of: message), trustedComment: "release 1.0\tok")
        #expect(signature.algorithm == .prehashed)
        #expect(signature.keyID == identity.publicIdentity.minisignKey.keyID)
        #expect(signature.untrustedComment == MinisignSignature.defaultUntrustedComment)
        let reparsed = try MinisignSignature(fileContents: signature.fileContents)
        #expect(reparsed == signature)
        #expect(try reparsed.verify(message: message, publicKey: identity.publicIdentity.minisignKey) == "release 1.0\tok")
        #expect(throws: MinisignError.signatureMismatch) {
            try reparsed.verify(message: Array(message.dropLast()), publicKey: identity.publicIdentity.minisignKey)
        }
    }

    @Test("comments that minisign could not read back are refused before signing", arguments: [
        ("line break", "a\nb", "ok"),
        ("carriage return", "a\rb", "ok"),
        ("NUL", "a\0b", "ok"),
        ("trusted comment over 8173 bytes", String(repeating: "t", count: 8174), "ok"),
        ("untrusted comment over 1003 bytes", "ok", String(repeating: "u", count: 1004)),
        ("untrusted line break", "ok", "a\nb"),
    ])
    func invalidComments(_ label: String, _ trusted: String, _ untrusted: String) {
        let identity = Identity.generate(name: "signer")
        expectFailure(.usage, "\(label)") {
            _ = try identity.minisignSignature(prehash: MinisignPrehash(of: []), trustedComment: trusted, untrustedComment: untrusted)
        }
    }

    @Test("BLAKE2b-512 prehash: RFC 7693 vectors, and any split of the input gives the one-shot digest")
    func prehash() throws {
        #expect(MinisignPrehash(of: Array("abc".utf8)).bytes.hex
                == "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923")
        #expect(MinisignPrehash(of: []).bytes.hex
                == "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce")
        let seed = UInt64.random(in: 1...UInt64.max)
        var generator = SeededGenerator(seed: seed)
        for size in [0, 1, 65535, 65536, 65537, 200_000] {
            let message = patternBytes(size, seed: UInt64(size) &+ 3)
            let hasher = MinisignHasher()
            var offset = 0
            while offset < size {
                let take = min(size - offset, Int.random(in: 1...70_000, using: &generator))
                hasher.update(Array(message[offset..<offset + take]))
                offset += take
            }
            #expect(hasher.finalize() == MinisignPrehash(of: message), "size \(size), seed \(seed)")
        }
    }

    @Test("files are signed and verified streaming; the signature file is written atomically, never over an existing one")
    func files() throws {
        let scratch = try ScratchDirectory()
        let identity = Identity.generate(name: "signer")
        let key = identity.publicIdentity.minisignKey
        for size in [0, 65536, 300_000] {
            let path = try scratch.write("file-\(size)", patternBytes(size))
            let comment = Minisign.defaultTrustedComment(fileName: path, timestamp: 1_700_000_000)
            #expect(comment == "timestamp:1700000000\tfile:file-\(size)\thashed")
            let signature = try Minisign.sign(.file(path: path), identity: identity, trustedComment: comment)
            #expect(try signature.verify(.file(path: path), publicKey: key) == comment)
            let target = OutputTarget.file(path: path + ".minisig", overwrite: false)
            try signature.write(to: target)
            #expect(throws: OutputError.exists(path: path + ".minisig")) { try signature.write(to: target) }
            let reread = try MinisignSignature(fileContents: Array(try Data(contentsOf: URL(fileURLWithPath: path + ".minisig"))))
            #expect(reread == signature)
        }
        // A legacy signature over a file is checked against the whole file.
        let legacy = try MinisignSignature(fileContents: MinisignVectors.legacyFile)
        let message = try scratch.write("kat", MinisignVectors.message)
        #expect(try legacy.verify(.file(path: message), publicKey: try MinisignVectors.publicKey) == "coffer kat: legacy")
        try scratch.write("kat", MinisignVectors.message + [0x0A])
        #expect(throws: MinisignError.signatureMismatch) {
            try legacy.verify(.file(path: message), publicKey: try MinisignVectors.publicKey)
        }
        expectFailure(.notFound) { _ = try Minisign.sign(.file(path: scratch.join("missing")), identity: identity, trustedComment: "x") }
        #expect(Minisign.defaultTrustedComment(fileName: "/d/a\nb", timestamp: 1) == "timestamp:1\tfile:a b\thashed")
    }
}

/// A SplitMix64 generator, so a failing random split can be replayed from its seed.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

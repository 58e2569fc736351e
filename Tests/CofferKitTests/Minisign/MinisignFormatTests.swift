import Foundation
import Testing

@testable import CofferKit

/// Strict parsing of minisign public key files: the reference vector, every
/// truncation, every bit flip, oversized and odd inputs.
@Suite("Minisign public key format")
struct MinisignPublicKeyFormatTests {
    @Test("minisign's own public key file parses and serialises back byte for byte")
    func referenceFile() throws {
        let key = try MinisignVectors.publicKey
        #expect(key.keyID.description == MinisignVectors.keyID)
        #expect(key.fileContents == MinisignVectors.publicKeyFile)
        #expect(key.base64 == MinisignVectors.lines(MinisignVectors.publicKeyFile)[1])
        #expect(try MinisignPublicKey(base64: "  \(key.base64)\n") == key)
        #expect(try MinisignPublicKey(fileContents: MinisignVectors.crlf(MinisignVectors.publicKeyFile)) == key)
        // Without the final line end.
        #expect(try MinisignPublicKey(fileContents: MinisignVectors.publicKeyFile.dropLast()) == key)
    }

    @Test("a Coffer identity's key: -P accepts its coffer1… form, and the file round-trips")
    func cofferIdentity() throws {
        let identity = Identity.generate(name: "signer")
        let key = identity.publicIdentity.minisignKey
        #expect(key.base64 == identity.publicIdentity.minisignPublicKey)
        #expect(try MinisignPublicKey(base64OrPublicIdentity: identity.publicIdentity.description) == key)
        #expect(try MinisignPublicKey(base64OrPublicIdentity: key.base64) == key)
        #expect(try MinisignPublicKey(fileContents: key.fileContents) == key)
        expectFailure(.usage) { _ = try MinisignPublicKey(base64OrPublicIdentity: "coffer1notanidentity") }
    }

    @Test("every truncation is refused, except dropping the final line end")
    func truncations() throws {
        let original = try MinisignVectors.publicKey
        for (label, bytes) in Damage.truncations(of: MinisignVectors.publicKeyFile) {
            if bytes.count == MinisignVectors.publicKeyFile.count - 1 {
                #expect(try MinisignPublicKey(fileContents: bytes) == original, "\(label)")
            } else {
                expectFailure(.usage, "\(label)") { _ = try MinisignPublicKey(fileContents: bytes) }
            }
        }
    }

    @Test("every bit flip is refused or yields another key, except inside the comment text")
    func bitFlips() throws {
        let original = try MinisignVectors.publicKey
        let file = MinisignVectors.publicKeyFile
        let commentText = MinisignText.untrustedPrefix.utf8.count..<file.firstIndex(of: 0x0A)!
        for (index, (label, bytes)) in Damage.bitFlips(of: file, allBits: true).enumerated() {
            let position = index / 8
            do {
                let key = try MinisignPublicKey(fileContents: bytes)
                if !commentText.contains(position) { #expect(key != original, "\(label) parsed to the same key") }
            } catch let error as MinisignError {
                #expect(error.kind == .usage, "\(label): \(error)")
            }
        }
    }

    /// A public key file damaged as `label` says.
    static func damaged(_ label: String) -> String {
        let key = "RWQrAbZ3vItQbEsILwJkdsud89NBEiR4dcBBd+SjmM9QzUxVl/AxuFYV"
        switch label {
        case "empty": return ""
        case "no comment prefix": return "untrusted: x\n\(key)\n"
        case "prehashed algorithm": return "untrusted comment: x\nRU" + key.dropFirst(2) + "\n"
        case "short key": return "untrusted comment: x\n\(key.dropLast(4))\n"
        case "padding on a 42-byte key": return "untrusted comment: x\n\(key)==\n"
        case "space inside the key": return "untrusted comment: x\n\(key.prefix(20)) \(key.dropFirst(20))\n"
        case "trailing line": return "untrusted comment: x\n\(key)\n\n"
        case "a stray CR": return "untrusted comment: x\rx\n\(key)\n"
        case "a NUL": return "untrusted comment: x\0\n\(key)\n"
        case "comment over 1003 bytes": return "untrusted comment: " + String(repeating: "c", count: 1004) + "\n\(key)\n"
        case "megabytes of junk": return String(repeating: "untrusted comment: x\n", count: 100_000)
        default: preconditionFailure("unknown damage \(label)")
        }
    }

    @Test("odd and oversized inputs are refused with a reason", arguments: [
        "empty", "no comment prefix", "prehashed algorithm", "short key", "padding on a 42-byte key",
        "space inside the key", "trailing line", "a stray CR", "a NUL", "comment over 1003 bytes", "megabytes of junk",
    ])
    func malformed(_ label: String) {
        expectFailure(.usage, "\(label)") { _ = try MinisignPublicKey(fileContents: Array(Self.damaged(label).utf8)) }
    }

    @Test("a comment of exactly 1003 bytes is accepted")
    func longestComment() throws {
        let text = "untrusted comment: " + String(repeating: "c", count: 1003) + "\nRWQrAbZ3vItQbEsILwJkdsud89NBEiR4dcBBd+SjmM9QzUxVl/AxuFYV\n"
        #expect(try MinisignPublicKey(fileContents: Array(text.utf8)) == MinisignVectors.publicKey)
    }
}

/// Strict parsing of minisign signature files, and that no damage to a
/// signature file ever verifies (except to its untrusted comment).
@Suite("Minisign signature format")
struct MinisignSignatureFormatTests {
    @Test("minisign's prehashed and legacy signatures parse and serialise back byte for byte")
    func referenceFiles() throws {
        let prehashed = try MinisignSignature(fileContents: MinisignVectors.prehashedFile)
        #expect(prehashed.algorithm == .prehashed)
        #expect(prehashed.keyID.description == MinisignVectors.keyID)
        #expect(prehashed.trustedComment == "coffer kat: prehashed")
        #expect(prehashed.untrustedComment == "signature from minisign secret key")
        #expect(prehashed.fileContents == MinisignVectors.prehashedFile)
        let legacy = try MinisignSignature(fileContents: MinisignVectors.legacyFile)
        #expect(legacy.algorithm == .legacy)
        #expect(legacy.trustedComment == "coffer kat: legacy")
        #expect(legacy.fileContents == MinisignVectors.legacyFile)
        #expect(try MinisignSignature(fileContents: MinisignVectors.crlf(MinisignVectors.prehashedFile)) == prehashed)
    }

    @Test("every truncation is refused, except dropping the final line end")
    func truncations() throws {
        let original = try MinisignSignature(fileContents: MinisignVectors.prehashedFile)
        for (label, bytes) in Damage.truncations(of: MinisignVectors.prehashedFile) {
            if bytes.count == MinisignVectors.prehashedFile.count - 1 {
                #expect(try MinisignSignature(fileContents: bytes) == original, "\(label)")
            } else {
                expectFailure(.integrity, "\(label)") { _ = try MinisignSignature(fileContents: bytes) }
            }
        }
    }

    @Test("no bit flip verifies, except inside the untrusted comment", arguments: ["prehashed", "legacy"])
    func bitFlips(_ algorithm: String) throws {
        let file = algorithm == "legacy" ? MinisignVectors.legacyFile : MinisignVectors.prehashedFile
        let key = try MinisignVectors.publicKey
        let untrustedText = MinisignText.untrustedPrefix.utf8.count..<file.firstIndex(of: 0x0A)!
        var verified = 0
        for (index, (label, bytes)) in Damage.bitFlips(of: file, allBits: true).enumerated() {
            do {
                let signature = try MinisignSignature(fileContents: bytes)
                try signature.verify(message: MinisignVectors.message, publicKey: key)
                #expect(untrustedText.contains(index / 8), "\(label) still verifies")
                verified += 1
            } catch let error as MinisignError {
                #expect(error.kind == .integrity, "\(label): \(error)")
            }
        }
        // Flips that keep the comment ASCII and on one line still verify.
        #expect(verified > 0)
    }

    /// The reference signature's lines, damaged as `label` says.
    static func damaged(_ label: String) -> [String] {
        let l = MinisignVectors.lines(MinisignVectors.prehashedFile)
        switch label {
        case "empty": return []
        case "three lines": return Array(l.prefix(3))
        case "five lines": return l + ["extra"]
        case "an empty line after the signature": return l + [""]
        case "no untrusted prefix": return ["comment: x"] + l.dropFirst()
        case "no trusted prefix": return [l[0], l[1], "trusted: x", l[3]]
        case "unknown algorithm": return [l[0], "RX" + l[1].dropFirst(2), l[2], l[3]]
        case "unpadded signature line": return [l[0], String(l[1].dropLast()), l[2], l[3]]
        case "short global signature": return [l[0], l[1], l[2], String(l[3].dropFirst(4))]
        case "a stray CR in the trusted comment": return [l[0], l[1], "trusted comment: a\rb", l[3]]
        case "a NUL in the trusted comment": return [l[0], l[1], "trusted comment: a\0b", l[3]]
        case "untrusted comment over 1003 bytes": return ["untrusted comment: " + String(repeating: "u", count: 1004)] + l.dropFirst()
        case "trusted comment over 8173 bytes": return [l[0], l[1], "trusted comment: " + String(repeating: "t", count: 8174), l[3]]
        case "signature line with a space": return [l[0], " " + l[1], l[2], l[3]]
        default: preconditionFailure("unknown damage \(label)")
        }
    }

    @Test("odd and oversized inputs are refused with a reason", arguments: [
        "empty", "three lines", "five lines", "an empty line after the signature", "no untrusted prefix",
        "no trusted prefix", "unknown algorithm", "unpadded signature line", "short global signature",
        "a stray CR in the trusted comment", "a NUL in the trusted comment", "untrusted comment over 1003 bytes",
        "trusted comment over 8173 bytes", "signature line with a space",
    ])
    func malformed(_ label: String) {
        let bytes = MinisignVectors.file(Self.damaged(label))
        expectFailure(.integrity, "\(label)") { _ = try MinisignSignature(fileContents: bytes) }
    }

    @Test("non-UTF-8 comments and huge files are refused")
    func bytesLevel() {
        var latin1 = MinisignVectors.prehashedFile
        latin1[latin1.firstIndex(of: UInt8(ascii: "s"))!] = 0xE9
        expectFailure(.integrity) { _ = try MinisignSignature(fileContents: latin1) }
        let huge = MinisignVectors.prehashedFile + [UInt8](repeating: 0x41, count: 1 << 20)
        expectFailure(.integrity) { _ = try MinisignSignature(fileContents: huge) }
    }

    @Test("comments at the largest sizes minisign reads parse, and the signature then fails only cryptographically")
    func longestComments() throws {
        var lines = MinisignVectors.lines(MinisignVectors.prehashedFile)
        lines[0] = "untrusted comment: " + String(repeating: "u", count: 1003)
        lines[2] = "trusted comment: " + String(repeating: "t", count: 8173)
        let signature = try MinisignSignature(fileContents: MinisignVectors.file(lines))
        #expect(signature.trustedComment.utf8.count == 8173)
        #expect(throws: MinisignError.trustedCommentMismatch) {
            try signature.verify(message: MinisignVectors.message, publicKey: try MinisignVectors.publicKey)
        }
    }
}

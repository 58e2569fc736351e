import Foundation
import Testing

@testable import CofferKit

@Suite("Identity files")
struct IdentityFileTests {
    static let passphrase = "correct horse battery staple"
    static let alice = Identity.generate(name: "alice")
    /// Encrypted with the smallest accepted Argon2id cost, so that damage
    /// sweeps stay fast; production files use MODERATE (checked below).
    static let encrypted = try! IdentityFile.encode(alice, passphrase: secret(passphrase), limits: .minimum)
    static let plain = try! IdentityFile.encode(alice, passphrase: nil)

    static func secret(_ text: String) -> SecureBytes { SecureBytes.copying(Array(text.utf8)) }

    static func decode(_ bytes: [UInt8], passphrase: String = passphrase) throws -> Identity {
        try IdentityFile.decode(bytes, path: "test.identity") { secret(passphrase) }
    }

    /// The base64 body between the armor lines, decoded.
    static func body(of file: [UInt8]) -> [UInt8] {
        let lines = String(decoding: file, as: UTF8.self).split(separator: "\n").map(String.init)
        let start = lines.firstIndex(of: IdentityFile.beginLine)! + 1
        let end = lines.firstIndex(of: IdentityFile.endLine)!
        return Base64.decode(lines[start..<end].joined())!
    }

    /// A file with the same comments and armor around another body.
    static func rearmor(_ body: [UInt8]) -> [UInt8] {
        let encoded = Base64.encode(body)
        var lines: [String] = []
        var rest = Substring(encoded)
        while !rest.isEmpty {
            lines.append(String(rest.prefix(64)))
            rest = rest.dropFirst(64)
        }
        return Array(([IdentityFile.beginLine] + lines + [IdentityFile.endLine, ""]).joined(separator: "\n").utf8)
    }

    @Test("both protections round-trip to the same keys")
    func roundTrip() throws {
        for file in [Self.encrypted, Self.plain] {
            let decoded = try Self.decode(file)
            #expect(decoded.publicIdentity == Self.alice.publicIdentity)
            #expect(decoded.name == "alice")
        }
        #expect(try IdentityFile.isEncrypted(Self.encrypted, path: "x"))
        #expect(try !IdentityFile.isEncrypted(Self.plain, path: "x"))
    }

    @Test("the default cost is at least libsodium's MODERATE Argon2id limits")
    func productionCost() throws {
        let body = Self.body(of: try IdentityFile.encode(Self.alice, passphrase: Self.secret("x")))
        var reader = ByteReader(body, what: "test")
        _ = try reader.read(4 + 1 + 1)
        _ = try reader.read(Int(try reader.readUInt16()))
        #expect(try reader.readUInt64() >= PasswordHash.Argon2Limits.moderate.operations)
        #expect(try reader.readUInt64() >= PasswordHash.Argon2Limits.moderate.memory)
    }

    @Test("the wrong passphrase is an authentication failure, not a format error")
    func wrongPassphrase() {
        #expect(throws: IdentityError.wrongPassphrase(path: "test.identity")) {
            try Self.decode(Self.encrypted, passphrase: "Correct horse battery staple")
        }
    }

    @Test("an unencrypted file never asks for a passphrase")
    func plainNeedsNoPassphrase() throws {
        let identity = try IdentityFile.decode(Self.plain, path: "p") { throw TestFailure("asked for a passphrase") }
        #expect(identity.fingerprint == Self.alice.fingerprint)
    }

    @Test("every truncation of the file and of its body is refused", arguments: [true, false])
    func truncations(encrypted: Bool) {
        let file = encrypted ? Self.encrypted : Self.plain
        for (label, bytes) in Damage.truncations(of: file) {
            // Dropping only the final newline leaves a complete file.
            if bytes.count == file.count - 1 { continue }
            expectFailure(.integrity, "\(label)") { _ = try Self.decode(bytes) }
        }
        for (label, body) in Damage.truncations(of: Self.body(of: file)) {
            expectFailure(.integrity, "body \(label)") { _ = try Self.decode(Self.rearmor(body)) }
        }
    }

    @Test("every flipped bit of the body is refused", arguments: [true, false])
    func bodyBitFlips(encrypted: Bool) throws {
        let body = Self.body(of: encrypted ? Self.encrypted : Self.plain)
        let nameRange = 8..<(8 + 5)
        let seedRange = (body.count - 32)..<body.count
        for (index, (label, flipped)) in Damage.bitFlips(of: body).enumerated() {
            if !encrypted && seedRange.contains(index) {
                // An unencrypted seed has no integrity: a flip yields another identity.
                let other = try Self.decode(Self.rearmor(flipped))
                #expect(other.fingerprint != Self.alice.fingerprint, "\(label)")
                continue
            }
            if !encrypted && nameRange.contains(index) {
                // The name is an unauthenticated label; the keys must not change.
                if let other = try? Self.decode(Self.rearmor(flipped)) {
                    #expect(other.fingerprint == Self.alice.fingerprint, "\(label)")
                }
                continue
            }
            do {
                _ = try Self.decode(Self.rearmor(flipped))
                Issue.record("\(label) was accepted")
            } catch let error as IdentityError {
                // Header flips are caught by the parser or, being in the AAD, by the AEAD.
                switch error {
                case .malformedIdentityFile, .wrongPassphrase: break
                default: Issue.record("\(label): unexpected \(error)")
                }
            }
        }
    }

    @Test("every flipped bit from the BEGIN line on is refused")
    func armorDamage() {
        let file = Self.encrypted
        let begin = String(decoding: file, as: UTF8.self).utf8.count
            - String(decoding: file, as: UTF8.self).split(separator: "-----BEGIN", maxSplits: 1)[1].utf8.count - "-----BEGIN".utf8.count
        let endOfArmor = file.count - 1
        for (index, (label, bytes)) in Damage.bitFlips(of: file).enumerated() where index >= begin {
            if index == endOfArmor, let decoded = try? Self.decode(bytes) {
                // A flipped final newline may become trailing whitespace, which is allowed.
                #expect(decoded.fingerprint == Self.alice.fingerprint, "\(label)")
                continue
            }
            expectFailure(.integrity, "\(label)") {
                do { _ = try Self.decode(bytes) } catch IdentityError.wrongPassphrase {
                    // The AEAD caught it (the header is associated data).
                    throw IdentityError.malformedIdentityFile(path: "", reason: "caught by the AEAD")
                }
            }
        }
    }

    @Test("oversized files and hostile Argon2id costs are refused before any work")
    func oversized() throws {
        for (label, bytes) in Damage.oversized(Self.plain, limit: IdentityFile.maximumFileSize) {
            expectFailure(.integrity, "\(label)") { _ = try Self.decode(bytes) }
        }
        var body = Self.body(of: Self.encrypted)
        let costOffset = 4 + 1 + 1 + 2 + 5
        // 1 TiB of memory: refused without allocating.
        var writer = ByteWriter()
        writer.write(UInt64(1) << 40)
        body.replaceSubrange((costOffset + 8)..<(costOffset + 16), with: writer.bytes)
        expectFailure(.integrity) { _ = try Self.decode(Self.rearmor(body)) }
        // A name longer than the format allows.
        var named = Self.body(of: Self.plain)
        named.replaceSubrange(6..<8, with: [0xFF, 0xFF])
        expectFailure(.integrity) { _ = try Self.decode(Self.rearmor(named)) }
    }

    @Test("written files are 0600 and never overwritten")
    func fileMode() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.join("id.txt")
        try IdentityFile.write(Self.plain, to: path)
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        expectFailure(.conflict) { try IdentityFile.write(Self.encrypted, to: path) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(Self.plain))
    }

    @Test("public identities parse strictly")
    func publicIdentity() throws {
        let text = Self.alice.publicIdentity.description
        #expect(try PublicIdentity(text) == Self.alice.publicIdentity)
        #expect(Self.alice.publicIdentity.ageRecipient.hasPrefix("age1"))
        for (label, bytes) in Damage.truncations(of: Array(text.utf8)) + Damage.bitFlips(of: Array(text.utf8)) {
            expectFailure(.usage, "\(label)") { _ = try PublicIdentity(String(decoding: bytes, as: UTF8.self)) }
        }
        expectFailure(.usage) { _ = try PublicIdentity(Self.alice.publicIdentity.ageRecipient) }
        expectFailure(.usage) { _ = try PublicIdentity(text + "q") }
    }
}

extension IdentityFileTests {
    @Test("CRLF line endings are accepted")
    func crlf() throws {
        let text = String(decoding: Self.plain, as: UTF8.self).replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try Self.decode(Array(text.utf8)).fingerprint == Self.alice.fingerprint)
    }
}

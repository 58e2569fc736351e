import Foundation
import Testing

@testable import CofferKit

/// Interop with the reference implementation: the stock `age` (1.1.1) and
/// `age-keygen` binaries.
///
/// Passphrase interop (`age -p`) is not covered here: age reads passphrases
/// only from a terminal, which these tests do not drive. The passphrase
/// path is covered by the CCTV scrypt vectors (made by the reference
/// implementation) and by the CLI's end-to-end tests.
@Suite("age interop", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/age")))
struct AgeInteropTests {
    static let age = "/usr/bin/age"
    static let ageKeygen = "/usr/bin/age-keygen"
    static let sizes = [0, 1, 65535, 65536, 65537, 131072]

    /// A key pair made by age-keygen, parsed with our identity-file parser.
    struct KeygenKey {
        var file: URL
        var identity: AgeX25519Identity
        var recipient: String
    }

    static func keygen(in directory: URL) throws -> KeygenKey {
        let file = directory.appendingPathComponent("key.txt")
        let result = try TestSupport.run(ageKeygen, ["-o", file.path])
        guard result.status == 0 else { throw TestFailure("age-keygen: \(result.stderr)") }
        let contents = try TestSupport.read(file)
        let identities = try AgeX25519Identity.parseIdentityFile(contents.withUnsafeBytes { SecureBytes(copying: $0) })
        let text = String(decoding: contents, as: UTF8.self)
        let recipient = try #require(text.split(separator: "\n").first { $0.hasPrefix("# public key: ") })
            .dropFirst("# public key: ".count)
        return KeygenKey(file: file, identity: try #require(identities.first), recipient: String(recipient))
    }

    @Test("age-keygen identities parse, and their recipients match")
    func keygenParses() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try Self.keygen(in: directory)
        #expect(key.identity.recipient.encoded == key.recipient)
        #expect(try AgeX25519Recipient(key.recipient) == key.identity.recipient)
    }

    @Test("our encryption, age -d decrypts", arguments: sizes, [false, true])
    func oursToAge(_ size: Int, _ armored: Bool) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try Self.keygen(in: directory)
        let plaintext = TestSupport.bytes(count: size, seed: UInt64(size) &+ 77)
        // Two recipients, so age must pick its own stanza.
        let file = try Age.encrypt(
            plaintext, to: [.x25519(AgeX25519Identity.generate().recipient), .x25519(try AgeX25519Recipient(key.recipient))],
            armored: armored)
        let input = directory.appendingPathComponent("in.age")
        let output = directory.appendingPathComponent("out")
        try Data(file).write(to: input)
        let result = try TestSupport.run(Self.age, ["-d", "-i", key.file.path, "-o", output.path, input.path])
        #expect(result.status == 0, "age -d: \(result.stderr)")
        // age creates the output file on its first write: none for an empty plaintext.
        let decrypted = FileManager.default.fileExists(atPath: output.path) ? try TestSupport.read(output) : []
        #expect(decrypted == plaintext)
    }

    @Test("our identity file, age -d decrypts")
    func ourIdentityFile() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let identity = AgeX25519Identity.generate()
        let keyFile = directory.appendingPathComponent("ours.txt")
        let text = identity.encodedSecretKey().withUnsafeBytes { Data($0) }
        try (Data("# public key: \(identity.recipient)\n".utf8) + text + Data("\n".utf8)).write(to: keyFile)
        let input = directory.appendingPathComponent("in.age")
        try Data(try Age.encrypt(Array("hello".utf8), to: [.x25519(identity.recipient)])).write(to: input)
        let result = try TestSupport.run(Self.age, ["-d", "-i", keyFile.path, input.path])
        #expect(result.status == 0, "age -d: \(result.stderr)")
        #expect(result.stdout == "hello")
    }

    @Test("age -r encrypts, we decrypt", arguments: sizes, [false, true])
    func ageToOurs(_ size: Int, _ armored: Bool) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = try Self.keygen(in: directory)
        let other = AgeX25519Identity.generate().recipient.encoded
        let plaintext = TestSupport.bytes(count: size, seed: UInt64(size) &+ 99)
        let input = directory.appendingPathComponent("plain")
        let output = directory.appendingPathComponent("out.age")
        try Data(plaintext).write(to: input)
        let result = try TestSupport.run(
            Self.age, ["-r", other, "-r", key.recipient] + (armored ? ["-a"] : []) + ["-o", output.path, input.path])
        #expect(result.status == 0, "age -r: \(result.stderr)")
        let file = try TestSupport.read(output)
        // Automatic detection, and the explicit format, both work.
        #expect(try Age.decrypt(file, identities: [.x25519(key.identity)]) == plaintext)
        #expect(try Age.decrypt(file, identities: [.x25519(key.identity)], format: armored ? .armored : .binary) == plaintext)
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [.x25519(.generate())]) }
    }
}

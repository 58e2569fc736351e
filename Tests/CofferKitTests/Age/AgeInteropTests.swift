import Foundation
import Testing

@testable import CofferKit

/// Interop with the reference implementation: the stock `age` (1.1.1) and
/// `age-keygen` binaries.
///
/// age reads passphrases only from a terminal, so the passphrase tests run
/// it under `script(1)`, which gives it a pseudo-terminal fed from our pipe.
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
        let identities = try AgeIdentity.parseIdentityFile(contents.withUnsafeBytes { SecureBytes(copying: $0) })
        let text = String(decoding: contents, as: UTF8.self)
        let recipient = try #require(text.split(separator: "\n").first { $0.hasPrefix("# public key: ") })
            .dropFirst("# public key: ".count)
        guard case .x25519(let identity)? = identities.first else { throw TestFailure("age-keygen wrote no X25519 key") }
        return KeygenKey(file: file, identity: identity, recipient: String(recipient))
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

    /// Runs `age arguments…` on a pseudo-terminal whose input is `passphrase`
    /// (once per prompt).
    static func ageWithPassphrase(_ arguments: [String], passphrase: String, prompts: Int) throws -> TestSupport.RunResult {
        let command = ([age] + arguments).joined(separator: " ")
        let input = Data(String(repeating: passphrase + "\n", count: prompts).utf8)
        return try TestSupport.run("/usr/bin/script", ["-qec", command, "/dev/null"], stdin: input)
    }

    @Test("age -p encrypts, we decrypt", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")),
          arguments: [0, 65536, 65537], [false, true])
    func agePassphraseToOurs(_ size: Int, _ armored: Bool) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plaintext = TestSupport.bytes(count: size, seed: UInt64(size) &+ 5)
        let input = directory.appendingPathComponent("plain")
        let output = directory.appendingPathComponent("out.age")
        try Data(plaintext).write(to: input)
        let result = try Self.ageWithPassphrase(
            ["-p"] + (armored ? ["-a"] : []) + ["-o", output.path, input.path], passphrase: "interop-pass", prompts: 2)
        #expect(result.status == 0, "age -p: \(result.stdout) \(result.stderr)")
        let file = try TestSupport.read(output)
        #expect(try AgeHeader.parse(file.starts(with: Array("age-".utf8)) ? file : Age.dearmorForTests(file)).header.stanzas.first?.type == "scrypt")
        #expect(try Age.decrypt(file, identities: [.scrypt(passphrase: secure("interop-pass"))]) == plaintext)
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [.scrypt(passphrase: secure("other"))]) }
    }

    @Test("our passphrase encryption, age -d decrypts", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script")),
          arguments: [0, 65537], [false, true])
    func ourPassphraseToAge(_ size: Int, _ armored: Bool) throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let plaintext = TestSupport.bytes(count: size, seed: UInt64(size) &+ 6)
        let input = directory.appendingPathComponent("in.age")
        let output = directory.appendingPathComponent("out")
        try Data(try Age.encrypt(plaintext, to: [.scrypt(passphrase: secure("interop-pass"), workFactor: 14)], armored: armored))
            .write(to: input)
        let result = try Self.ageWithPassphrase(["-d", "-o", output.path, input.path], passphrase: "interop-pass", prompts: 1)
        #expect(result.status == 0, "age -d: \(result.stdout) \(result.stderr)")
        let decrypted = FileManager.default.fileExists(atPath: output.path) ? try TestSupport.read(output) : []
        #expect(decrypted == plaintext)
    }
}

extension Age {
    /// The binary file inside an armored one (test helper).
    static func dearmorForTests(_ armored: [UInt8]) throws -> [UInt8] {
        var decoder = AgeArmorDecoder(reader: AgeBufferedReader(source: AgeBytesSource(armored)))
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = try buffer.withUnsafeMutableBytes { try decoder.read(into: $0) }
            if n == 0 { return out }
            out += buffer[..<n]
        }
    }
}

import Foundation
import Testing

@testable import CofferKit

/// Recipients files, `-i` identity files (age's and Coffer's), and the
/// bridge from Coffer identities to age keys.
@Suite("age recipients and identity files")
struct AgeKeyFilesTests {
    @Test("a Coffer identity is an age identity whose recipient is its age1… and its coffer1…")
    func cofferKeys() throws {
        let identity = Identity.generate(name: "alice")
        let recipient = try identity.ageIdentity().recipient
        #expect(recipient.encoded == identity.publicIdentity.ageRecipient)
        #expect(recipient == identity.publicIdentity.ageX25519Recipient)
        #expect(try AgeX25519Recipient(recipientOrPublicIdentity: identity.publicIdentity.description) == recipient)
        #expect(try AgeX25519Recipient(recipientOrPublicIdentity: identity.publicIdentity.description.uppercased()) == recipient)
        #expect(try AgeX25519Recipient(recipientOrPublicIdentity: recipient.encoded) == recipient)
        let file = try Age.encrypt(Array("hi".utf8), to: [.x25519(try AgeX25519Recipient(recipientOrPublicIdentity: identity.publicIdentity.description))])
        #expect(try Age.decrypt(file, identities: [.x25519(try identity.ageIdentity())]) == Array("hi".utf8))
        for bad in ["coffer1qqqq", "ssh-ed25519 AAAA", "", "age1"] {
            expectFailure(.usage, "\(bad)") { _ = try AgeX25519Recipient(recipientOrPublicIdentity: bad) }
        }
    }

    @Test("recipients files: comments, empty lines, CRLF, age1… and coffer1… lines")
    func recipientsFile() throws {
        let a = AgeX25519Identity.generate().recipient
        let b = Identity.generate(name: "b").publicIdentity
        let text = "# team\n\n\(a.encoded)\r\n# partner\n\(b.description)\n"
        let parsed = try AgeRecipient.parseRecipientsFile(Array(text.utf8)).map { recipient -> AgeX25519Recipient? in
            if case .x25519(let x25519) = recipient { x25519 } else { nil }
        }
        #expect(parsed == [a, b.ageX25519Recipient])
    }

    @Test("bad recipients files name the line but never echo it", arguments: [
        ("# nothing but comments\n\n", "no recipient"),
        ("# ok\nAGE-SECRET-KEY-1SECRETSECRET\n", "line 2"),
        (" age1qqqq\n", "line 1"),
        ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5 me\n", "line 1"),
        (String(repeating: "x", count: 9000) + "\n", "longer than 8 KiB"),
    ])
    func badRecipientsFiles(_ text: String, _ expected: String) {
        do {
            _ = try AgeRecipient.parseRecipientsFile(Array(text.utf8))
            Issue.record("accepted \(text.prefix(40).debugDescription)")
        } catch let error as AgeError {
            #expect(error.kind == .usage)
            #expect(error.description.contains(expected), "\(error)")
            #expect(!error.description.contains("SECRET"), "\(error)")
        } catch {
            Issue.record("untyped error \(error)")
        }
    }

    @Test("a recipients file over 16 MiB is refused")
    func oversizedRecipientsFile() {
        let huge = [UInt8](repeating: UInt8(ascii: "#"), count: AgeX25519Recipient.maxRecipientsFileByteCount + 1)
        expectFailure(.usage) { _ = try AgeRecipient.parseRecipientsFile(huge) }
    }

    @Test("-i files: age-keygen format, and Coffer identity files plain or encrypted")
    func identityFiles() throws {
        let age = AgeX25519Identity.generate()
        let keygen = Array("# created: now\n# public key: \(age.recipient)\n".utf8) + age.encodedSecretKey().withUnsafeBytes { Array($0) } + [0x0A]
        let parsed = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(keygen), path: "k.txt") {
            Issue.record("no passphrase is needed")
            return SecureBytes.copying([1])
        }
        #expect(parsed.map(\.recipient) == [age.recipient.encoded])

        let coffer = Identity.generate(name: "alice")
        let plain = try IdentityFile.encode(coffer, passphrase: nil)
        let fromPlain = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(plain), path: "id") {
            Issue.record("no passphrase is needed")
            return SecureBytes.copying([1])
        }
        #expect(fromPlain.map(\.recipient) == [coffer.publicIdentity.ageX25519Recipient.encoded])

        let encrypted = try IdentityFile.encode(coffer, passphrase: secure("pw"), limits: .minimum)
        let fromEncrypted = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(encrypted), path: "id") {
            secure("pw")
        }
        #expect(fromEncrypted.map(\.recipient) == [coffer.publicIdentity.ageX25519Recipient.encoded])
        #expect(throws: IdentityError.wrongPassphrase(path: "id")) {
            _ = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(encrypted), path: "id") { secure("no") }
        }
    }

    @Test("an identity file encrypted by age -p opens with its passphrase; a wrong one is no match; every truncation and bit flip is a typed error")
    func passphraseEncryptedIdentityFile() throws {
        let age = AgeX25519Identity.generate()
        let keygen = Array("# created: now\n".utf8) + age.encodedSecretKey().withUnsafeBytes { Array($0) } + [0x0A]
        for armored in [false, true] {
            let file = try Age.encrypt(keygen, to: [.scrypt(passphrase: secure("pw"), workFactor: 10)], armored: armored)
            let parsed = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(file), path: "k.age") { secure("pw") }
            #expect(parsed.map(\.recipient) == [age.recipient.encoded])
            #expect(throws: AgeError.noMatch) {
                _ = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(file), path: "k.age") { secure("no") }
            }
            for (label, damaged) in Damage.truncations(of: file) + Damage.bitFlips(of: file) {
                _ = expectTypedOutcome("\(label)") {
                    _ = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(damaged), path: "k.age") { secure("pw") }
                }
            }
        }
        let toRecipient = try Age.encrypt(keygen, to: [.x25519(age.recipient)])
        expectFailure(.usage) {
            _ = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(toRecipient), path: "k.age") { secure("pw") }
        }
    }

    @Test("an OpenSSH ed25519 key (ssh-keygen's) opens what is encrypted to its .pub line; every truncation and bit flip of either is a typed error")
    func sshEd25519Keys() throws {
        let directory = try TestSupport.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let key = directory.appendingPathComponent("id_ed25519").path
        #expect(try TestSupport.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]).status == 0)
        let privateFile = try TestSupport.read(URL(fileURLWithPath: key))
        let publicLine = try String(contentsOfFile: key + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let identities = try AgeIdentity.parseFile(contents: SecureBytes.copying(privateFile), path: "k") { secure("unused") }
        let recipient = try AgeRecipient.parse(publicLine)
        let file = try Age.encrypt(Array("to an ssh key".utf8), to: [recipient])
        var opened: [UInt8] = []
        try AgeDecryptor(source: AgeBytesSource(file), identities: identities).decrypt { opened += Array($0) }
        #expect(opened == Array("to an ssh key".utf8))
        for (label, damaged) in Damage.truncations(of: privateFile) + Damage.bitFlips(of: privateFile) {
            _ = expectTypedOutcome("\(label)") { _ = try AgeIdentity.parseFile(contents: SecureBytes.copying(damaged), path: "k") { secure("x") } }
        }
        for (label, damaged) in Damage.truncations(of: Array(publicLine.utf8)) + Damage.bitFlips(of: Array(publicLine.utf8)) {
            _ = expectTypedOutcome("\(label)") { _ = try AgeRecipient.parse(String(decoding: damaged, as: UTF8.self)) }
        }
    }

    @Test("bad -i files are usage errors naming the file", arguments: [
        "", "# only a comment\n", "age1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq\n", "AGE-SECRET-KEY-1QQQQ\n",
    ])
    func badIdentityFiles(_ text: String) {
        expectFailure(.usage) {
            _ = try AgeIdentity.parseIdentities(fileContents: SecureBytes.copying(Array(text.utf8)), path: "k.txt") {
                SecureBytes.copying([1])
            }
        }
    }
}

/// `Age.encryptStream` / `decryptStream` between files: atomic outputs,
/// nothing left behind on failure, no overwrite without asking.
@Suite("age file streams")
struct AgeStreamTests {
    /// The names in a directory.
    static func listing(_ scratch: ScratchDirectory) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: scratch.path))
    }

    @Test("file to file and back, at the chunk boundaries", arguments: [0, 1, 65535, 65536, 65537, 262_145])
    func roundTrip(_ size: Int) throws {
        let scratch = try ScratchDirectory()
        let identity = AgeX25519Identity.generate()
        let plaintext = patternBytes(size, seed: UInt64(size) &+ 11)
        let input = try scratch.write("plain", plaintext)
        for armored in [false, true] {
            let encrypted = scratch.join("enc-\(armored)")
            try Age.encryptStream(from: .file(path: input), to: .file(path: encrypted, overwrite: false),
                                  recipients: [.x25519(identity.recipient)], armored: armored)
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: encrypted)))
            #expect(try Age.decrypt(bytes, identities: [.x25519(identity)]) == plaintext)
            let decrypted = scratch.join("dec-\(armored)")
            try Age.decryptStream(from: .file(path: encrypted), to: .file(path: decrypted, overwrite: false), identities: [.x25519(identity)])
            #expect(Array(try Data(contentsOf: URL(fileURLWithPath: decrypted))) == plaintext)
        }
        #expect(try Self.listing(scratch) == ["plain", "enc-false", "enc-true", "dec-false", "dec-true"])
    }

    @Test("a tampered or truncated file leaves no output and no temporary file; a wrong key creates nothing")
    func failuresLeaveNothing() throws {
        let scratch = try ScratchDirectory()
        let identity = AgeX25519Identity.generate()
        let file = try Age.encrypt(patternBytes(200_000), to: [.x25519(identity.recipient)])
        var tampered = file
        tampered[tampered.count - 10] ^= 0x20
        for (label, bytes, kind) in [("tampered", tampered, FailureKind.integrity), ("truncated", Array(file.dropLast(70_000)), .integrity)] {
            let input = try scratch.write(label, bytes)
            expectFailure(kind, "\(label)") {
                try Age.decryptStream(from: .file(path: input), to: .file(path: scratch.join("out"), overwrite: false), identities: [.x25519(identity)])
            }
        }
        let good = try scratch.write("good", file)
        expectFailure(.authentication) {
            try Age.decryptStream(from: .file(path: good), to: .file(path: scratch.join("out"), overwrite: false), identities: [.x25519(.generate())])
        }
        #expect(try Self.listing(scratch) == ["tampered", "truncated", "good"])
    }

    @Test("an existing output is refused before anything is read, and replaced only when asked")
    func overwrite() throws {
        let scratch = try ScratchDirectory()
        let identity = AgeX25519Identity.generate()
        let input = try scratch.write("plain", Array("new".utf8))
        let output = try scratch.write("out", Array("precious".utf8))
        #expect(throws: OutputError.exists(path: output)) {
            try Age.encryptStream(from: .file(path: input), to: .file(path: output, overwrite: false), recipients: [.x25519(identity.recipient)], armored: false)
        }
        #expect(throws: OutputError.exists(path: output)) {
            try Age.decryptStream(from: .file(path: input), to: .file(path: output, overwrite: false), identities: [.x25519(identity)])
        }
        #expect(Array(try Data(contentsOf: URL(fileURLWithPath: output))) == Array("precious".utf8))
        try Age.encryptStream(from: .file(path: input), to: .file(path: output, overwrite: true), recipients: [.x25519(identity.recipient)], armored: true)
        #expect(try Age.decrypt(Array(try Data(contentsOf: URL(fileURLWithPath: output))), identities: [.x25519(identity)]) == Array("new".utf8))
        expectFailure(.notFound) {
            try Age.encryptStream(from: .file(path: scratch.join("missing")), to: .file(path: scratch.join("x"), overwrite: false),
                                  recipients: [.x25519(identity.recipient)], armored: false)
        }
        #expect(try Self.listing(scratch) == ["plain", "out"])
    }
}

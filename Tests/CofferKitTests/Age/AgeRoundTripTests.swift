import Foundation
import Testing

@testable import CofferKit

/// Encrypt-then-decrypt through the public API: chunk boundaries,
/// recipients, passphrases, armor, streaming.
@Suite("age round trips")
struct AgeRoundTripTests {
    static let sizes = [0, 1, 65535, 65536, 65537, 131072]

    /// Payload bytes for `size` plaintext bytes: nonce, then 16 bytes of tag
    /// per chunk (one chunk at least).
    static func payloadSize(_ size: Int) -> Int {
        16 + size + 16 * max(1, (size + 65535) / 65536)
    }

    @Test("X25519, binary and armored", arguments: sizes, [false, true])
    func x25519(_ size: Int, _ armored: Bool) throws {
        let identity = AgeX25519Identity.generate()
        let plaintext = TestSupport.bytes(count: size, seed: UInt64(size) + 1)
        let file = try Age.encrypt(plaintext, to: [.x25519(identity.recipient)], armored: armored)
        if armored {
            #expect(file.starts(with: Array("-----BEGIN AGE ENCRYPTED FILE-----\n".utf8)))
            #expect(file.suffix(33) == Array("-----END AGE ENCRYPTED FILE-----\n".utf8)[...])
        } else {
            let (_, headerCount) = try AgeHeader.parse(file)
            #expect(file.count - headerCount == Self.payloadSize(size))
        }
        #expect(try Age.decrypt(file, identities: [.x25519(identity)]) == plaintext)
        // Streaming in small, irregular reads gives the same result.
        let decryptor = try AgeDecryptor(source: TricklingSource(file, seed: UInt64(size)), identities: [.x25519(identity)])
        var sink = AgeBytesSink()
        try decryptor.decrypt(to: &sink)
        #expect(sink.bytes == plaintext)
    }

    @Test("written in pieces of any size", arguments: [1, 7, 4096, 65535, 65536, 65537])
    func pieces(_ piece: Int) throws {
        let identity = AgeX25519Identity.generate()
        let plaintext = TestSupport.bytes(count: 200_003, seed: 3)
        let encryptor = try AgeEncryptor(recipients: [.x25519(identity.recipient)], sink: AgeBytesSink())
        var offset = 0
        while offset < plaintext.count {
            let end = min(offset + piece, plaintext.count)
            try encryptor.write(Array(plaintext[offset..<end]))
            offset = end
        }
        try encryptor.finish()
        #expect(try Age.decrypt(encryptor.sink.bytes, identities: [.x25519(identity)]) == plaintext)
        #expect(throws: AgeError.invalidUse("the age file is already finished")) { try encryptor.write([1]) }
    }

    @Test("many batches: each is sealed while the one before is written; binary and armored", arguments: [false, true])
    func manyBatches(_ armored: Bool) throws {
        let identity = AgeX25519Identity.generate()
        // 3.5 batches of 2 MiB: both ciphertext buffers are reused, and the last batch is short.
        let plaintext = TestSupport.bytes(count: 7 << 20 + 3, seed: 11)
        let encryptor = try AgeEncryptor(recipients: [.x25519(identity.recipient)], armored: armored, sink: AgeBytesSink())
        var offset = 0, piece = 1
        while offset < plaintext.count {
            let end = min(offset + piece, plaintext.count)
            try encryptor.write(Array(plaintext[offset..<end]))
            offset = end
            piece = piece * 3 % 1_000_003 + 1  // irregular pieces, up to about 1 MiB
        }
        try encryptor.finish()
        #expect(try Age.decrypt(encryptor.sink.bytes, identities: [.x25519(identity)]) == plaintext)
        #expect(try Age.encrypt(plaintext, to: [.x25519(identity.recipient)], armored: armored).count == encryptor.sink.bytes.count)
    }

    @Test("a sink that fails in the background fails the encryptor, which then refuses more")
    func failingSink() throws {
        struct Full: Error {}
        let identity = AgeX25519Identity.generate()
        let writes = Counter()
        let encryptor = try AgeEncryptor(recipients: [.x25519(identity.recipient)], sink: AgeClosureSink { _ in
            if writes.increment() > 2 { throw Full() }  // the header, then one batch; the second batch fails
        })
        let plaintext = TestSupport.bytes(count: 9 << 20, seed: 5)
        #expect(throws: Full.self) {
            try encryptor.write(plaintext)
            try encryptor.finish()
        }
        #expect(throws: AgeError.self) { try encryptor.write([1]) }
    }

    /// A count shared with the writing thread.
    final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() -> Int { lock.withLock { value += 1; return value } }
    }

    @Test("multiple recipients: each identity opens the file")
    func multipleRecipients() throws {
        let identities = (0..<5).map { _ in AgeX25519Identity.generate() }
        let plaintext = TestSupport.bytes(count: 70_000, seed: 5)
        let file = try Age.encrypt(plaintext, to: identities.map { .x25519($0.recipient) })
        #expect(try AgeHeader.parse(file).header.stanzas.count == 5)
        for identity in identities {
            #expect(try Age.decrypt(file, identities: [.x25519(identity)]) == plaintext)
        }
        #expect(try Age.decrypt(file, identities: [.x25519(.generate()), .x25519(identities[3])]) == plaintext)
        #expect(throws: AgeError.noMatch) { try Age.decrypt(file, identities: [.x25519(.generate())]) }
    }

    @Test("passphrase at a low work factor, all sizes", arguments: sizes)
    func passphrase(_ size: Int) throws {
        let plaintext = TestSupport.bytes(count: size, seed: 9)
        let file = try Age.encrypt(plaintext, to: [.scrypt(passphrase: secure("correct horse"), workFactor: 10)], armored: size % 2 == 1)
        #expect(try Age.decrypt(file, identities: [.scrypt(passphrase: secure("correct horse"))]) == plaintext)
        #expect(throws: AgeError.noMatch) {
            try Age.decrypt(file, identities: [.scrypt(passphrase: secure("wrong horse"))])
        }
        #expect(throws: AgeError.header("the scrypt work factor 2^10 is above the limit 2^9")) {
            try Age.decrypt(file, identities: [.scrypt(passphrase: secure("correct horse"), maxWorkFactor: 9)])
        }
    }

    @Test("passphrase at the default work factor (18)")
    func passphraseDefault() throws {
        let file = try Age.encrypt([1, 2, 3], to: [.scrypt(passphrase: secure("pass"))])
        #expect(try AgeHeader.parse(file).header.stanzas[0].arguments[1] == "18")
        #expect(try Age.decrypt(file, identities: [.scrypt(passphrase: secure("pass"))]) == [1, 2, 3])
    }

    @Test("recipient rules are enforced when encrypting")
    func recipientRules() {
        #expect(throws: AgeError.invalidUse("no recipient given")) { try Age.encrypt([], to: []) }
        #expect(throws: AgeError.invalidUse("a passphrase must be the only recipient of a file")) {
            try Age.encrypt([], to: [.scrypt(passphrase: secure("p"), workFactor: 10), .x25519(AgeX25519Identity.generate().recipient)])
        }
        #expect(throws: AgeError.invalidUse("the scrypt work factor must be 1…22")) {
            try Age.encrypt([], to: [.scrypt(passphrase: secure("p"), workFactor: 23)])
        }
        #expect(throws: AgeError.invalidUse("no identity given")) {
            try Age.decrypt(Age.encrypt([], to: [.x25519(AgeX25519Identity.generate().recipient)]), identities: [])
        }
    }

    @Test("a payload failure reports the chunks released before it")
    func partialRelease() throws {
        let identity = AgeX25519Identity.generate()
        let plaintext = TestSupport.bytes(count: 3 * 65536 + 10, seed: 11)
        var file = try Age.encrypt(plaintext, to: [.x25519(identity.recipient)])
        file[file.count - 5] ^= 1  // damage the last chunk
        let decryptor = try AgeDecryptor(source: AgeBytesSource(file), identities: [.x25519(identity)])
        var sink = AgeBytesSink()
        #expect(throws: AgeError.self) { try decryptor.decrypt(to: &sink) }
        #expect(sink.bytes == Array(plaintext.prefix(3 * 65536)))
    }

    @Test("keys encode and parse back")
    func keyEncodings() throws {
        let identity = AgeX25519Identity.generate()
        let text = identity.encodedSecretKey().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        #expect(text.hasPrefix("AGE-SECRET-KEY-1"))
        #expect(try AgeX25519Identity(text).recipient == identity.recipient)
        let recipient = identity.recipient.encoded
        #expect(recipient.hasPrefix("age1"))
        #expect(try AgeX25519Recipient(recipient) == identity.recipient)
        // The spec's example identity and recipient.
        #expect(try AgeX25519Identity("AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX").recipient.encoded
            == "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj")
        #expect(throws: AgeError.self) { try AgeX25519Recipient("age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwk") }
        #expect(throws: AgeError.self) { try AgeX25519Identity(recipient) }
        #expect(throws: AgeError.self) { try AgeX25519Recipient(text) }
    }

    @Test("identity files: comments, blank lines, CRLF; errors name the line")
    func identityFile() throws {
        let a = AgeX25519Identity.generate(), b = AgeX25519Identity.generate()
        func encoded(_ identity: AgeX25519Identity) -> String {
            identity.encodedSecretKey().withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        }
        let contents = "# created: 2026-01-01\r\n# public key: \(a.recipient)\r\n\(encoded(a))\r\n\n\(encoded(b))\n"
        let parsed = try AgeIdentity.parseIdentityFile(secure(contents))
        #expect(parsed.map(\.recipient) == [a.recipient.encoded, b.recipient.encoded])
        #expect(throws: AgeError.invalidIdentity("the identity file holds no secret key")) {
            try AgeIdentity.parseIdentityFile(secure("# nothing\n\n"))
        }
        #expect(throws: AgeError.self) { try AgeIdentity.parseIdentityFile(secure("\(encoded(a))\n \(encoded(b))\n")) }
        do {
            _ = try AgeIdentity.parseIdentityFile(secure("# c\n\(encoded(a))\ngarbage\n"))
            Issue.record("garbage accepted")
        } catch let AgeError.invalidIdentity(why) {
            #expect(why.hasPrefix("line 3 of the identity file"))
        }
    }

    @Test("error kinds follow the documented mapping")
    func kinds() {
        #expect(AgeError.noMatch.kind == .authentication)
        #expect(AgeError.headerMAC.kind == .integrity)
        #expect(AgeError.payload("x").kind == .integrity)
        #expect(AgeError.header("x").kind == .integrity)
        #expect(AgeError.armor("x").kind == .integrity)
        #expect(AgeError.invalidRecipient("x").kind == .usage)
        #expect(AgeError.invalidUse("x").kind == .usage)
    }
}

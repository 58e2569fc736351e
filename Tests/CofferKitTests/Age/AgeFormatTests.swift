import Testing

@testable import CofferKit

/// Strict base64, header serialisation, and parser robustness: every
/// truncation, every bit flip, oversized input.
@Suite("age format")
struct AgeFormatTests {
    @Test("unpadded base64 is strict", arguments: [
        ("", true), ("Zg", true), ("Zm8", true), ("Zm9v", true),
        ("Zh", false),  // non-canonical: unused bits set
        ("Zm9", false), ("Zg==", false), ("Z", false), ("Zm9v\n", false), ("Zm 9", false), ("Zm-_", false),
    ])
    func unpadded(_ text: String, _ valid: Bool) {
        #expect((Base64.decode(bytes: Array(text.utf8), padded: false) != nil) == valid, "\(text)")
    }

    @Test("padded base64 is strict", arguments: [
        ("", true), ("Zg==", true), ("Zm8=", true), ("Zm9v", true),
        ("Zh==", false), ("Zm9=", false), ("Zg", false), ("Zg=", false), ("Z===", false), ("Zg==Zg==", false), ("=Zg=", false),
    ])
    func padded(_ text: String, _ valid: Bool) {
        #expect((Base64.decode(bytes: Array(text.utf8), padded: true) != nil) == valid, "\(text)")
    }

    @Test("base64 encodings round-trip", arguments: 0..<100)
    func base64RoundTrip(_ count: Int) {
        let bytes = TestSupport.bytes(count: count, seed: UInt64(count))
        #expect(Base64.decode(bytes: Base64.encodedBytes(bytes, padded: false), padded: false) == bytes)
        #expect(Base64.decode(bytes: Base64.encodedBytes(bytes, padded: true), padded: true) == bytes)
    }

    @Test("stanza bodies of every length serialise and parse back", arguments: [0, 1, 31, 32, 47, 48, 49, 95, 96, 97, 200])
    func stanzaBodies(_ length: Int) throws {
        let stanzas = [
            AgeStanza(type: "X25519", arguments: ["abc"], body: TestSupport.bytes(count: length, seed: 7)),
            AgeStanza(type: "example.com/x", arguments: ["a", "b!~"], body: []),
        ]
        let authenticated = AgeHeader.encodeAuthenticatedBytes(stanzas)
        let file = AgeHeader.encode(authenticatedBytes: authenticated, mac: [UInt8](repeating: 9, count: 32)) + [1, 2, 3]
        let (header, count) = try AgeHeader.parse(file)
        #expect(header.stanzas == stanzas)
        #expect(header.authenticatedBytes == authenticated)
        #expect(count == file.count - 3)
        // A body whose encoding fills whole 64-column lines (or is empty) ends with an empty line.
        #expect(String(decoding: authenticated, as: UTF8.self).contains("\n\n-> example.com/x") == (length % 48 == 0))
    }

    /// A small real file (two X25519 recipients, 20 bytes) and its key.
    static let sample: (file: [UInt8], armored: [UInt8], identity: AgeX25519Identity) = {
        let identity = AgeX25519Identity.generate()
        let plaintext = Array("robustness, robustly".utf8)
        let recipients: [AgeRecipient] = [.x25519(identity.recipient), .x25519(AgeX25519Identity.generate().recipient)]
        let file = try! Age.encrypt(plaintext, to: recipients)
        let armored = try! Age.encrypt(plaintext, to: recipients, armored: true)
        return (file, armored, identity)
    }()

    @Test("the sample decrypts")
    func sampleDecrypts() throws {
        let sample = Self.sample
        #expect(try Age.decrypt(sample.file, identities: [.x25519(sample.identity)]) == Array("robustness, robustly".utf8))
        #expect(try Age.decrypt(sample.armored, identities: [.x25519(sample.identity)]) == Array("robustness, robustly".utf8))
    }

    @Test("every truncation fails with a typed error", arguments: [false, true])
    func truncations(_ armored: Bool) throws {
        let sample = Self.sample
        let file = armored ? sample.armored : sample.file
        for length in 0..<file.count {
            let truncated = Array(file[..<length])
            if armored && length == file.count - 1 {
                // Only the LF after the END line is gone, which the spec allows.
                #expect(try Age.decrypt(truncated, identities: [.x25519(sample.identity)]) == Array("robustness, robustly".utf8))
                continue
            }
            #expect(throws: AgeError.self, "length \(length)") {
                try Age.decrypt(truncated, identities: [.x25519(sample.identity)])
            }
            if !armored {
                // The header parser alone: typed errors only, never a crash.
                do { _ = try AgeHeader.parse(truncated) } catch { #expect(error is AgeError) }
            }
        }
    }

    @Test("every bit flip fails with a typed error", arguments: [false, true])
    func bitFlips(_ armored: Bool) {
        let sample = Self.sample
        let file = armored ? sample.armored : sample.file
        for index in file.indices {
            for bit in 0..<8 {
                var flipped = file
                flipped[index] ^= 1 << bit
                #expect(throws: AgeError.self, "byte \(index) bit \(bit)") {
                    try Age.decrypt(flipped, identities: [.x25519(sample.identity)])
                }
                if !armored {
                    do { _ = try AgeHeader.parse(flipped) } catch { #expect(error is AgeError) }
                }
            }
        }
    }

    @Test("a header line over the line limit is refused")
    func hugeLine() {
        let file = Array("age-encryption.org/v1\n-> X25519 ".utf8) + [UInt8](repeating: 0x41, count: 2 * AgeHeader.maxLineByteCount)
        #expect(throws: AgeError.header("a header line is longer than the 16 KiB limit")) {
            _ = try AgeHeader.parse(file)
        }
    }

    @Test("a stanza body line over 64 columns is refused")
    func longBodyLine() {
        let file = Array("age-encryption.org/v1\n-> X25519 abc\n".utf8) + [UInt8](repeating: 0x41, count: 68) + [0x0A]
        #expect(throws: AgeError.header("a stanza body line is longer than 64 columns")) {
            _ = try AgeHeader.parse(file)
        }
    }

    /// An endless source of well-formed stanzas: the parser must stop at
    /// the header size limit, having read only about that much.
    struct EndlessStanzas: AgeSource {
        private var pending = Array("age-encryption.org/v1\n".utf8)
        private var offset = 0
        /// Bytes handed out.
        var produced = 0

        mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            if offset == pending.count {
                pending = Array("-> grease a b c\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\nAAAA\n".utf8)
                offset = 0
            }
            let n = min(buffer.count, pending.count - offset)
            pending.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) }
            offset += n
            produced += n
            return n
        }
    }

    @Test("an endless header is refused at the size limit")
    func endlessHeader() throws {
        var reader = AgeBufferedReader(source: EndlessStanzas())
        #expect(throws: AgeError.header("the header is larger than the 1024 KiB limit")) {
            _ = try AgeHeader.parse(from: &reader)
        }
        #expect(reader.consumed <= AgeHeader.maxByteCount)
        #expect(throws: AgeError.self) {
            _ = try AgeDecryptor(source: EndlessStanzas(), identities: [.x25519(.generate())])
        }
    }

    @Test("endless whitespace before armor is refused")
    func endlessArmorWhitespace() {
        let file = [UInt8](repeating: 0x20, count: 4096) + [0x0A] + Array("-----BEGIN AGE ENCRYPTED FILE-----\n".utf8)
        #expect(throws: AgeError.self) {
            _ = try AgeDecryptor(source: AgeBytesSource(file), identities: [.x25519(.generate())], format: .armored)
        }
        // Automatic detection treats it as binary: still a typed error.
        #expect(throws: AgeError.self) {
            _ = try AgeDecryptor(source: AgeBytesSource(file), identities: [.x25519(.generate())])
        }
    }

    @Test("payload chunk nonces are the 11-byte counter and the last flag")
    func chunkNonce() {
        #expect(AgePayload.chunkNonce(counter: 0, last: false) == [UInt8](repeating: 0, count: 12))
        #expect(AgePayload.chunkNonce(counter: 1, last: true) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1])
        #expect(AgePayload.chunkNonce(counter: 0x0102, last: false) == [0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 0])
    }
}

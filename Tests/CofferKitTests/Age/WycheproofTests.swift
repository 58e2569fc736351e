import Foundation
import Testing

@testable import CofferKit

/// A Wycheproof test file (`testvectors_v1` schema): groups of tests, each
/// group with its own shared parameters. One generic loader for all files.
struct WycheproofFile<Group: Decodable & Sendable>: Decodable, Sendable {
    /// Algorithm name as the file states it.
    var algorithm: String
    /// The number of tests the file declares.
    var numberOfTests: Int
    /// The groups.
    var testGroups: [Group]

    /// Loads `name` from `shared/wycheproof/`.
    static func load(_ name: String) throws -> WycheproofFile {
        let url = TestSupport.vectorsDirectory.appendingPathComponent("wycheproof").appendingPathComponent(name)
        return try JSONDecoder().decode(WycheproofFile.self, from: Data(contentsOf: url))
    }
}

/// `valid`, `invalid` or `acceptable` (see each file's notes).
enum WycheproofResult: String, Decodable, Sendable {
    case valid, invalid, acceptable
}

/// AEAD groups (ChaCha20-Poly1305, XChaCha20-Poly1305).
struct AEADGroup: Decodable, Sendable {
    struct Test: Decodable, Sendable {
        var tcId: Int
        var key: String
        var iv: String
        var aad: String
        var msg: String
        var ct: String
        var tag: String
        var result: WycheproofResult
    }
    var ivSize: Int
    var tests: [Test]
}

/// X25519 (`xdh_comp`) groups.
struct XDHGroup: Decodable, Sendable {
    struct Test: Decodable, Sendable {
        var tcId: Int
        var `public`: String
        var `private`: String
        var shared: String
        var result: WycheproofResult
        var flags: [String]
    }
    var tests: [Test]
}

/// Ed25519 verification groups.
struct EdDSAGroup: Decodable, Sendable {
    struct PublicKey: Decodable, Sendable { var pk: String }
    struct Test: Decodable, Sendable {
        var tcId: Int
        var msg: String
        var sig: String
        var result: WycheproofResult
    }
    var publicKey: PublicKey
    var tests: [Test]
}

/// HKDF groups.
struct HKDFGroup: Decodable, Sendable {
    struct Test: Decodable, Sendable {
        var tcId: Int
        var ikm: String
        var salt: String
        var info: String
        var size: Int
        var okm: String
        var result: WycheproofResult
    }
    var tests: [Test]
}

/// MAC groups (tags may be truncated to `tagSize` bits).
struct MACGroup: Decodable, Sendable {
    struct Test: Decodable, Sendable {
        var tcId: Int
        var key: String
        var msg: String
        var tag: String
        var result: WycheproofResult
    }
    var tagSize: Int
    var tests: [Test]
}

/// Wycheproof vectors against our libsodium wrappers and our HKDF.
@Suite("Wycheproof")
struct WycheproofTests {
    private func key(_ hex: String) -> SymmetricKey {
        SymmetricKey(unchecked: [UInt8](hex: hex).withUnsafeBytes { SecureBytes(copying: $0) })
    }

    /// Valid: seal gives ct‖tag and open gives msg. Invalid (modified tag,
    /// bad nonce size): open throws. No `acceptable` cases in these files.
    @Test("AEAD", arguments: [
        ("chacha20_poly1305_test.json", AEAD.chaCha20Poly1305),
        ("xchacha20_poly1305_test.json", AEAD.xChaCha20Poly1305),
    ])
    func aead(_ file: String, _ aead: AEAD) throws {
        let vectors = try WycheproofFile<AEADGroup>.load(file)
        var run = 0
        for group in vectors.testGroups {
            for test in group.tests {
                run += 1
                let key = key(test.key)
                let (nonce, aad, msg) = ([UInt8](hex: test.iv), [UInt8](hex: test.aad), [UInt8](hex: test.msg))
                let sealed = [UInt8](hex: test.ct) + [UInt8](hex: test.tag)
                #expect(test.result != .acceptable, "tcId \(test.tcId): no acceptable cases expected")
                let opened = try? aead.open(sealed, key: key, nonce: nonce, associatedData: aad, what: "test")
                if test.result == .valid {
                    #expect(nonce.count == aead.nonceByteCount, "tcId \(test.tcId)")
                    #expect(aead.seal(msg, key: key, nonce: nonce, associatedData: aad) == sealed, "tcId \(test.tcId) seal")
                    #expect(opened == msg, "tcId \(test.tcId) open")
                } else {
                    #expect(opened == nil, "tcId \(test.tcId) must be rejected")
                }
            }
        }
        #expect(run > 0)
        #expect(run == vectors.numberOfTests)
    }

    /// Valid: the shared secret matches. Acceptable: libsodium (and age)
    /// reject an all-zero shared secret (low-order public keys), so those
    /// must throw; every other acceptable case (twist points, non-canonical
    /// encodings) is computed per RFC 7748 and must match.
    @Test("X25519")
    func x25519() throws {
        let vectors = try WycheproofFile<XDHGroup>.load("x25519_test.json")
        var run = 0, rejectedZero = 0
        let zero = String(repeating: "00", count: 32)
        for group in vectors.testGroups {
            for test in group.tests {
                run += 1
                let secret = [UInt8](hex: test.private).withUnsafeBytes { SecureBytes(copying: $0) }
                let result = try? X25519.sharedSecret(secret: secret, peer: [UInt8](hex: test.public))
                let shared = result?.withUnsafeBytes { Array($0) }
                if test.shared == zero {
                    #expect(test.result != .valid, "tcId \(test.tcId)")
                    #expect(shared == nil, "tcId \(test.tcId): all-zero shared secret must be refused")
                    rejectedZero += 1
                } else {
                    #expect(test.result != .invalid, "tcId \(test.tcId): no invalid cases expected")
                    #expect(shared?.hex == test.shared, "tcId \(test.tcId) \(test.flags)")
                }
            }
        }
        #expect(run > 0)
        #expect(run == vectors.numberOfTests)
        #expect(rejectedZero == 31)
    }

    /// Valid signatures verify; invalid ones (malleable S, bad encodings,
    /// wrong lengths) do not. No acceptable cases in this file.
    @Test("Ed25519")
    func ed25519() throws {
        let vectors = try WycheproofFile<EdDSAGroup>.load("ed25519_test.json")
        var run = 0
        for group in vectors.testGroups {
            let publicKey = [UInt8](hex: group.publicKey.pk)
            for test in group.tests {
                run += 1
                let valid = Ed25519.isValid(signature: [UInt8](hex: test.sig), message: [UInt8](hex: test.msg), publicKey: publicKey)
                #expect(test.result != .acceptable)
                #expect(valid == (test.result == .valid), "tcId \(test.tcId)")
            }
        }
        #expect(run > 0)
        #expect(run == vectors.numberOfTests)
    }

    /// Valid: the output matches. Invalid (output longer than 255 × 32
    /// bytes): HKDF throws.
    @Test("HKDF-SHA-256")
    func hkdf() throws {
        let vectors = try WycheproofFile<HKDFGroup>.load("hkdf_sha256_test.json")
        var run = 0
        for group in vectors.testGroups {
            for test in group.tests {
                run += 1
                let (ikm, salt, info) = ([UInt8](hex: test.ikm), [UInt8](hex: test.salt), [UInt8](hex: test.info))
                let output = ikm.withUnsafeBytes { i in
                    salt.withUnsafeBytes { s in
                        info.withUnsafeBytes { f in
                            try? HKDF.deriveBytes(inputKeyMaterial: i, salt: s, info: f, outputByteCount: test.size)
                        }
                    }
                }
                switch test.result {
                case .valid: #expect(output?.withUnsafeBytes { Array($0) }.hex == test.okm, "tcId \(test.tcId)")
                case .invalid: #expect(output == nil, "tcId \(test.tcId)")
                case .acceptable: Issue.record("tcId \(test.tcId): no acceptable cases expected")
                }
            }
        }
        #expect(run > 0)
        #expect(run == vectors.numberOfTests)
    }

    /// The tag (truncated to the group's tag size) matches for valid cases
    /// and differs for invalid (modified tag) ones.
    @Test("HMAC-SHA-256")
    func hmac() throws {
        let vectors = try WycheproofFile<MACGroup>.load("hmac_sha256_test.json")
        var run = 0
        for group in vectors.testGroups {
            for test in group.tests {
                run += 1
                let tag = HMACSHA256.authenticate([UInt8](hex: test.msg), key: [UInt8](hex: test.key))
                let truncated = Array(tag.prefix(group.tagSize / 8))
                let matches = Sodium.constantTimeEqual(truncated, [UInt8](hex: test.tag))
                #expect(test.result != .acceptable)
                #expect(matches == (test.result == .valid), "tcId \(test.tcId)")
            }
        }
        #expect(run > 0)
        #expect(run == vectors.numberOfTests)
    }
}

import Crypto
import Foundation

/// age's post-quantum hybrid recipient type, `mlkem768x25519` (C2SP age
/// v1.1.0): the file key is sealed with HPKE (RFC 9180, base mode) under the
/// X-Wing KEM (ML-KEM-768 with X25519, HPKE KEM 0x647a), HKDF-SHA-256 and
/// ChaCha20-Poly1305, info `age-encryption.org/mlkem768x25519`, no
/// associated data. X-Wing and HPKE come from apple/swift-crypto (BoringSSL);
/// libsodium has neither.
///
/// A file encrypted to such a recipient stays secret from an attacker with
/// a quantum computer only if every recipient of it is post-quantum, so
/// ``AgeWrap/stanzas(for:fileKey:)`` refuses to mix them with classic ones,
/// as age does.
enum AgeHybrid {
    /// The stanza type, and the HPKE info string's last component.
    static let stanzaType = "mlkem768x25519"
    /// The HPKE info.
    static let info = "age-encryption.org/mlkem768x25519"
    /// age's wording when post-quantum and classic recipients are mixed.
    static let mixedRecipients = "incompatible recipients: can't mix post-quantum and classic recipients, or the file would be vulnerable to quantum computers"
}

/// An age hybrid post-quantum recipient: an X-Wing public key, written
/// `age1pq1…` (Bech32, human-readable part `age1pq`, 1216 bytes of key).
public struct AgeHybridRecipient: Sendable, Hashable, CustomStringConvertible {
    /// The 1216-byte X-Wing encapsulation key.
    let publicKey: [UInt8]

    /// Adopts an encapsulation key swift-crypto accepted.
    fileprivate init(checked publicKey: [UInt8]) {
        self.publicKey = publicKey
    }

    /// Parses an `age1pq1…` recipient.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` saying what is wrong.
    public init(_ encoded: String) throws {
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(encoded)
        } catch let error as Bech32.DecodingError {
            throw AgeError.invalidRecipient(error.description)
        }
        guard decoded.hrp == "age1pq" else { throw AgeError.invalidRecipient("a post-quantum age recipient starts with \"age1pq1\"") }
        guard XWing.isPublicKey(decoded.data) else {
            throw AgeError.invalidRecipient("an age1pq1 recipient holds a 1216-byte ML-KEM-768 + X25519 public key, this one has \(decoded.data.count) bytes")
        }
        publicKey = decoded.data
    }

    /// The `age1pq1…` encoding.
    public var encoded: String { Bech32.encode(hrp: "age1pq", data: publicKey) }

    /// The `age1pq1…` encoding (a recipient is public).
    public var description: String { encoded }
}

/// An age hybrid post-quantum identity: the 32-byte X-Wing seed, written
/// `AGE-SECRET-KEY-PQ-1…`. The seed lives in locked memory; for each use,
/// swift-crypto copies it into a key object of its own that it frees
/// without wiping (docs/AGE.md, the mlkem768x25519 rule).
public struct AgeHybridIdentity: Sendable {
    /// The 32-byte seed.
    let seed: SecureBytes

    /// Adopts a 32-byte seed.
    init(seed: SecureBytes) {
        precondition(seed.count == XWing.seedByteCount, "X-Wing seed length")
        self.seed = seed
    }

    /// A new random identity.
    public static func generate() -> AgeHybridIdentity {
        AgeHybridIdentity(seed: SecureBytes(randomCount: XWing.seedByteCount))
    }

    /// Parses one `AGE-SECRET-KEY-PQ-1…` string.
    /// - Throws: ``AgeError/invalidIdentity(_:)`` saying what is wrong (never echoing the key).
    public init(_ encoded: String) throws {
        seed = try AgeSecretKeyText.decode(encoded, prefix: "AGE-SECRET-KEY-PQ-1", kind: "a post-quantum age identity", byteCount: XWing.seedByteCount)
    }

    /// The X-Wing decapsulation key expanded from the seed.
    fileprivate func privateKey() throws -> XWingMLKEM768X25519.PrivateKey {
        do {
            return try XWing.privateKey(seed: seed)
        } catch {
            throw AgeError.invalidIdentity("the post-quantum seed does not expand to an X-Wing key")
        }
    }

    /// The recipient (public key) files for this identity are encrypted to.
    /// - Throws: ``AgeError/invalidIdentity(_:)`` if swift-crypto refuses the seed.
    public func recipient() throws -> AgeHybridRecipient {
        AgeHybridRecipient(checked: Array(try privateKey().publicKey.rawRepresentation))
    }

    /// The `AGE-SECRET-KEY-PQ-1…` encoding, as ASCII in locked memory (for
    /// writing an identity file).
    public func encodedSecretKey() -> SecureBytes {
        AgeSecretKeyText.encode(seed, prefix: "AGE-SECRET-KEY-PQ-1")
    }
}

/// The mlkem768x25519 stanza, parsed: `-> mlkem768x25519 <base64 1120-byte
/// encapsulation>` with a 32-byte body. Format code.
struct AgeHybridStanza: Sendable, Equatable {
    /// The stanza type.
    static let type = AgeHybrid.stanzaType
    /// The X-Wing ciphertext (HPKE's `enc`).
    var encapsulation: [UInt8]
    /// The sealed file key.
    var body: [UInt8]

    /// Checks the stanza: one argument, canonical unpadded base64 of 1120
    /// bytes whose X25519 part is not a low-order point, and a 32-byte body.
    /// - Throws: ``AgeError/header(_:)``.
    init(_ stanza: AgeStanza) throws {
        precondition(stanza.type == Self.type, "caller filters on the stanza type")
        guard stanza.arguments.count == 1,
              let encapsulation = Base64.decode(bytes: Array(stanza.arguments[0].utf8), padded: false),
              encapsulation.count == XWing.encapsulationByteCount
        else { throw AgeError.header("an mlkem768x25519 stanza must have one argument, 1120 bytes in canonical unpadded base64") }
        guard stanza.body.count == 32 else {
            throw AgeError.header("an mlkem768x25519 stanza body is not 32 bytes (a 16-byte file key and its tag)")
        }
        // A low-order X25519 share makes that half of the shared secret all
        // zero, which X-Wing's combiner would hash without complaint; age
        // refuses it. With a clamped random scalar, libsodium's X25519
        // yields zero (and throws) exactly for such points.
        let share = Array(encapsulation.suffix(X25519.byteCount))
        guard (try? X25519.sharedSecret(secret: SecureBytes(randomCount: X25519.byteCount), peer: share)) != nil else {
            throw AgeError.header("the X25519 share of an mlkem768x25519 stanza is a low-order point")
        }
        self.encapsulation = encapsulation
        body = stanza.body
    }

    /// A stanza from its parts (for encryption).
    init(encapsulation: [UInt8], body: [UInt8]) {
        self.encapsulation = encapsulation
        self.body = body
    }

    /// The generic stanza to serialise.
    var stanza: AgeStanza {
        AgeStanza(type: Self.type, arguments: [Base64.encode(encapsulation, padded: false)], body: body)
    }
}

extension AgeWrap {
    /// The mlkem768x25519 stanza for `recipient`: HPKE's sender seals the file key.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` if swift-crypto refuses the key.
    static func wrap(_ fileKey: AgeFileKey, to recipient: AgeHybridRecipient) throws -> AgeHybridStanza {
        do {
            let sealed = try XWing.seal(fileKey.bytes, to: recipient.publicKey, info: AgeHybrid.info, associatedData: [])
            return AgeHybridStanza(
                encapsulation: Array(sealed[..<XWing.encapsulationByteCount]), body: Array(sealed[XWing.encapsulationByteCount...]))
        } catch {
            throw AgeError.invalidRecipient("the post-quantum recipient's key was refused")
        }
    }

    /// Opens an mlkem768x25519 stanza; nil if it is not for this identity
    /// (X-Wing rejects implicitly: a stanza for another key fails only at the AEAD).
    /// - Throws: ``AgeError/header(_:)`` if HPKE refuses the encapsulation.
    static func unwrap(_ stanza: AgeHybridStanza, with identity: AgeHybridIdentity) throws -> AgeFileKey? {
        var recipient: HPKE.Recipient
        do {
            recipient = try HPKE.Recipient(
                privateKey: try identity.privateKey(), ciphersuite: XWing.ciphersuite, info: Data(AgeHybrid.info.utf8),
                encapsulatedKey: Data(stanza.encapsulation))
        } catch let error as AgeError {
            throw error
        } catch {
            throw AgeError.header("an mlkem768x25519 encapsulation was refused")
        }
        guard var fileKey = try? recipient.open(stanza.body) else { return nil }
        defer { fileKey.resetBytes(in: fileKey.startIndex..<fileKey.endIndex) }
        guard fileKey.count == AgeFileKey.byteCount else { return nil }
        return AgeFileKey(unchecked: fileKey.withUnsafeBytes { SecureBytes(copying: $0) })
    }
}

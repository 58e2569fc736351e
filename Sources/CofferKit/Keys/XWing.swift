import Crypto
import Foundation

/// Post-quantum hybrid public-key encryption of short secrets: HPKE (RFC
/// 9180, base mode) with the X-Wing KEM (ML-KEM-768 combined with X25519),
/// HKDF-SHA-256 and ChaCha20-Poly1305, all from apple/swift-crypto
/// (BoringSSL). The suite of age's `mlkem768x25519` recipients; Coffer uses
/// it for role keys sealed to members and data keys wrapped to a role's
/// public key, each under an `info` string of its own.
///
/// A sealed secret stays confidential while either ML-KEM-768 or X25519
/// holds: against a recorded vault and a future quantum computer, and
/// against a future break of ML-KEM.
enum XWing {
    /// The HPKE suite.
    static let ciphersuite = HPKE.Ciphersuite(kem: .XWingMLKEM768X25519, kdf: .HKDF_SHA256, aead: .chaChaPoly)
    /// An encapsulation (public) key.
    static let publicKeyByteCount = 1216
    /// An encapsulation: ML-KEM-768's ciphertext (1088 bytes), then X25519's share (32).
    static let encapsulationByteCount = 1120
    /// The seed a decapsulation key is expanded from.
    static let seedByteCount = 32
    /// Bytes a sealed secret adds: the encapsulation and the AEAD tag.
    static let overhead = encapsulationByteCount + 16

    /// The public key of the decapsulation key expanded from `seed`.
    /// - Throws: ``CryptoError/invalidInput(_:)`` if swift-crypto refuses the seed.
    static func publicKey(seed: SecureBytes) throws -> [UInt8] {
        Array(try privateKey(seed: seed).publicKey.rawRepresentation)
    }

    /// Whether swift-crypto accepts `bytes` as an X-Wing public key (it checks
    /// the length, not that the ML-KEM coefficients are below q).
    static func isPublicKey(_ bytes: [UInt8]) -> Bool {
        bytes.count == publicKeyByteCount && (try? XWingMLKEM768X25519.PublicKey(rawRepresentation: bytes)) != nil
    }

    /// Seals `secret` to `publicKey`: `encapsulation ‖ ciphertext+tag`.
    /// - Throws: ``CryptoError/invalidInput(_:)`` if the public key is refused.
    static func seal(_ secret: SecureBytes, to publicKey: [UInt8], info: String, associatedData: [UInt8]) throws -> [UInt8] {
        do {
            let key = try XWingMLKEM768X25519.PublicKey(rawRepresentation: publicKey)
            var sender = try HPKE.Sender(recipientKey: key, ciphersuite: ciphersuite, info: Data(info.utf8))
            var plain = secret.withUnsafeBytes { Array($0) }
            defer { Sodium.wipe(&plain) }
            let sealed = try sender.seal(plain, authenticating: associatedData)
            return Array(sender.encapsulatedKey) + Array(sealed)
        } catch {
            throw CryptoError.invalidInput("an X-Wing public key was refused")
        }
    }

    /// Opens what ``seal(_:to:info:associatedData:)`` made for the key
    /// expanded from `seed`, into locked memory.
    /// - Throws: ``CryptoError/authenticationFailed(_:)`` naming `what` if it is
    ///   not for this key, or was changed, or belongs to another context.
    static func open(_ sealed: [UInt8], seed: SecureBytes, info: String, associatedData: [UInt8], what: String) throws -> SecureBytes {
        guard sealed.count >= overhead else { throw CryptoError.authenticationFailed(what) }
        do {
            var recipient = try HPKE.Recipient(
                privateKey: try privateKey(seed: seed), ciphersuite: ciphersuite, info: Data(info.utf8),
                encapsulatedKey: Data(sealed[..<encapsulationByteCount]))
            var plain = try recipient.open(Data(sealed[encapsulationByteCount...]), authenticating: associatedData)
            defer { plain.resetBytes(in: plain.startIndex..<plain.endIndex) }
            return plain.withUnsafeBytes { SecureBytes(copying: $0) }
        } catch {
            throw CryptoError.authenticationFailed(what)
        }
    }

    /// The decapsulation key expanded from `seed`. swift-crypto keeps its own
    /// copy of the seed in the key object and frees it without wiping
    /// (docs/AGE.md, the mlkem768x25519 rule); ours is wiped here.
    static func privateKey(seed: SecureBytes) throws -> XWingMLKEM768X25519.PrivateKey {
        precondition(seed.count == seedByteCount, "X-Wing seed length")
        var bytes = seed.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&bytes) }
        do {
            return try XWingMLKEM768X25519.PrivateKey(seedRepresentation: bytes, publicKey: nil)
        } catch {
            throw CryptoError.invalidInput("an X-Wing seed was refused")
        }
    }
}

import CSodium

/// X25519 key agreement and anonymous sealed boxes (`crypto_box_seal`).
enum X25519 {
    /// Length of public keys, secret keys and shared secrets.
    static let byteCount = 32
    /// Bytes a sealed box adds to its message (ephemeral key and tag).
    static let sealedBoxOverhead = Int(crypto_box_sealbytes())

    /// The public key of a secret scalar.
    static func publicKey(of secret: SecureBytes) -> [UInt8] {
        var pk = [UInt8](repeating: 0, count: byteCount)
        secret.withUnsafeBytes { s in
            pk.withUnsafeMutableBytes { _ = crypto_scalarmult_base($0.u8, s.u8) }
        }
        return pk
    }

    /// The raw X25519 output of `secret` and `peer`. It is never used as a key
    /// directly: callers run it through a KDF together with both public keys.
    /// - Throws: ``CryptoError/invalidInput(_:)`` for a low-order peer key
    ///   (all-zero output).
    static func sharedSecret(secret: SecureBytes, peer: [UInt8]) throws -> SecureBytes {
        try peer.withUnsafeBytes { try sharedSecret(secret: secret, point: $0, what: "public key") }
    }

    /// ``sharedSecret(secret:peer:)`` with a point that is itself secret (a
    /// shared secret tweaked again, as age's ssh-ed25519 recipients do).
    static func sharedSecret(secret: SecureBytes, peer: SecureBytes) throws -> SecureBytes {
        try peer.withUnsafeBytes { try sharedSecret(secret: secret, point: $0, what: "point") }
    }

    /// X25519 of `secret` and `point`, refusing a point of the wrong length or of low order.
    private static func sharedSecret(secret: SecureBytes, point: UnsafeRawBufferPointer, what: String) throws -> SecureBytes {
        guard point.count == byteCount else { throw CryptoError.invalidInput("X25519 \(what) must be 32 bytes") }
        return try SecureBytes(count: byteCount) { (out) throws in
            let rc = secret.withUnsafeBytes { s in crypto_scalarmult(out.u8, s.u8, point.u8) }
            guard rc == 0 else { throw CryptoError.invalidInput("X25519 \(what) is of low order") }
        }
    }

    /// Seals `message` to `recipient` so that only its secret key opens it.
    static func seal(_ message: SecureBytes, to recipient: [UInt8]) -> [UInt8] {
        precondition(recipient.count == byteCount, "X25519 public key length")
        var out = [UInt8](repeating: 0, count: message.count + sealedBoxOverhead)
        message.withUnsafeBytes { m in
            recipient.withUnsafeBytes { r in
                out.withUnsafeMutableBytes { o in
                    precondition(crypto_box_seal(o.u8, m.u8, UInt64(m.count), r.u8) == 0, "crypto_box_seal")
                }
            }
        }
        return out
    }

    /// Opens a sealed box into locked memory.
    /// - Throws: ``CryptoError/authenticationFailed(_:)`` if the box is not for
    ///   this key pair or was altered.
    static func openSealed(
        _ box: [UInt8], publicKey: [UInt8], secretKey: SecureBytes, what: String
    ) throws -> SecureBytes {
        guard box.count >= sealedBoxOverhead else { throw CryptoError.authenticationFailed(what) }
        return try SecureBytes(count: box.count - sealedBoxOverhead) { (out) throws in
            let rc = box.withUnsafeBytes { b in
                publicKey.withUnsafeBytes { p in
                    secretKey.withUnsafeBytes { s in crypto_box_seal_open(out.u8, b.u8, UInt64(b.count), p.u8, s.u8) }
                }
            }
            guard rc == 0 else { throw CryptoError.authenticationFailed(what) }
        }
    }
}

/// Ed25519 signatures (`crypto_sign_*`).
enum Ed25519 {
    /// Public key length.
    static let publicKeyByteCount = 32
    /// Signature length.
    static let signatureByteCount = 64

    /// Expands a 32-byte seed into (public key, 64-byte secret key).
    static func keyPair(seed: SecureBytes) -> (publicKey: [UInt8], secretKey: SecureBytes) {
        var pk = [UInt8](repeating: 0, count: publicKeyByteCount)
        let sk = SecureBytes(count: Int(crypto_sign_SECRETKEYBYTES)) { skOut in
            seed.withUnsafeBytes { s in
                pk.withUnsafeMutableBytes { p in _ = crypto_sign_seed_keypair(p.u8, skOut.u8, s.u8) }
            }
        }
        return (pk, sk)
    }

    /// Signs `message` with a 64-byte secret key.
    static func sign(_ message: UnsafeRawBufferPointer, secretKey: SecureBytes) -> [UInt8] {
        var sig = [UInt8](repeating: 0, count: signatureByteCount)
        secretKey.withUnsafeBytes { sk in
            sig.withUnsafeMutableBytes { s in
                _ = crypto_sign_detached(s.u8, nil, message.u8, UInt64(message.count), sk.u8)
            }
        }
        return sig
    }

    /// Signs `message` with a 64-byte secret key.
    static func sign(_ message: [UInt8], secretKey: SecureBytes) -> [UInt8] {
        message.withUnsafeBytes { sign($0, secretKey: secretKey) }
    }

    /// Checks a signature; libsodium rejects non-canonical and small-order
    /// encodings.
    static func isValid(signature: [UInt8], message: [UInt8], publicKey: [UInt8]) -> Bool {
        guard signature.count == signatureByteCount, publicKey.count == publicKeyByteCount else { return false }
        return signature.withUnsafeBytes { s in
            message.withUnsafeBytes { m in
                publicKey.withUnsafeBytes { p in crypto_sign_verify_detached(s.u8, m.u8, UInt64(m.count), p.u8) == 0 }
            }
        }
    }
}

/// Password hashing: Argon2id for Coffer's identity files, scrypt for age's
/// passphrase recipient.
public enum PasswordHash {
    /// Argon2id cost parameters.
    public struct Argon2Limits: Sendable, Equatable {
        /// Number of passes.
        public var operations: UInt64
        /// Memory in bytes.
        public var memory: UInt64

        /// Limits with the given passes and memory (bytes).
        public init(operations: UInt64, memory: UInt64) {
            self.operations = operations
            self.memory = memory
        }

        /// libsodium's MODERATE limits: 3 passes, 256 MiB.
        public static let moderate = Argon2Limits(
            operations: UInt64(crypto_pwhash_OPSLIMIT_MODERATE), memory: UInt64(crypto_pwhash_MEMLIMIT_MODERATE))
        /// The smallest limits accepted when reading a file (libsodium's
        /// INTERACTIVE): anything weaker is refused as a downgrade.
        public static let minimum = Argon2Limits(
            operations: UInt64(crypto_pwhash_OPSLIMIT_INTERACTIVE), memory: UInt64(crypto_pwhash_MEMLIMIT_INTERACTIVE))
        /// The largest limits accepted when reading a file, so a hostile file
        /// cannot make us allocate without bound (SENSITIVE: 4 passes, 1 GiB).
        public static let maximum = Argon2Limits(
            operations: UInt64(crypto_pwhash_OPSLIMIT_SENSITIVE), memory: UInt64(crypto_pwhash_MEMLIMIT_SENSITIVE))
    }

    /// Salt length for Argon2id.
    static let argon2SaltByteCount = Int(crypto_pwhash_SALTBYTES)

    /// Derives a 32-byte key from `passphrase` with Argon2id v1.3.
    static func argon2id(passphrase: SecureBytes, salt: [UInt8], limits: Argon2Limits) throws -> SymmetricKey {
        guard salt.count == argon2SaltByteCount else { throw CryptoError.invalidInput("Argon2id salt must be 16 bytes") }
        let key = try SecureBytes(count: SymmetricKey.byteCount) { (out) throws in
            let rc = passphrase.withUnsafeBytes { p in
                salt.withUnsafeBytes { s in
                    crypto_pwhash(
                        out.u8, UInt64(out.count), UnsafeRawPointer(p.u8).assumingMemoryBound(to: CChar.self),
                        UInt64(p.count), s.u8, limits.operations, Int(limits.memory), crypto_pwhash_ALG_ARGON2ID13)
                }
            }
            guard rc == 0 else { throw CryptoError.operationFailed("Argon2id could not allocate \(limits.memory >> 20) MiB") }
        }
        return SymmetricKey(unchecked: key)
    }

    /// scrypt (N = 2^logN, r = 8, p = 1) as age's passphrase recipient uses it.
    static func scrypt(passphrase: SecureBytes, salt: [UInt8], logN: Int) throws -> SymmetricKey {
        let key = try SecureBytes(count: SymmetricKey.byteCount) { (out) throws in
            let rc = passphrase.withUnsafeBytes { p in
                salt.withUnsafeBytes { s in
                    crypto_pwhash_scryptsalsa208sha256_ll(
                        p.u8, p.count, s.u8, s.count, UInt64(1) << UInt64(logN), 8, 1, out.u8, out.count)
                }
            }
            guard rc == 0 else { throw CryptoError.operationFailed("scrypt with work factor 2^\(logN)") }
        }
        return SymmetricKey(unchecked: key)
    }
}

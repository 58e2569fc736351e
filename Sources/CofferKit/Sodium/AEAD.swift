import CSodium

/// The two ChaCha20-Poly1305 AEADs Coffer uses, behind one interface:
/// XChaCha20-Poly1305 (24-byte nonces; all of Coffer's own formats) and the
/// IETF ChaCha20-Poly1305 (12-byte nonces; the age payload and header).
enum AEAD: Sendable {
    /// XChaCha20-Poly1305 (IETF construction, 192-bit nonce).
    case xChaCha20Poly1305
    /// ChaCha20-Poly1305 as in RFC 8439 (96-bit nonce).
    case chaCha20Poly1305

    /// Length of the authentication tag appended to every ciphertext.
    static let tagByteCount = 16

    /// Nonce length in bytes for this algorithm.
    var nonceByteCount: Int {
        switch self {
        case .xChaCha20Poly1305: 24
        case .chaCha20Poly1305: 12
        }
    }

    /// Encrypts `plaintext` into `output`, which must hold exactly
    /// `plaintext.count + tagByteCount` bytes (ciphertext then tag).
    ///
    /// The caller guarantees that (key, nonce) is never used twice; each call
    /// site documents why.
    func seal(
        _ plaintext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer
    ) {
        precondition(nonce.count == nonceByteCount, "nonce length")
        precondition(output.count == plaintext.count + Self.tagByteCount, "output length")
        var written: UInt64 = 0
        let result = key.withUnsafeBytes { k in
            switch self {
            case .xChaCha20Poly1305:
                crypto_aead_xchacha20poly1305_ietf_encrypt(
                    output.u8, &written,
                    plaintext.u8, UInt64(plaintext.count),
                    associatedData.u8, UInt64(associatedData.count),
                    nil, nonce.u8, k.u8)
            case .chaCha20Poly1305:
                crypto_aead_chacha20poly1305_ietf_encrypt(
                    output.u8, &written,
                    plaintext.u8, UInt64(plaintext.count),
                    associatedData.u8, UInt64(associatedData.count),
                    nil, nonce.u8, k.u8)
            }
        }
        precondition(result == 0 && Int(written) == output.count, "AEAD encryption cannot fail on valid lengths")
    }

    /// Decrypts and authenticates `ciphertext` (ciphertext then tag) into
    /// `output`, which must hold `ciphertext.count - tagByteCount` bytes. On
    /// failure `output` is zeroed, so no unauthenticated byte is ever released.
    /// - Throws: ``CryptoError/authenticationFailed(_:)`` naming `what`.
    func open(
        _ ciphertext: UnsafeRawBufferPointer,
        into output: UnsafeMutableRawBufferPointer,
        key: SymmetricKey,
        nonce: UnsafeRawBufferPointer,
        associatedData: UnsafeRawBufferPointer,
        what: @autoclosure () -> String
    ) throws {
        guard nonce.count == nonceByteCount else { throw CryptoError.invalidInput("nonce length") }
        guard ciphertext.count >= Self.tagByteCount, output.count == ciphertext.count - Self.tagByteCount else {
            throw CryptoError.authenticationFailed(what())
        }
        var written: UInt64 = 0
        let result = key.withUnsafeBytes { k in
            switch self {
            case .xChaCha20Poly1305:
                crypto_aead_xchacha20poly1305_ietf_decrypt(
                    output.u8, &written, nil,
                    ciphertext.u8, UInt64(ciphertext.count),
                    associatedData.u8, UInt64(associatedData.count),
                    nonce.u8, k.u8)
            case .chaCha20Poly1305:
                crypto_aead_chacha20poly1305_ietf_decrypt(
                    output.u8, &written, nil,
                    ciphertext.u8, UInt64(ciphertext.count),
                    associatedData.u8, UInt64(associatedData.count),
                    nonce.u8, k.u8)
            }
        }
        guard result == 0 else {
            Sodium.wipe(output)
            throw CryptoError.authenticationFailed(what())
        }
    }

    /// Encrypts a small public message; returns ciphertext then tag.
    func seal(_ plaintext: [UInt8], key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: plaintext.count + Self.tagByteCount)
        plaintext.withUnsafeBytes { p in
            nonce.withUnsafeBytes { n in
                associatedData.withUnsafeBytes { a in
                    output.withUnsafeMutableBytes { o in
                        seal(p, into: o, key: key, nonce: n, associatedData: a)
                    }
                }
            }
        }
        return output
    }

    /// Encrypts secret bytes (a key being wrapped); returns ciphertext then tag.
    func seal(_ plaintext: SecureBytes, key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: plaintext.count + Self.tagByteCount)
        plaintext.withUnsafeBytes { p in
            nonce.withUnsafeBytes { n in
                associatedData.withUnsafeBytes { a in
                    output.withUnsafeMutableBytes { o in
                        seal(p, into: o, key: key, nonce: n, associatedData: a)
                    }
                }
            }
        }
        return output
    }

    /// Decrypts a small public message.
    func open(
        _ ciphertext: [UInt8], key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8],
        what: @autoclosure () -> String
    ) throws -> [UInt8] {
        guard ciphertext.count >= Self.tagByteCount else { throw CryptoError.authenticationFailed(what()) }
        var output = [UInt8](repeating: 0, count: ciphertext.count - Self.tagByteCount)
        try ciphertext.withUnsafeBytes { c in
            try nonce.withUnsafeBytes { n in
                try associatedData.withUnsafeBytes { a in
                    try output.withUnsafeMutableBytes { o in
                        try open(c, into: o, key: key, nonce: n, associatedData: a, what: what())
                    }
                }
            }
        }
        return output
    }

    /// Decrypts a wrapped secret straight into locked memory.
    func openSecret(
        _ ciphertext: [UInt8], key: SymmetricKey, nonce: [UInt8], associatedData: [UInt8],
        what: @autoclosure () -> String
    ) throws -> SecureBytes {
        guard ciphertext.count >= Self.tagByteCount else { throw CryptoError.authenticationFailed(what()) }
        let label = what()
        return try SecureBytes(count: ciphertext.count - Self.tagByteCount) { o in
            try ciphertext.withUnsafeBytes { c in
                try nonce.withUnsafeBytes { n in
                    try associatedData.withUnsafeBytes { a in
                        try open(c, into: o, key: key, nonce: n, associatedData: a, what: label)
                    }
                }
            }
        }
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes as `const unsigned char *` for a C call; a valid (unread)
    /// address even when the buffer is empty, since some C APIs reject NULL.
    var u8: UnsafePointer<UInt8> {
        guard let base = baseAddress else { return UnsafeRawPointer(emptyByteBuffer).assumingMemoryBound(to: UInt8.self) }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

extension UnsafeMutableRawBufferPointer {
    /// The bytes as `unsigned char *` for a C call; never NULL (see above).
    var u8: UnsafeMutablePointer<UInt8> {
        guard let base = baseAddress else { return emptyByteBuffer }
        return base.assumingMemoryBound(to: UInt8.self)
    }
}

/// One byte of scratch that stands in for the address of an empty buffer.
nonisolated(unsafe) private let emptyByteBuffer = UnsafeMutablePointer<UInt8>.allocate(capacity: 1)

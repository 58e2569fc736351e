/// HKDF with HMAC-SHA-256 (RFC 5869), written over libsodium's HMAC-SHA-256.
///
/// age derives every key it uses this way: the X25519 wrap key, the header
/// MAC key and the payload key. libsodium 1.0.18 has no HKDF, so this is the
/// small construction of RFC 5869, checked against Wycheproof's
/// `hkdf_sha256_test.json`:
///
///     PRK  = HMAC(salt, IKM)                         (extract)
///     T(0) = empty
///     T(i) = HMAC(PRK, T(i-1) || info || i)          (expand, i = 1…255)
///     OKM  = first L bytes of T(1) || T(2) || …
///
/// The PRK, every T(i) and the output live in locked memory.
enum HKDF {
    /// Length of SHA-256 output, the unit of HKDF-Expand.
    static let hashByteCount = 32
    /// The largest output HKDF-Expand may produce (255 blocks).
    static let maxOutputByteCount = 255 * hashByteCount

    /// HKDF-Extract: `PRK = HMAC-SHA-256(key: salt, message: ikm)`.
    ///
    /// An empty salt is the same as 32 zero bytes, because HMAC pads its key
    /// with zeros to the block size; RFC 5869 asks for exactly that.
    /// - Parameters:
    ///   - salt: the public salt (may be empty).
    ///   - inputKeyMaterial: the secret input.
    /// - Returns: the 32-byte pseudorandom key, in locked memory.
    static func extract(salt: UnsafeRawBufferPointer, inputKeyMaterial: UnsafeRawBufferPointer) -> SecureBytes {
        SecureBytes(count: hashByteCount) { prk in
            var mac = HMACSHA256(key: salt)
            mac.update(inputKeyMaterial)
            mac.finalize(into: prk)
        }
    }

    /// HKDF-Expand: stretches a pseudorandom key to `outputByteCount` bytes
    /// bound to `info`.
    /// - Parameters:
    ///   - pseudorandomKey: the PRK from ``extract(salt:inputKeyMaterial:)``
    ///     (or any uniformly random key of at least 32 bytes).
    ///   - info: the context string that separates uses of one PRK.
    ///   - outputByteCount: 0 … 8160 bytes.
    /// - Returns: the output keying material, in locked memory.
    /// - Throws: ``CryptoError/invalidInput(_:)`` if `outputByteCount` is
    ///   negative or above ``maxOutputByteCount``.
    static func expand(
        pseudorandomKey: SecureBytes, info: UnsafeRawBufferPointer, outputByteCount: Int
    ) throws -> SecureBytes {
        guard outputByteCount >= 0, outputByteCount <= maxOutputByteCount else {
            throw CryptoError.invalidInput("HKDF-SHA-256 output must be 0…\(maxOutputByteCount) bytes")
        }
        return SecureBytes(count: outputByteCount) { output in
            // T(i-1) and T(i) in scratch memory that is wiped before it is freed.
            let block = UnsafeMutableRawBufferPointer.allocate(byteCount: hashByteCount, alignment: 1)
            defer {
                Sodium.wipe(block)
                block.deallocate()
            }
            var written = 0
            var counter: UInt8 = 1
            while written < outputByteCount {
                var mac = pseudorandomKey.withUnsafeBytes { HMACSHA256(key: $0) }
                if counter > 1 { mac.update(UnsafeRawBufferPointer(block)) }
                mac.update(info)
                withUnsafeBytes(of: counter) { mac.update($0) }
                mac.finalize(into: block)
                let take = min(hashByteCount, outputByteCount - written)
                output.baseAddress!.advanced(by: written).copyMemory(from: block.baseAddress!, byteCount: take)
                written += take
                counter &+= 1
            }
        }
    }

    /// Extract then expand, for any output length (used by the Wycheproof
    /// runner; age itself always wants 32 bytes, see ``deriveKey(inputKeyMaterial:salt:info:)``).
    /// - Throws: ``CryptoError/invalidInput(_:)`` for an output length out of range.
    static func deriveBytes(
        inputKeyMaterial: UnsafeRawBufferPointer, salt: UnsafeRawBufferPointer, info: UnsafeRawBufferPointer,
        outputByteCount: Int
    ) throws -> SecureBytes {
        let prk = extract(salt: salt, inputKeyMaterial: inputKeyMaterial)
        return try expand(pseudorandomKey: prk, info: info, outputByteCount: outputByteCount)
    }

    /// Derives a 32-byte key, as every use of HKDF in age does.
    /// - Parameters:
    ///   - inputKeyMaterial: the secret (a file key or an X25519 shared secret).
    ///   - salt: the public salt (empty, a payload nonce, or two X25519 shares).
    ///   - info: the label, such as `"header"` or `"age-encryption.org/v1/X25519"`.
    /// - Returns: the derived key.
    static func deriveKey(inputKeyMaterial: SecureBytes, salt: [UInt8], info: String) -> SymmetricKey {
        let infoBytes = Array(info.utf8)
        let bytes = inputKeyMaterial.withUnsafeBytes { ikm in
            salt.withUnsafeBytes { s in
                infoBytes.withUnsafeBytes { i in
                    // 32 is within range, so this cannot throw.
                    try! deriveBytes(inputKeyMaterial: ikm, salt: s, info: i, outputByteCount: SymmetricKey.byteCount)
                }
            }
        }
        return SymmetricKey(unchecked: bytes)
    }
}

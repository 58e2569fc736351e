import CSodium

/// BLAKE2b (libsodium's `crypto_generichash`): object names, ledger links,
/// commitments and minisign's prehash.
final class Blake2b {
    // libsodium's state type is 64-byte aligned, which Swift cannot import as
    // a value, so it lives in memory allocated with that alignment.
    private let state: UnsafeMutableRawPointer
    private let outputByteCount: Int

    /// Starts an incremental hash producing `outputByteCount` bytes (16…64),
    /// optionally keyed.
    init(outputByteCount: Int = 32, key: SymmetricKey? = nil) {
        Sodium.ensureInitialised()
        self.outputByteCount = outputByteCount
        state = UnsafeMutableRawPointer.allocate(byteCount: crypto_generichash_statebytes(), alignment: 64)
        let result: Int32
        if let key {
            result = key.withUnsafeBytes { crypto_generichash_init(opaque, $0.u8, $0.count, outputByteCount) }
        } else {
            result = crypto_generichash_init(opaque, nil, 0, outputByteCount)
        }
        precondition(result == 0, "BLAKE2b output length \(outputByteCount)")
    }

    deinit {
        Sodium.wipe(UnsafeMutableRawBufferPointer(start: state, count: crypto_generichash_statebytes()))
        state.deallocate()
    }

    private var opaque: OpaquePointer { OpaquePointer(state) }

    /// Absorbs more input.
    func update(_ bytes: UnsafeRawBufferPointer) {
        crypto_generichash_update(opaque, bytes.u8, UInt64(bytes.count))
    }

    /// Absorbs more input.
    func update(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// Finishes and returns the digest.
    func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: outputByteCount)
        out.withUnsafeMutableBytes { _ = crypto_generichash_final(opaque, $0.u8, outputByteCount) }
        return out
    }

    /// One-shot BLAKE2b of `bytes`.
    static func hash(_ bytes: UnsafeRawBufferPointer, outputByteCount: Int = 32) -> [UInt8] {
        let hasher = Blake2b(outputByteCount: outputByteCount)
        hasher.update(bytes)
        return hasher.finalize()
    }

    /// One-shot BLAKE2b of `bytes`.
    static func hash(_ bytes: [UInt8], outputByteCount: Int = 32) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0, outputByteCount: outputByteCount) }
    }
}

/// HMAC-SHA-256 with a key of any length (RFC 2104), from libsodium.
struct HMACSHA256 {
    private var state = crypto_auth_hmacsha256_state()

    /// Starts a MAC under `key`.
    init(key: UnsafeRawBufferPointer) {
        Sodium.ensureInitialised()
        crypto_auth_hmacsha256_init(&state, key.u8, key.count)
    }

    /// Absorbs more input.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        crypto_auth_hmacsha256_update(&state, bytes.u8, UInt64(bytes.count))
    }

    /// Finishes and returns the 32-byte tag.
    mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        out.withUnsafeMutableBytes { _ = crypto_auth_hmacsha256_final(&state, $0.u8) }
        return out
    }

    /// Finishes into `output` (exactly 32 bytes, typically locked memory, for
    /// a MAC used as key material as in HKDF) and wipes the keyed state.
    mutating func finalize(into output: UnsafeMutableRawBufferPointer) {
        precondition(output.count == 32, "HMAC-SHA-256 output is 32 bytes")
        _ = crypto_auth_hmacsha256_final(&state, output.u8)
        withUnsafeMutableBytes(of: &state) { Sodium.wipe($0) }
    }

    /// One-shot HMAC-SHA-256.
    static func authenticate(_ message: [UInt8], key: [UInt8]) -> [UInt8] {
        var mac = key.withUnsafeBytes { HMACSHA256(key: $0) }
        message.withUnsafeBytes { mac.update($0) }
        return mac.finalize()
    }
}

/// Subkey derivation from a 256-bit master key (libsodium `crypto_kdf`,
/// BLAKE2b with the subkey id as salt and an 8-byte context as personalisation).
enum SubkeyDerivation {
    /// Derives a 32-byte subkey.
    /// - Parameters:
    ///   - master: the key to derive from.
    ///   - id: the subkey number within `context`.
    ///   - context: exactly eight ASCII bytes naming the purpose.
    static func derive(from master: SymmetricKey, id: UInt64, context: StaticString) -> SymmetricKey {
        precondition(context.utf8CodeUnitCount == 8, "crypto_kdf contexts are 8 bytes")
        let sub = SecureBytes(count: SymmetricKey.byteCount) { out in
            master.withUnsafeBytes { m in
                context.withUTF8Buffer { ctx in
                    ctx.withMemoryRebound(to: CChar.self) { c in
                        _ = crypto_kdf_derive_from_key(out.u8, out.count, id, c.baseAddress!, m.u8)
                    }
                }
            }
        }
        return SymmetricKey(unchecked: sub)
    }
}

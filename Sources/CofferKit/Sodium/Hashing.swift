import CSHA256
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

/// SHA-256 (for age's HKDF/HMAC and the SHA256SUMS of bundles), on the
/// processor's SHA extensions where it has them, else libsodium's
/// `crypto_hash_sha256`. Both give the same digest; the first is about four
/// times faster, which matters because bundles hash every byte they carry.
struct SHA256 {
    /// The code that computes a SHA-256.
    enum Implementation: CaseIterable, Sendable {
        /// libsodium's portable `crypto_hash_sha256`.
        case sodium
        #if arch(x86_64)
        /// The x86-64 SHA extensions (SHA-NI), through the `CSHA256` target.
        case shaExtensions
        #endif

        /// The fastest implementation this processor runs.
        static let fastest: Implementation = {
            #if arch(x86_64)
            if coffer_sha256_extensions_available() != 0 { return .shaExtensions }
            #endif
            return .sodium
        }()

        /// Whether this processor can run it (libsodium's always can).
        var isAvailable: Bool { self == .sodium || self == Self.fastest }
    }

    private let implementation: Implementation
    // One of the two states is used, as `implementation` says; both are
    // stored so that each is updated in place.
    private var sodiumState = crypto_hash_sha256_state()
    #if arch(x86_64)
    private var extensionsState = SHAExtensionsState()
    #endif

    /// Starts an incremental SHA-256.
    /// - Parameter implementation: the code to use; tests pass each available
    ///   one, everything else takes the default, the fastest.
    init(implementation: Implementation = .fastest) {
        precondition(implementation.isAvailable, "SHA-256 implementation \(implementation) needs a processor feature this one lacks")
        Sodium.ensureInitialised()
        self.implementation = implementation
        if implementation == .sodium { crypto_hash_sha256_init(&sodiumState) }
    }

    /// Absorbs more input.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        switch implementation {
        case .sodium:
            crypto_hash_sha256_update(&sodiumState, bytes.u8, UInt64(bytes.count))
        #if arch(x86_64)
        case .shaExtensions:
            extensionsState.update(bytes)
        #endif
        }
    }

    /// Finishes and returns the 32-byte digest. The state is wiped: hash
    /// nothing more with it.
    mutating func finalize() -> [UInt8] {
        switch implementation {
        case .sodium:
            var out = [UInt8](repeating: 0, count: 32)
            out.withUnsafeMutableBytes { _ = crypto_hash_sha256_final(&sodiumState, $0.u8) }
            return out
        #if arch(x86_64)
        case .shaExtensions:
            return extensionsState.finalize()
        #endif
        }
    }

    /// One-shot SHA-256.
    /// - Parameters:
    ///   - bytes: the message.
    ///   - implementation: the code to use (default: the fastest).
    /// - Returns: the 32-byte digest.
    static func hash(_ bytes: [UInt8], implementation: Implementation = .fastest) -> [UInt8] {
        var h = SHA256(implementation: implementation)
        bytes.withUnsafeBytes { h.update($0) }
        return h.finalize()
    }
}

#if arch(x86_64)
/// SHA-256 (FIPS 180-4) around the `CSHA256` compression function: the
/// hash words, the input short of a whole block, the length, and the padding.
private struct SHAExtensionsState {
    private typealias Words = (UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32, UInt32)

    /// H0…H7, starting from the initial hash value of FIPS 180-4 section 5.3.3.
    private var words: Words = (0x6a09_e667, 0xbb67_ae85, 0x3c6e_f372, 0xa54f_f53a,
                                0x510e_527f, 0x9b05_688c, 0x1f83_d9ab, 0x5be0_cd19)
    /// Room for one 64-byte block; the first `pendingCount` bytes wait for
    /// the rest of theirs.
    private var pending: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    private var pendingCount = 0
    /// Bytes absorbed so far (the message length is taken modulo 2^64 bits).
    private var byteCount: UInt64 = 0

    /// Absorbs more input: whole blocks straight from `bytes`, the rest
    /// through `pending`.
    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, !bytes.isEmpty else { return }
        byteCount &+= UInt64(bytes.count)
        var offset = 0
        if pendingCount > 0 {
            offset = min(64 - pendingCount, bytes.count)
            stash(start, count: offset)
            guard pendingCount == 64 else { return }
            withUnsafeBytes(of: &pending) { Self.compress(&words, blocks: $0.baseAddress!, count: 1) }
            pendingCount = 0
        }
        let wholeBlocks = (bytes.count - offset) / 64
        if wholeBlocks > 0 { Self.compress(&words, blocks: start + offset, count: wholeBlocks) }
        offset += wholeBlocks * 64
        stash(start + offset, count: bytes.count - offset)
    }

    /// Appends `count` bytes from `source` to the pending ones.
    private mutating func stash(_ source: UnsafeRawPointer, count: Int) {
        let end = pendingCount
        withUnsafeMutableBytes(of: &pending) { $0.baseAddress!.advanced(by: end).copyMemory(from: source, byteCount: count) }
        pendingCount += count
    }

    /// Pads the message (a one bit, zeros to 56 bytes modulo 64, the length
    /// in bits as a big-endian 64-bit number; FIPS 180-4 section 5.1.1),
    /// returns H0…H7 big-endian, and wipes the state.
    mutating func finalize() -> [UInt8] {
        let bitLength = byteCount &* 8
        let zeroCount = (55 - pendingCount + 64) % 64
        var padding = [UInt8](repeating: 0, count: 1 + zeroCount + 8)
        padding[0] = 0x80
        withUnsafeBytes(of: bitLength.bigEndian) { padding.replaceSubrange((1 + zeroCount)..., with: $0) }
        padding.withUnsafeBytes { update($0) }
        precondition(pendingCount == 0, "SHA-256 padding ends on a block boundary")

        var digest: [UInt8] = []
        digest.reserveCapacity(32)
        withUnsafeBytes(of: &words) { raw in
            for index in 0..<8 {
                withUnsafeBytes(of: raw.load(fromByteOffset: 4 * index, as: UInt32.self).bigEndian) { digest.append(contentsOf: $0) }
            }
        }
        withUnsafeMutableBytes(of: &self) { Sodium.wipe($0) }
        return digest
    }

    /// Runs the compression function over `count` 64-byte blocks at `blocks`.
    private static func compress(_ words: inout Words, blocks: UnsafeRawPointer, count: Int) {
        withUnsafeMutablePointer(to: &words) { tuple in
            tuple.withMemoryRebound(to: UInt32.self, capacity: 8) {
                coffer_sha256_compress_blocks($0, blocks.assumingMemoryBound(to: UInt8.self), count)
            }
        }
    }
}
#endif

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

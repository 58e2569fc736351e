import CGFShare

/// Shamir secret sharing of a 32-byte secret over GF(2^8), by libgfshare
/// (Debian's `libgfshare-dev`): any `threshold` of the shares rebuild the
/// secret; fewer reveal nothing about it. The polynomial coefficients come
/// from libsodium's CSPRNG, which libgfshare also uses to overwrite its
/// buffers when a context is freed.
enum SecretSharing {
    /// One share: its number (1…255, the x coordinate) and bytes.
    struct Share: Sendable {
        let number: UInt8
        let bytes: SecureBytes
    }

    /// Splits `secret` into `count` shares numbered 1…`count`, any
    /// `threshold` of which rebuild it.
    /// - Precondition: 2 ≤ threshold ≤ count ≤ 255.
    static func split(_ secret: SymmetricKey, count: Int, threshold: Int) -> [Share] {
        precondition((2...255).contains(count) && (2...count).contains(threshold), "share count and threshold")
        coffer_gfshare_use_libsodium()
        var numbers = (1...count).map { UInt8($0) }
        let size = UInt32(SymmetricKey.byteCount)
        guard let context = gfshare_ctx_init_enc(&numbers, UInt32(count), UInt8(threshold), size) else {
            fatalError("libgfshare could not allocate its context")
        }
        defer { gfshare_ctx_free(context) }
        secret.withUnsafeBytes { gfshare_ctx_enc_setsecret(context, UnsafeMutablePointer(mutating: $0.bindMemory(to: UInt8.self).baseAddress!)) }
        // libgfshare takes the index into `numbers`, not the share number, in getshare and giveshare alike.
        return numbers.indices.map { index in
            Share(number: numbers[index], bytes: SecureBytes(count: Int(size)) {
                gfshare_ctx_enc_getshare(context, UInt8(index), $0.bindMemory(to: UInt8.self).baseAddress!)
            })
        }
    }

    /// The secret `shares` (at least the threshold, distinct numbers)
    /// rebuild. Fewer than the threshold, or a damaged share, rebuild
    /// another value: the caller checks the result.
    static func combine(_ shares: [Share]) -> SymmetricKey {
        precondition(!shares.isEmpty && Set(shares.map(\.number)).count == shares.count && !shares.contains { $0.number == 0 }, "distinct share numbers")
        // libgfshare overwrites its buffers through the same function when it frees a context (and has no default).
        coffer_gfshare_use_libsodium()
        var numbers = shares.map(\.number)
        let size = UInt32(SymmetricKey.byteCount)
        guard let context = gfshare_ctx_init_dec(&numbers, UInt32(shares.count), size) else {
            fatalError("libgfshare could not allocate its context")
        }
        defer { gfshare_ctx_free(context) }
        for (index, share) in shares.enumerated() {
            share.bytes.withUnsafeBytes { gfshare_ctx_dec_giveshare(context, UInt8(index), UnsafeMutablePointer(mutating: $0.bindMemory(to: UInt8.self).baseAddress!)) }
        }
        return SymmetricKey(unchecked: SecureBytes(count: Int(size)) { gfshare_ctx_dec_extract(context, $0.bindMemory(to: UInt8.self).baseAddress!) })
    }
}

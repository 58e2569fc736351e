import CSodium

/// Standard base64 (RFC 4648 §4) through libsodium's constant-time codec
/// (`sodium_bin2base64`, `sodium_base642bin`): no table lookups indexed by
/// secret bytes, so seeds and keys in identity files and age stanzas do
/// not leak through the cache. Decoding is strict: the standard alphabet
/// only, no whitespace, canonical (the unused low bits of the last
/// character are zero), and padding exactly as asked: required and correct
/// with `padded: true` (age's armor, Coffer's files), forbidden with
/// `padded: false` (age's header).
public enum Base64 {
    /// Encodes `bytes`.
    public static func encode(_ bytes: some Collection<UInt8>, padded: Bool = true) -> String {
        String(decoding: encodedBytes(bytes, padded: padded), as: UTF8.self)
    }

    /// Encodes `bytes` as ASCII bytes (for age's header and armor lines).
    public static func encodedBytes(_ bytes: some Collection<UInt8>, padded: Bool = true) -> [UInt8] {
        let input = Array(bytes)
        guard !input.isEmpty else { return [] }
        let variant = variant(padded: padded)
        let length = sodium_base64_encoded_len(input.count, variant)  // with the terminating NUL
        var output = [UInt8](repeating: 0, count: length)
        output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { bin in
                out.baseAddress!.withMemoryRebound(to: CChar.self, capacity: length) {
                    _ = sodium_bin2base64($0, length, bin.baseAddress!, bin.count, variant)
                }
            }
        }
        output.removeLast()
        return output
    }

    /// Decodes `string`; nil unless it is exactly a canonical encoding.
    public static func decode(_ string: String, padded: Bool = true) -> [UInt8]? {
        decode(bytes: Array(string.utf8), padded: padded)
    }

    /// Decodes the ASCII bytes `chars`; nil unless they are exactly a canonical encoding.
    public static func decode(bytes chars: some Collection<UInt8>, padded: Bool = true) -> [UInt8]? {
        let input = Array(chars)
        guard !input.isEmpty else { return [] }
        // libsodium 1.0.18 maps a byte above 0x7F to a base64 value instead of
        // refusing it (found by AgeFormatTests' bit flips): refused here first,
        // by an OR over every byte, which does not depend on where one is.
        guard input.reduce(0, |) & 0x80 == 0 else { return nil }
        var output = [UInt8](repeating: 0, count: input.count / 4 * 3 + 3)
        var length = 0
        // No characters ignored and no end pointer: anything that is not base64 fails.
        let result = output.withUnsafeMutableBufferPointer { bin in
            input.withUnsafeBufferPointer { b64 in
                b64.baseAddress!.withMemoryRebound(to: CChar.self, capacity: b64.count) {
                    sodium_base642bin(bin.baseAddress!, bin.count, $0, b64.count, nil, &length, nil, variant(padded: padded))
                }
            }
        }
        guard result == 0 else {
            Sodium.wipe(&output)
            return nil
        }
        let decoded = Array(output[..<length])
        Sodium.wipe(&output)
        return decoded
    }

    private static func variant(padded: Bool) -> Int32 {
        padded ? sodium_base64_VARIANT_ORIGINAL : sodium_base64_VARIANT_ORIGINAL_NO_PADDING
    }
}

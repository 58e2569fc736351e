/// The two base64 flavours of age (RFC 4648, standard alphabet), both strict.
///
/// - Unpadded ("raw") base64 for everything in the header: decoders reject
///   `=`, any character outside the alphabet (including CR and LF), a
///   length of 1 modulo 4, and non-canonical encodings (unused low bits of
///   the last character set).
/// - Padded base64 for the ASCII armor: the length is a multiple of 4, `=`
///   appears only as the final one or two characters, and the encoding is
///   canonical.
///
/// Format code: no cryptography here.
enum AgeBase64 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 256)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()

    /// Encodes without padding.
    static func encodeUnpadded<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count * 4 + 2) / 3)
        var iterator = bytes.makeIterator()
        while let b0 = iterator.next() {
            let b1 = iterator.next()
            let b2 = b1 == nil ? nil : iterator.next()
            out.append(alphabet[Int(b0 >> 2)])
            out.append(alphabet[Int((b0 & 0x03) << 4 | (b1 ?? 0) >> 4)])
            if let b1 { out.append(alphabet[Int((b1 & 0x0f) << 2 | (b2 ?? 0) >> 6)]) }
            if let b2 { out.append(alphabet[Int(b2 & 0x3f)]) }
        }
        return out
    }

    /// Encodes without padding, as a `String`.
    static func encodeUnpaddedString(_ bytes: [UInt8]) -> String {
        String(decoding: encodeUnpadded(bytes), as: UTF8.self)
    }

    /// Encodes with `=` padding (for the armor).
    static func encodePadded<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var out = encodeUnpadded(bytes)
        while out.count % 4 != 0 { out.append(UInt8(ascii: "=")) }
        return out
    }

    /// Decodes strict, canonical, unpadded base64; `nil` if `chars` is not
    /// exactly such an encoding.
    static func decodeUnpadded<C: Collection>(_ chars: C) -> [UInt8]? where C.Element == UInt8 {
        guard chars.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        for char in chars {
            let value = reverse[Int(char)]
            guard value >= 0 else { return nil }
            accumulator = (accumulator << 6) | UInt32(value)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        // Canonical: the bits left over after the last whole byte are zero.
        guard accumulator & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    /// Decodes strict, canonical, padded base64; `nil` if `chars` is not
    /// exactly such an encoding.
    static func decodePadded<C: Collection>(_ chars: C) -> [UInt8]? where C.Element == UInt8, C.Index == Int {
        guard chars.count % 4 == 0 else { return nil }
        var padding = 0
        var end = chars.endIndex
        while padding < 2, end > chars.startIndex, chars[end - 1] == UInt8(ascii: "=") {
            padding += 1
            end -= 1
        }
        let body = chars[chars.startIndex..<end]
        // The unpadded length must be exactly what the padding implies.
        guard body.count % 4 == (padding == 0 ? 0 : 4 - padding) else { return nil }
        return decodeUnpadded(body)
    }
}

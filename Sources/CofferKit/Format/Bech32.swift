/// Bech32 (BIP 173) as age uses it: no length limit, one case per string,
/// and a strict decoder that reports why a string is not valid.
public enum Bech32 {
    private static let alphabet = Array("qpzry9x8gf2tvdw0s3jn54khce6mua7l".utf8)
    private static let reverse: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (index, char) in alphabet.enumerated() { table[Int(char)] = Int8(index) }
        return table
    }()
    private static let generator: [UInt32] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3]

    /// Why a string is not valid Bech32.
    public enum DecodingError: CofferFailure, Equatable {
        /// Upper and lower case letters are mixed.
        case mixedCase
        /// No `1` separator, an empty human-readable part, or too short a data part.
        case malformed
        /// A character outside the Bech32 alphabet.
        case invalidCharacter
        /// The checksum does not match.
        case badChecksum
        /// The 5-bit groups do not convert cleanly back to bytes.
        case badPadding

        public var kind: FailureKind { .usage }
        public var description: String {
            switch self {
            case .mixedCase: "Bech32 string mixes upper and lower case"
            case .malformed: "not a Bech32 string"
            case .invalidCharacter: "Bech32 string has a character outside its alphabet"
            case .badChecksum: "Bech32 checksum does not match (mistyped or truncated?)"
            case .badPadding: "Bech32 data has invalid padding"
            }
        }
    }

    /// Encodes `data` under the human-readable part `hrp` (lower case output).
    public static func encode(hrp: String, data: [UInt8]) -> String {
        let hrpBytes = Array(hrp.lowercased().utf8)
        let values = regroup(data, from: 8, to: 5, pad: true)!
        let checksum = makeChecksum(hrp: hrpBytes, values: values)
        var out = hrpBytes
        out.append(UInt8(ascii: "1"))
        out += (values + checksum).map { alphabet[Int($0)] }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes a Bech32 string into its (lower-case) human-readable part and data.
    /// - Throws: ``DecodingError`` naming what is wrong.
    public static func decode(_ string: String) throws -> (hrp: String, data: [UInt8]) {
        let bytes = Array(string.utf8)
        let hasLower = bytes.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") }
        let hasUpper = bytes.contains { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }
        guard !(hasLower && hasUpper) else { throw DecodingError.mixedCase }
        let lower = bytes.map { ($0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z")) ? $0 + 32 : $0 }
        guard let separator = lower.lastIndex(of: UInt8(ascii: "1")), separator > 0,
              lower.count - separator - 1 >= 6
        else { throw DecodingError.malformed }
        let hrp = Array(lower[..<separator])
        guard hrp.allSatisfy({ $0 >= 33 && $0 <= 126 }) else { throw DecodingError.invalidCharacter }
        var values: [UInt8] = []
        values.reserveCapacity(lower.count - separator - 1)
        for char in lower[(separator + 1)...] {
            guard char < 128, reverse[Int(char)] >= 0 else { throw DecodingError.invalidCharacter }
            values.append(UInt8(reverse[Int(char)]))
        }
        guard polymod(expand(hrp) + values) == 1 else { throw DecodingError.badChecksum }
        guard let data = regroup(Array(values.dropLast(6)), from: 5, to: 8, pad: false) else {
            throw DecodingError.badPadding
        }
        return (String(decoding: hrp, as: UTF8.self), data)
    }

    private static func polymod(_ values: [UInt8]) -> UInt32 {
        var chk: UInt32 = 1
        for value in values {
            let top = chk >> 25
            chk = (chk & 0x1ff_ffff) << 5 ^ UInt32(value)
            for i in 0..<5 where (top >> UInt32(i)) & 1 == 1 { chk ^= generator[i] }
        }
        return chk
    }

    private static func expand(_ hrp: [UInt8]) -> [UInt8] {
        hrp.map { $0 >> 5 } + [0] + hrp.map { $0 & 31 }
    }

    private static func makeChecksum(hrp: [UInt8], values: [UInt8]) -> [UInt8] {
        let mod = polymod(expand(hrp) + values + [0, 0, 0, 0, 0, 0]) ^ 1
        return (0..<6).map { UInt8((mod >> UInt32(5 * (5 - $0))) & 31) }
    }

    /// Converts between bit-group sizes; nil when padding is not canonical.
    private static func regroup(_ data: [UInt8], from: Int, to: Int, pad: Bool) -> [UInt8]? {
        var acc = 0, bits = 0
        var out: [UInt8] = []
        let maxValue = (1 << to) - 1
        for value in data {
            acc = (acc << from) | Int(value)
            bits += from
            while bits >= to {
                bits -= to
                out.append(UInt8((acc >> bits) & maxValue))
            }
        }
        if pad {
            if bits > 0 { out.append(UInt8((acc << (to - bits)) & maxValue)) }
        } else if bits >= from || ((acc << (to - bits)) & maxValue) != 0 {
            return nil
        }
        return out
    }
}

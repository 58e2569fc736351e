/// 16 bytes held inline as two big-endian words: an id costs no heap
/// allocation, which matters in a state of a hundred thousand documents.
public struct Bytes16: Hashable, Sendable, Comparable {
    let high: UInt64
    let low: UInt64

    /// Packs the first 16 bytes of `bytes` (which must hold at least 16).
    init(_ bytes: [UInt8]) {
        precondition(bytes.count >= 16, "Bytes16 needs 16 bytes")
        high = Self.word(bytes, 0)
        low = Self.word(bytes, 8)
    }

    static func word(_ bytes: [UInt8], _ offset: Int) -> UInt64 {
        (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    static func append(_ word: UInt64, to bytes: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
    }

    /// The 16 bytes.
    var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(16)
        Self.append(high, to: &out)
        Self.append(low, to: &out)
        return out
    }

    public static func < (a: Bytes16, b: Bytes16) -> Bool { (a.high, a.low) < (b.high, b.low) }
}

/// A 128-bit random identifier, shown as 32 lower-case hex digits.
public protocol RandomIdentifier: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The 16 bytes, inline.
    var packed: Bytes16 { get }
    /// Wraps 16 packed bytes.
    init(packed: Bytes16)
    /// What the id names, for error messages ("document id").
    static var noun: String { get }
}

extension RandomIdentifier {
    /// The 16 bytes.
    public var bytes: [UInt8] { packed.bytes }

    /// Wraps 16 bytes without checking their count beyond the first 16.
    public init(unchecked bytes: [UInt8]) { self.init(packed: Bytes16(bytes)) }

    /// A fresh random id.
    public static func random() -> Self { Self(unchecked: Sodium.randomBytes(16)) }

    /// Wraps 16 bytes. - Throws: ``FormatError`` for any other length.
    init(bytes: [UInt8]) throws {
        guard bytes.count == 16 else { throw FormatError.malformed(Self.noun, "must be 16 bytes") }
        self.init(unchecked: bytes)
    }

    /// Parses 32 lower-case hex digits. - Throws: ``FormatError``.
    public init(hex: String) throws {
        guard hex.utf8.count == 32, hex == hex.lowercased(), let bytes = Hex.decode(hex) else {
            throw FormatError.malformed(Self.noun, "expected 32 lower-case hex digits")
        }
        self.init(unchecked: bytes)
    }

    /// 32 hex digits.
    public var description: String { Hex.encode(bytes) }

    public static func < (a: Self, b: Self) -> Bool { a.packed < b.packed }

    public init(from decoder: any Decoder) throws {
        try self.init(hex: try decoder.singleValueContainer().decode(String.self))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// Names a document across all its versions.
public struct DocumentID: RandomIdentifier {
    public let packed: Bytes16
    public init(packed: Bytes16) { self.packed = packed }
    public static let noun = "document id"
}

/// Names a role (its name may change; the id does not).
public struct RoleID: RandomIdentifier {
    public let packed: Bytes16
    public init(packed: Bytes16) { self.packed = packed }
    public static let noun = "role id"
}

/// Names a vault; bound into every wrap and ledger signature so nothing
/// moves between vaults.
public struct VaultID: RandomIdentifier {
    public let packed: Bytes16
    public init(packed: Bytes16) { self.packed = packed }
    public static let noun = "vault id"
}

/// Legal hold ids (`document.hold`): 16 random bytes as 32 lowercase hex digits.
public enum HoldID {
    /// A new random id.
    public static func random() -> String { Hex.encode(Sodium.randomBytes(16)) }

    /// Whether `id` has the form of a hold id.
    public static func isWellFormed(_ id: String) -> Bool {
        id.utf8.count == 32 && id.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

/// A 128-bit random identifier, shown as 32 lower-case hex digits.
public protocol RandomIdentifier: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
    /// The 16 bytes.
    var bytes: [UInt8] { get }
    /// Wraps 16 bytes without checking.
    init(unchecked bytes: [UInt8])
    /// What the id names, for error messages ("document id").
    static var noun: String { get }
}

extension RandomIdentifier {
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

    public static func < (a: Self, b: Self) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }

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
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }
    public static let noun = "document id"
}

/// Names a role (its name may change; the id does not).
public struct RoleID: RandomIdentifier {
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }
    public static let noun = "role id"
}

/// Names a vault; bound into every wrap and ledger signature so nothing
/// moves between vaults.
public struct VaultID: RandomIdentifier {
    public let bytes: [UInt8]
    public init(unchecked bytes: [UInt8]) { self.bytes = bytes }
    public static let noun = "vault id"
}

import Crypto

/// The hash function that names an object after its stored bytes.
public enum ObjectHash: UInt8, Sendable, CaseIterable {
    /// BLAKE2b-256 (libsodium): the objects of vaults made before catalog
    /// schema 4, read until `coffer vault upgrade` renames them.
    case blake2b256 = 0
    /// SHA-256 (FIPS 180-4, through swift-crypto): every object written
    /// since schema 4. The stock `sha256sum` of an object file is its name.
    case sha256 = 1

    /// What every new object is named by.
    public static let current = ObjectHash.sha256

    /// The 32-byte digest of `bytes`.
    func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        switch self {
        case .blake2b256: Blake2b.hash(bytes)
        case .sha256: Array(SHA256.hash(data: bytes))
        }
    }

    /// The name used in ledger entries and reports (`sha256`, `blake2b-256`).
    public var name: String {
        switch self {
        case .blake2b256: "blake2b-256"
        case .sha256: "sha256"
        }
    }
}

/// The name of a stored object: the digest of its stored (encrypted)
/// bytes under an ``ObjectHash``, written as 64 lower-case hex digits.
///
/// The hash function travels with the id (the ledger entry or manifest the
/// id came from says which it is) but is not part of its identity: two ids
/// with the same digest are equal, as they name the same file.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Digest length.
    public static let byteCount = 32
    // The digest inline, as two 16-byte halves (no heap allocation per id).
    private let first: Bytes16
    private let second: Bytes16
    /// The function the digest was computed with.
    public let hash: ObjectHash

    /// Wraps a digest. - Throws: ``FormatError`` if the length is wrong.
    init(bytes: [UInt8], hash: ObjectHash) throws {
        guard bytes.count == Self.byteCount else { throw FormatError.malformed("object id", "must be 32 bytes") }
        self.init(unchecked: bytes, hash: hash)
    }

    /// Parses 64 hex digits.
    /// - Throws: ``FormatError`` if `hex` is not a well-formed object id.
    public init(hex: String, hash: ObjectHash) throws {
        guard hex.utf8.count == 64, hex == hex.lowercased(), let bytes = Hex.decode(hex) else {
            throw FormatError.malformed("object id", "expected 64 lower-case hex digits")
        }
        self.init(unchecked: bytes, hash: hash)
    }

    /// The id of `bytes` under `hash` (by default the one new objects get).
    static func of(_ bytes: UnsafeRawBufferPointer, hash: ObjectHash = .current) -> ObjectID {
        ObjectID(unchecked: hash.digest(bytes), hash: hash)
    }

    private init(unchecked bytes: [UInt8], hash: ObjectHash) {
        first = Bytes16(bytes)
        second = Bytes16(Array(bytes[16..<32]))
        self.hash = hash
    }

    /// Whether this is the name of `bytes` under its hash function.
    func names(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { names($0) }
    }

    /// Whether this is the name of `bytes` under its hash function.
    func names(_ bytes: UnsafeRawBufferPointer) -> Bool {
        Self.of(bytes, hash: hash) == self
    }

    /// The same name, computed with `other` (for a name found by listing a
    /// store, whose function nothing recorded).
    func computed(with other: ObjectHash) -> ObjectID {
        ObjectID(unchecked: bytes, hash: other)
    }

    /// The 32 digest bytes.
    public var bytes: [UInt8] { first.bytes + second.bytes }

    /// The first byte (the fan-out directory).
    var leadingByte: UInt8 { UInt8(truncatingIfNeeded: first.high >> 56) }

    /// 64 hex digits.
    public var description: String { Hex.encode(bytes) }

    /// Calls `body` with the 64 hex digits as a NUL-terminated C string,
    /// without allocating: for surveying many objects with one system call each.
    func withFileName<R>(_ body: (UnsafePointer<CChar>) throws -> R) rethrows -> R {
        try withUnsafeTemporaryAllocation(of: CChar.self, capacity: 65) { name in
            let digits: StaticString = "0123456789abcdef"
            for (index, word) in [first.high, first.low, second.high, second.low].enumerated() {
                for nibble in 0..<16 {
                    let value = Int((word >> UInt64(60 - 4 * nibble)) & 0xf)
                    name[index * 16 + nibble] = CChar(bitPattern: digits.utf8Start[value])
                }
            }
            name[64] = 0
            return try body(UnsafePointer(name.baseAddress!))
        }
    }

    public static func == (a: ObjectID, b: ObjectID) -> Bool { a.first == b.first && a.second == b.second }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(first)
        hasher.combine(second)
    }

    public static func < (a: ObjectID, b: ObjectID) -> Bool { (a.first, a.second) < (b.first, b.second) }
}

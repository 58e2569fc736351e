/// A byte string that is not a well-formed instance of one of Coffer's
/// formats. Parsers throw these before any cryptography runs.
public enum FormatError: CofferFailure, Equatable {
    /// The input ended before `what` was complete.
    case truncated(String)
    /// The input does not start with the magic bytes of `what`.
    case badMagic(String)
    /// `what` has a format version this build does not read.
    case unsupportedVersion(String, Int)
    /// A field of `what` has an invalid value (second string says which and why).
    case malformed(String, String)
    /// `what` is larger than the format allows.
    case oversized(String, Int)
    /// Bytes follow the end of `what`.
    case trailingData(String)

    public var kind: FailureKind { .integrity }

    public var description: String {
        switch self {
        case .truncated(let what): "\(what) is truncated"
        case .badMagic(let what): "not a \(what) (wrong magic bytes)"
        case .unsupportedVersion(let what, let v): "\(what) has format version \(v), which this Coffer does not read; upgrade Coffer"
        case .malformed(let what, let detail): "\(what) is malformed: \(detail)"
        case .oversized(let what, let size): "\(what) is too large (\(size) bytes)"
        case .trailingData(let what): "\(what) has unexpected bytes after its end"
        }
    }
}

/// A sequential reader of big-endian fields that throws
/// ``FormatError/truncated(_:)`` instead of reading past its end.
protocol BinaryReading {
    /// Bytes not yet read.
    var remaining: Int { get }
    /// Names the structure in errors.
    var what: String { get }
    /// Consumes the next `count` bytes and lends them to `body` (valid only
    /// during the call), without copying where the reader can avoid it.
    /// - Throws: ``FormatError/truncated(_:)`` if fewer remain.
    mutating func withNext<T>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T
}

extension BinaryReading {
    /// The next `count` bytes.
    mutating func read(_ count: Int) throws -> [UInt8] { try withNext(count) { Array($0) } }

    /// One byte.
    mutating func readUInt8() throws -> UInt8 { try withNext(1) { $0[0] } }

    /// A big-endian 16-bit integer.
    mutating func readUInt16() throws -> UInt16 { UInt16(try readInteger(2)) }

    /// A big-endian 32-bit integer.
    mutating func readUInt32() throws -> UInt32 { UInt32(try readInteger(4)) }

    /// A big-endian 64-bit integer.
    mutating func readUInt64() throws -> UInt64 { try readInteger(8) }

    private mutating func readInteger(_ width: Int) throws -> UInt64 {
        try withNext(width) { $0.reduce(0) { $0 << 8 | UInt64($1) } }
    }

    /// Checks that the next bytes are `magic`.
    mutating func expect(magic: [UInt8]) throws {
        guard remaining >= magic.count else { throw FormatError.truncated(what) }
        guard try read(magic.count) == magic else { throw FormatError.badMagic(what) }
    }

    /// Checks that nothing is left.
    func expectEnd() throws {
        guard remaining == 0 else { throw FormatError.trailingData(what) }
    }
}

/// Reads big-endian fields from a byte buffer.
struct ByteReader: BinaryReading {
    private let bytes: [UInt8]
    private(set) var offset = 0
    let what: String

    /// Starts at the beginning of `bytes`; `what` names the structure in errors.
    init(_ bytes: [UInt8], what: String) {
        self.bytes = bytes
        self.what = what
    }

    var remaining: Int { bytes.count - offset }

    mutating func withNext<T>(_ count: Int, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        guard count >= 0, count <= remaining else { throw FormatError.truncated(what) }
        defer { offset += count }
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + count)])) }
    }
}

/// Appends big-endian fields to a byte array.
struct ByteWriter {
    /// The bytes written so far.
    private(set) var bytes: [UInt8] = []

    /// Appends raw bytes.
    mutating func write(_ data: [UInt8]) { bytes += data }
    /// Appends one byte.
    mutating func write(_ value: UInt8) { bytes.append(value) }
    /// Appends a big-endian 16-bit integer.
    mutating func write(_ value: UInt16) { append(UInt64(value), width: 2) }
    /// Appends a big-endian 32-bit integer.
    mutating func write(_ value: UInt32) { append(UInt64(value), width: 4) }
    /// Appends a big-endian 64-bit integer.
    mutating func write(_ value: UInt64) { append(value, width: 8) }

    private mutating func append(_ value: UInt64, width: Int) {
        for shift in stride(from: (width - 1) * 8, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
    }
}

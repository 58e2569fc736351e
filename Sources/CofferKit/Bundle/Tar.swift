/// Errors reading or writing a tar archive.
public enum TarError: CofferFailure, Equatable {
    /// The archive is cut short, corrupt, or not a tar archive.
    case malformed(String)
    /// An entry that Coffer refuses to extract: an absolute path, `..`, a
    /// link, a device, or a name that is not a plain relative path.
    case unsafeEntry(name: String, reason: String)
    /// A name or size the writer cannot represent.
    case unrepresentable(String)

    public var kind: FailureKind {
        switch self {
        case .malformed, .unsafeEntry: .integrity
        case .unrepresentable: .usage
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): "not a valid tar archive: \(detail)"
        case .unsafeEntry(let name, let reason): "refusing tar entry \(name.debugDescription): \(reason)"
        case .unrepresentable(let detail): "cannot write to a tar archive: \(detail)"
        }
    }
}

/// The tar block size.
private let blockSize = 512

/// Writes a POSIX (pax) tar archive of regular files, streaming: each file's
/// header, then its bytes as they come, then padding. Names longer than the
/// ustar field, and sizes of 8 GiB or more, get a pax extended header, as
/// GNU and BSD tar read them.
public final class TarWriter {
    private let output: (UnsafeRawBufferPointer) throws -> Void
    private var remaining: UInt64 = 0
    private var written: UInt64 = 0
    private var inFile = false

    /// A writer that passes archive bytes to `output`, in order.
    public init(output: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.output = output
    }

    /// Starts a regular file of exactly `size` bytes.
    /// - Parameters:
    ///   - name: a relative path with `/` separators (checked like a reader would).
    ///   - size: the file's size in bytes: exactly this many must be written before the next entry.
    ///   - mode: permission bits.
    ///   - modified: seconds since 1970.
    public func beginFile(name: String, size: UInt64, mode: UInt32 = 0o644, modified: UInt64 = 0) throws {
        precondition(!inFile, "beginFile while a file is open")
        try TarPath.check(name)
        let nameBytes = Array(name.utf8)
        var pax: [(String, String)] = []
        let fitsName = nameBytes.count <= 100
        if !fitsName { pax.append(("path", name)) }
        if size >= 0o77777777777 { pax.append(("size", String(size))) }
        if !pax.isEmpty {
            let records = pax.map { TarPAX.record(key: $0.0, value: $0.1) }.joined()
            try emitHeader(name: "PaxHeaders/\(nameBytes.count <= 80 ? name : "long-name")", size: UInt64(records.count), type: UInt8(ascii: "x"), mode: 0o644, modified: modified)
            try emit(Array(records))
            try emitPadding(UInt64(records.count))
        }
        try emitHeader(name: fitsName ? name : String(name.suffix(90)), size: size < 0o77777777777 ? size : 0, type: UInt8(ascii: "0"), mode: mode, modified: modified)
        remaining = size
        written = size
        inFile = true
    }

    /// Appends bytes to the current file (never more than its declared size).
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        precondition(inFile, "write outside a file")
        guard UInt64(bytes.count) <= remaining else { throw TarError.unrepresentable("more bytes than the declared size") }
        remaining -= UInt64(bytes.count)
        try output(bytes)
    }

    /// Ends the current file; its size must have been reached exactly.
    public func endFile() throws {
        precondition(inFile, "endFile outside a file")
        guard remaining == 0 else { throw TarError.unrepresentable("file ended \(remaining) bytes short of its declared size") }
        try emitPadding(written)
        inFile = false
    }

    /// Writes the end-of-archive marker (two zero blocks).
    public func finish() throws {
        precondition(!inFile, "finish while a file is open")
        try emit([UInt8](repeating: 0, count: 2 * blockSize))
    }

    private func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try output($0) }
    }

    private func emitPadding(_ size: UInt64) throws {
        let pad = (blockSize - Int(size % UInt64(blockSize))) % blockSize
        if pad > 0 { try emit([UInt8](repeating: 0, count: pad)) }
    }

    private func emitHeader(name: String, size: UInt64, type: UInt8, mode: UInt32, modified: UInt64) throws {
        var header = [UInt8](repeating: 0, count: blockSize)
        func put(_ bytes: [UInt8], at offset: Int, width: Int) {
            for (i, b) in bytes.prefix(width).enumerated() { header[offset + i] = b }
        }
        func octal(_ value: UInt64, width: Int) -> [UInt8] {
            let digits = String(value, radix: 8)
            return Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8) + [0]
        }
        put(Array(name.utf8), at: 0, width: 100)
        put(octal(UInt64(mode & 0o7777), width: 8), at: 100, width: 8)
        put(octal(0, width: 8), at: 108, width: 8)  // uid
        put(octal(0, width: 8), at: 116, width: 8)  // gid
        put(octal(size, width: 12), at: 124, width: 12)
        put(octal(modified, width: 12), at: 136, width: 12)
        put(Array(repeating: UInt8(ascii: " "), count: 8), at: 148, width: 8)
        header[156] = type
        put(Array("ustar\u{0}00".utf8), at: 257, width: 8)
        // The checksum: six octal digits, NUL, space.
        put(Array(octal(header.reduce(0) { $0 + UInt64($1) }, width: 7).dropLast()) + [0, UInt8(ascii: " ")], at: 148, width: 8)
        try emit(header)
    }
}

/// One entry read from an archive.
public struct TarEntry: Sendable, Equatable {
    /// The entry's path (checked: relative, no `..`, no empty parts).
    public let name: String
    /// Its size in bytes.
    public let size: UInt64
    /// Permission bits.
    public let mode: UInt32
    /// Whether it is a directory (otherwise a regular file).
    public let isDirectory: Bool
}

/// Reads a tar archive strictly, streaming: only regular files and
/// directories with safe relative paths are accepted; links, devices,
/// absolute paths and `..` are refused with ``TarError/unsafeEntry(name:reason:)``.
public final class TarReader {
    private let input: (UnsafeMutableRawBufferPointer) throws -> Int
    private var remaining: UInt64 = 0
    private var padding = 0
    private var ended = false

    /// The largest pax extended header accepted.
    static let maximumPAXSize = 64 * 1024

    /// A reader that pulls archive bytes from `input` (returns 0 at the end).
    public init(input: @escaping (UnsafeMutableRawBufferPointer) throws -> Int) {
        self.input = input
    }

    /// Advances to the next entry, skipping the rest of the current one.
    /// - Returns: nil at the end-of-archive marker.
    public func next() throws -> TarEntry? {
        guard !ended else { return nil }
        // Two skips: a pax size near 2^64 plus the padding would overflow.
        try skip(remaining)
        try skip(UInt64(padding))
        remaining = 0
        padding = 0
        var pax: [String: String] = [:]
        while true {
            let header = try readBlock(what: "header")
            if header.allSatisfy({ $0 == 0 }) {
                _ = try readBlock(what: "end-of-archive marker")
                ended = true
                return nil
            }
            try Self.checkChecksum(header)
            let type = header[156]
            let size = try Self.octal(header[124..<136], field: "size")
            switch type {
            case UInt8(ascii: "x"):
                guard size <= UInt64(Self.maximumPAXSize) else { throw TarError.malformed("pax header of \(size) bytes") }
                var bytes = [UInt8](repeating: 0, count: Int(size))
                try bytes.withUnsafeMutableBytes { try readExactly($0, what: "pax header") }
                try skip(UInt64((blockSize - Int(size) % blockSize) % blockSize))
                pax.merge(try TarPAX.parse(bytes)) { $1 }
                continue
            case UInt8(ascii: "0"), 0, UInt8(ascii: "5"):
                var name = pax["path"] ?? Self.ustarName(header)
                let isDirectory = type == UInt8(ascii: "5")
                if isDirectory, name.hasSuffix("/") { name.removeLast() }
                try TarPath.check(name)
                var entrySize = size
                if let paxSize = pax["size"] {
                    guard let parsed = UInt64(paxSize) else { throw TarError.malformed("pax size \(paxSize.debugDescription)") }
                    entrySize = parsed
                }
                if isDirectory, entrySize != 0 { throw TarError.malformed("directory \(name) has a size") }
                let mode = UInt32(try Self.octal(header[100..<108], field: "mode") & 0o7777)
                remaining = entrySize
                padding = (blockSize - Int(entrySize % UInt64(blockSize))) % blockSize
                return TarEntry(name: name, size: entrySize, mode: mode, isDirectory: isDirectory)
            default:
                let name = pax["path"] ?? Self.ustarName(header)
                let kind = switch type {
                case UInt8(ascii: "1"): "a hard link"
                case UInt8(ascii: "2"): "a symbolic link"
                case UInt8(ascii: "3"), UInt8(ascii: "4"): "a device"
                case UInt8(ascii: "6"): "a FIFO"
                default: "an entry of type \(type)"
                }
                throw TarError.unsafeEntry(name: name, reason: "it is \(kind); only regular files and folders are extracted")
            }
        }
    }

    /// Reads up to `buffer.count` bytes of the current entry; 0 at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = Int(min(UInt64(buffer.count), remaining))
        guard count > 0 else { return 0 }
        try readExactly(UnsafeMutableRawBufferPointer(rebasing: buffer[0..<count]), what: "file data")
        remaining -= UInt64(count)
        return count
    }

    private func readBlock(what: String) throws -> [UInt8] {
        var block = [UInt8](repeating: 0, count: blockSize)
        try block.withUnsafeMutableBytes { try readExactly($0, what: what) }
        return block
    }

    private func readExactly(_ buffer: UnsafeMutableRawBufferPointer, what: String) throws {
        var filled = 0
        while filled < buffer.count {
            let n = try input(UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            guard n > 0 else { throw TarError.malformed("the archive ends inside \(what)") }
            filled += n
        }
    }

    private func skip(_ count: UInt64) throws {
        var left = count
        var scratch = [UInt8](repeating: 0, count: 64 * 1024)
        while left > 0 {
            let chunk = Int(min(left, UInt64(scratch.count)))
            try scratch.withUnsafeMutableBytes { try readExactly(UnsafeMutableRawBufferPointer(rebasing: $0[0..<chunk]), what: "file data") }
            left -= UInt64(chunk)
        }
    }

    private static func ustarName(_ header: [UInt8]) -> String {
        func field(_ range: Range<Int>) -> String {
            let bytes = header[range].prefix { $0 != 0 }
            return String(decoding: bytes, as: UTF8.self)
        }
        let name = field(0..<100)
        let isUSTAR = header[257..<262].elementsEqual("ustar".utf8)
        let prefix = isUSTAR ? field(345..<500) : ""
        return prefix.isEmpty ? name : prefix + "/" + name
    }

    private static func checkChecksum(_ header: [UInt8]) throws {
        let stored = try octal(header[148..<156], field: "checksum")
        var sum: UInt64 = 0
        for (i, b) in header.enumerated() { sum += (148..<156).contains(i) ? UInt64(UInt8(ascii: " ")) : UInt64(b) }
        guard sum == stored else { throw TarError.malformed("header checksum mismatch") }
    }

    private static func octal(_ field: ArraySlice<UInt8>, field name: String) throws -> UInt64 {
        let digits = field.drop { $0 == UInt8(ascii: " ") }.prefix { $0 != 0 && $0 != UInt8(ascii: " ") }
        guard !digits.isEmpty, digits.count <= 12 else { throw TarError.malformed("\(name) field") }
        var value: UInt64 = 0
        for d in digits {
            guard d >= UInt8(ascii: "0"), d <= UInt8(ascii: "7") else { throw TarError.malformed("\(name) field is not octal") }
            value = value << 3 | UInt64(d - UInt8(ascii: "0"))
        }
        return value
    }
}

/// Path rules shared by the writer and the reader.
enum TarPath {
    /// Longest accepted path, in bytes.
    static let maximumLength = 4096

    /// A path is safe to extract under a directory: relative, `/`-separated,
    /// no empty, `.` or `..` components, no NUL or backslash, valid UTF-8.
    static func check(_ name: String) throws {
        func refuse(_ reason: String) -> TarError { .unsafeEntry(name: name, reason: reason) }
        guard name.utf8.count <= maximumLength else { throw refuse("the name is longer than \(maximumLength) bytes") }
        guard !name.contains("\\") else { throw refuse("it contains a backslash") }
        if let reason = RelativePath.problem(name) { throw refuse(reason) }
    }
}

/// pax extended header records: `"<length> <key>=<value>\n"`, where the
/// length counts the whole record including itself.
enum TarPAX {
    static func record(key: String, value: String) -> [UInt8] {
        let body = " \(key)=\(value)\n"
        var length = body.utf8.count + 1
        while String(length).utf8.count + body.utf8.count != length { length += 1 }
        return Array((String(length) + body).utf8)
    }

    static func parse(_ bytes: [UInt8]) throws -> [String: String] {
        var result: [String: String] = [:]
        var index = 0
        while index < bytes.count {
            guard let space = bytes[index...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: bytes[index..<space], as: UTF8.self)),
                  length > space - index, length <= bytes.count - index, bytes[index + length - 1] == UInt8(ascii: "\n"),
                  let equals = bytes[(space + 1)..<(index + length)].firstIndex(of: UInt8(ascii: "="))
            else { throw TarError.malformed("pax record") }
            guard let key = String(validating: bytes[(space + 1)..<equals], as: UTF8.self),
                  let value = String(validating: bytes[(equals + 1)..<(index + length - 1)], as: UTF8.self)
            else { throw TarError.malformed("pax record is not UTF-8") }
            result[key] = value
            index += length
        }
        return result
    }
}

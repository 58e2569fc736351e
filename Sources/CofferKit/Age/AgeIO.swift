/// Where an ``AgeDecryptor`` reads an encrypted file from: a file
/// descriptor, a pipe, memory. Reads are pulled in blocks of at most 64 KiB,
/// so memory stays constant whatever the file size.
public protocol AgeSource {
    /// Reads up to `buffer.count` bytes into `buffer`.
    /// - Returns: the number of bytes read; 0 only at the end of the input.
    /// - Throws: whatever the underlying input throws; it is passed through.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Where an ``AgeEncryptor`` writes the encrypted file, and an
/// ``AgeDecryptor`` the plaintext, one block (at most 64 KiB) at a time.
public protocol AgeSink {
    /// Writes all of `bytes`. The buffer is valid only during the call.
    /// - Throws: whatever the underlying output throws; it is passed through.
    mutating func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// An ``AgeSource`` over bytes in memory.
public struct AgeBytesSource: AgeSource {
    private let bytes: [UInt8]
    private var offset = 0

    /// A source that returns `bytes`, then end of input.
    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Copies the next bytes into `buffer`.
    /// - Returns: the count copied, 0 at the end.
    public mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = Swift.min(buffer.count, bytes.count - offset)
        guard count > 0 else { return 0 }
        bytes.withUnsafeBytes { source in
            buffer.baseAddress!.copyMemory(from: source.baseAddress! + offset, byteCount: count)
        }
        offset += count
        return count
    }
}

/// An ``AgeSink`` that collects everything in memory (for small files and
/// tests; use a streaming sink for anything large).
public struct AgeBytesSink: AgeSink {
    /// Everything written so far.
    public private(set) var bytes: [UInt8] = []

    /// An empty sink.
    public init() {}

    /// Appends `bytes`.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.bytes.append(contentsOf: bytes)
    }
}

/// An ``AgeSink`` that hands every block to a closure.
public struct AgeClosureSink: AgeSink {
    private let body: (UnsafeRawBufferPointer) throws -> Void

    /// A sink calling `body` for each block; the buffer is valid only during the call.
    public init(_ body: @escaping (UnsafeRawBufferPointer) throws -> Void) {
        self.body = body
    }

    /// Passes `bytes` to the closure.
    public mutating func write(_ bytes: UnsafeRawBufferPointer) throws {
        try body(bytes)
    }
}

/// A buffered reader over any ``AgeSource``: line reading with a length
/// limit for the header and the armor, exact reads for the payload.
struct AgeBufferedReader: AgeSource {
    /// The result of ``readLine(maxBytes:)``.
    enum Line: Equatable {
        /// A complete line, including its final LF.
        case line([UInt8])
        /// The input ended before an LF; the bytes read (maybe none).
        case endOfInput([UInt8])
        /// No LF within the allowed length.
        case tooLong
    }

    private var source: any AgeSource
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    private var sourceEnded = false
    /// Total bytes handed out so far (lines and reads).
    private(set) var consumed = 0

    /// Size of each refill read.
    static let blockByteCount = 16 * 1024

    /// Wraps `source`.
    init(source: any AgeSource) {
        self.source = source
        buffer = [UInt8](repeating: 0, count: Self.blockByteCount)
    }

    /// Reads more from the source into the buffer; false at end of input.
    private mutating func refill() throws -> Bool {
        guard !sourceEnded else { return false }
        if start > 0 {
            buffer.withUnsafeMutableBytes { b in
                if end > start { b.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: end - start) }
            }
            end -= start
            start = 0
        }
        if end == buffer.count { buffer.append(contentsOf: [UInt8](repeating: 0, count: Self.blockByteCount)) }
        let n = try buffer.withUnsafeMutableBytes { b in
            try source.read(into: UnsafeMutableRawBufferPointer(rebasing: b[end...]))
        }
        if n == 0 {
            sourceEnded = true
            return false
        }
        end += n
        return true
    }

    /// Reads one LF-terminated line of at most `maxBytes` bytes (LF included).
    mutating func readLine(maxBytes: Int) throws -> Line {
        var searched = start
        while true {
            let limit = Swift.min(end, start + maxBytes)
            if let newline = buffer[searched..<limit].firstIndex(of: 0x0A) {
                let line = Array(buffer[start...newline])
                start = newline + 1
                consumed += line.count
                return .line(line)
            }
            if end - start >= maxBytes { return .tooLong }
            searched = end
            let shift = start
            guard try refill() else {
                let rest = Array(buffer[start..<end])
                start = end
                consumed += rest.count
                return .endOfInput(rest)
            }
            searched -= shift
        }
    }

    /// Returns up to `count` upcoming bytes without consuming them (fewer at
    /// end of input).
    mutating func peek(_ count: Int) throws -> [UInt8] {
        while end - start < count, try refill() {}
        return Array(buffer[start..<Swift.min(end, start + count)])
    }

    /// Reads whatever is available, up to `output.count` bytes.
    mutating func read(into output: UnsafeMutableRawBufferPointer) throws -> Int {
        guard output.count > 0 else { return 0 }
        if start == end {
            if output.count >= Self.blockByteCount, !sourceEnded {
                // Large reads bypass the buffer.
                let n = try source.read(into: output)
                if n == 0 { sourceEnded = true }
                consumed += n
                return n
            }
            guard try refill() else { return 0 }
        }
        let n = Swift.min(output.count, end - start)
        buffer.withUnsafeBytes { b in output.baseAddress!.copyMemory(from: b.baseAddress! + start, byteCount: n) }
        start += n
        consumed += n
        return n
    }

    /// Reads until `output` is full or the input ends.
    /// - Returns: the number of bytes read; less than `output.count` only at the end.
    mutating func readFull(into output: UnsafeMutableRawBufferPointer) throws -> Int {
        var filled = 0
        while filled < output.count {
            let n = try read(into: UnsafeMutableRawBufferPointer(rebasing: output[filled...]))
            if n == 0 { break }
            filled += n
        }
        return filled
    }
}

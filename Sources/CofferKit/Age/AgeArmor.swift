/// age's ASCII armor: the strict PEM encoding of RFC 7468 (section 3,
/// figure 3) with the label `AGE ENCRYPTED FILE`. Format code: no
/// cryptography here.
///
/// ```
/// -----BEGIN AGE ENCRYPTED FILE-----
/// <padded base64 of the binary file, 64 columns per line>
/// <last line, 1…64 columns>
/// -----END AGE ENCRYPTED FILE-----
/// ```
///
/// The decoder accepts exactly that, plus what the spec allows: LF or CRLF
/// line ends, whitespace-only lines before the BEGIN line and whitespace
/// after the END line (at most ``maxOutsideWhitespace`` bytes each), and no
/// LF after the END line. It rejects headers (`Key: value`), empty lines,
/// whitespace inside or around base64 lines, lines over 64 columns, short
/// lines before the last, missing or non-canonical padding, a PGP checksum
/// line, and anything else before BEGIN or after END.
enum AgeArmor {
    /// The BEGIN line, without its line end.
    static let beginLine = Array("-----BEGIN AGE ENCRYPTED FILE-----".utf8)
    /// The END line, without its line end.
    static let endLine = Array("-----END AGE ENCRYPTED FILE-----".utf8)
    /// Columns of a full base64 line.
    static let columnsPerLine = 64
    /// Bytes encoded by a full base64 line.
    static let bytesPerLine = 48
    /// The most whitespace accepted before BEGIN, and after END (as age).
    static let maxOutsideWhitespace = 1024

    /// Whether `byte` is ASCII whitespace (space, tab, LF, VT, FF, CR).
    static func isWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (byte >= 0x09 && byte <= 0x0D)
    }

    /// Whether the upcoming bytes look armored: after optional whitespace,
    /// they start with `-----BEGIN`. (A binary age file starts with
    /// `age-encryption.org/`, so the two cannot be confused.)
    static func looksArmored(_ prefix: [UInt8]) -> Bool {
        let rest = prefix.drop(while: isWhitespace)
        return rest.starts(with: Array("-----BEGIN".utf8))
    }
}

/// Streaming armor encoder: buffers at most one line (48 bytes).
struct AgeArmorEncoder {
    private var pending: [UInt8] = []
    private var started = false

    /// Encodes `bytes`, writing every completed line to `sink`.
    mutating func write<Sink: AgeSink>(_ bytes: UnsafeRawBufferPointer, to sink: inout Sink) throws {
        if !started {
            started = true
            try emit(AgeArmor.beginLine + [0x0A], to: &sink)
        }
        var offset = 0
        while offset < bytes.count {
            let take = min(AgeArmor.bytesPerLine - pending.count, bytes.count - offset)
            pending.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + take]))
            offset += take
            if pending.count == AgeArmor.bytesPerLine {
                try emit(Base64.encodedBytes(pending, padded: true) + [0x0A], to: &sink)
                pending.removeAll(keepingCapacity: true)
            }
        }
    }

    /// Writes the last (short) line, if any, and the END line.
    mutating func finish<Sink: AgeSink>(to sink: inout Sink) throws {
        if !started {
            started = true
            try emit(AgeArmor.beginLine + [0x0A], to: &sink)
        }
        if !pending.isEmpty {
            try emit(Base64.encodedBytes(pending, padded: true) + [0x0A], to: &sink)
            pending.removeAll()
        }
        try emit(AgeArmor.endLine + [0x0A], to: &sink)
    }

    private func emit<Sink: AgeSink>(_ bytes: [UInt8], to sink: inout Sink) throws {
        try bytes.withUnsafeBytes { try sink.write($0) }
    }
}

/// Streaming armor decoder: an ``AgeSource`` of the binary file inside the
/// armor of another source. It validates line by line and, after the last
/// base64 line, checks the END line and trailing whitespace before handing
/// out that line's bytes.
struct AgeArmorDecoder: AgeSource {
    private enum State {
        case beforeBegin
        case body
        case finished
    }

    private var reader: AgeBufferedReader
    private var state = State.beforeBegin
    private var pending: [UInt8] = []
    private var pendingOffset = 0

    /// Decodes the armored input of `reader`.
    init(reader: AgeBufferedReader) {
        self.reader = reader
    }

    /// Hands out decoded bytes.
    /// - Throws: ``AgeError/armor(_:)`` at the first violation.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while pendingOffset == pending.count {
            switch state {
            case .finished:
                return 0
            case .beforeBegin:
                try readBegin()
                state = .body
            case .body:
                try readBodyLine()
            }
        }
        let n = min(buffer.count, pending.count - pendingOffset)
        pending.withUnsafeBytes { p in buffer.baseAddress!.copyMemory(from: p.baseAddress! + pendingOffset, byteCount: n) }
        pendingOffset += n
        return n
    }

    /// Removes one LF, then one CR.
    private static func content(_ line: [UInt8]) -> ArraySlice<UInt8> {
        var slice = line[...]
        if slice.last == 0x0A { slice = slice.dropLast() }
        if slice.last == 0x0D { slice = slice.dropLast() }
        return slice
    }

    private mutating func readBegin() throws {
        var skipped = 0
        while true {
            let budget = AgeArmor.maxOutsideWhitespace - skipped + AgeArmor.beginLine.count + 2
            switch try reader.readLine(maxBytes: budget) {
            case .tooLong:
                throw AgeArmor.failure(
                    "the first line is not -----BEGIN AGE ENCRYPTED FILE----- (or too much whitespace before it)")
            case .endOfInput(let partial):
                if partial.allSatisfy(AgeArmor.isWhitespace) {
                    throw AgeArmor.failure("no -----BEGIN AGE ENCRYPTED FILE----- line")
                }
                throw AgeArmor.failure("the BEGIN line has no line end")
            case .line(let line):
                if line.allSatisfy(AgeArmor.isWhitespace) {
                    skipped += line.count
                    guard skipped <= AgeArmor.maxOutsideWhitespace else {
                        throw AgeArmor.failure("more than \(AgeArmor.maxOutsideWhitespace) bytes of whitespace before the BEGIN line")
                    }
                    continue
                }
                guard Self.content(line).elementsEqual(AgeArmor.beginLine) else {
                    throw AgeArmor.failure("the first line is not exactly -----BEGIN AGE ENCRYPTED FILE-----")
                }
                return
            }
        }
    }

    /// Reads one line in the body: the END line, or base64.
    private mutating func readBodyLine() throws {
        // 64 columns, CR, LF: anything longer is an error either way.
        let maxLine = AgeArmor.columnsPerLine + 2
        let line: [UInt8]
        switch try reader.readLine(maxBytes: maxLine) {
        case .tooLong: throw AgeArmor.failure("a line is longer than 64 columns")
        case .endOfInput(let partial):
            guard Self.content(partial).elementsEqual(AgeArmor.endLine) else {
                throw AgeArmor.failure("the armor ends without an -----END AGE ENCRYPTED FILE----- line")
            }
            state = .finished
            return
        case .line(let l): line = l
        }
        let text = Self.content(line)
        if text.elementsEqual(AgeArmor.endLine) {
            try readTrailingWhitespace()
            return
        }
        guard !text.isEmpty else { throw AgeArmor.failure("an empty line inside the armor") }
        guard text.count <= AgeArmor.columnsPerLine else { throw AgeArmor.failure("a line is longer than 64 columns") }
        guard let decoded = Base64.decode(bytes: text, padded: true) else {
            throw AgeArmor.failure("a line is not canonical padded base64 (or has stray characters or whitespace)")
        }
        pending = decoded
        pendingOffset = 0
        if decoded.count < AgeArmor.bytesPerLine {
            // A short line is the last one: the END line must follow.
            switch try reader.readLine(maxBytes: AgeArmor.endLine.count + 2) {
            case .line(let l) where Self.content(l).elementsEqual(AgeArmor.endLine):
                try readTrailingWhitespace()
            case .endOfInput(let l) where Self.content(l).elementsEqual(AgeArmor.endLine):
                state = .finished
            default:
                throw AgeArmor.failure("a line shorter than 64 columns is not followed by the END line")
            }
        }
    }

    /// After END: only whitespace, at most ``AgeArmor/maxOutsideWhitespace`` bytes.
    private mutating func readTrailingWhitespace() throws {
        var seen = 0
        var scratch = [UInt8](repeating: 0, count: 256)
        while true {
            let n = try scratch.withUnsafeMutableBytes { try reader.read(into: $0) }
            if n == 0 { break }
            guard scratch[..<n].allSatisfy(AgeArmor.isWhitespace) else {
                throw AgeArmor.failure("data after the END line")
            }
            seen += n
            guard seen <= AgeArmor.maxOutsideWhitespace else {
                throw AgeArmor.failure("more than \(AgeArmor.maxOutsideWhitespace) bytes of whitespace after the END line")
            }
        }
        state = .finished
    }
}

extension AgeArmor {
    /// An armor error with `why`.
    static func failure(_ why: String) -> AgeError { .armor(why) }
}

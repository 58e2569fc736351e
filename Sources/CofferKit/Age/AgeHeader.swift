/// One recipient stanza of an age header: `-> type args…` and a body.
///
/// Format code: a parsed, untrusted value. Identities turn the stanzas they
/// recognise into typed values (``AgeX25519Stanza``, ``AgeScryptStanza``).
struct AgeStanza: Sendable, Equatable {
    /// The first argument, naming the recipient type (`X25519`, `scrypt`, …).
    var type: String
    /// The arguments after the type.
    var arguments: [String]
    /// The decoded body.
    var body: [UInt8]
}

/// The textual header of an age v1 file: version line, stanzas, MAC line.
///
/// ```
/// age-encryption.org/v1
/// -> X25519 <share>
/// <body, base64 wrapped at 64 columns, ending with a line shorter than 64>
/// --- <base64 HMAC-SHA-256>
/// ```
///
/// Parsing is strict (the C2SP age ABNF): exact version line, LF line ends,
/// arguments of printable ASCII, canonical unpadded base64, body lines of
/// exactly 64 columns except a final shorter (possibly empty) one, and a MAC
/// line of `--- ` plus exactly 43 base64 characters. Format code: no
/// cryptography here; the MAC is checked by ``AgeHeaderMAC`` on the
/// ``authenticatedBytes`` recorded while parsing.
struct AgeHeader: Sendable, Equatable {
    /// The version line, LF included.
    static let versionLine = Array("age-encryption.org/v1\n".utf8)
    /// What every version line starts with.
    static let versionPrefix = Array("age-encryption.org/".utf8)
    /// Columns of a full body line.
    static let columnsPerLine = 64
    /// Bytes encoded by a full body line.
    static let bytesPerLine = columnsPerLine / 4 * 3
    /// The largest header accepted, in bytes: 1 MiB. Real headers are a few
    /// hundred bytes per recipient; the limit stops a hostile or corrupt
    /// input from making the parser buffer without bound.
    static let maxByteCount = 1024 * 1024
    /// The longest header line accepted, in bytes (LF included): 16 KiB,
    /// ten times the longest native stanza argument (the 1,120-byte ML-KEM
    /// share of a post-quantum stanza is 1,494 base64 characters).
    static let maxLineByteCount = 16 * 1024

    /// The recipient stanzas, in file order (at least one).
    var stanzas: [AgeStanza]
    /// The 32-byte header MAC from the final line.
    var mac: [UInt8]
    /// The bytes the MAC covers: the header from the version line through
    /// the `---` of the final line (not the space after it).
    var authenticatedBytes: [UInt8]

    /// Parses a header from the start of `reader`, leaving it at the first
    /// byte of the payload.
    /// - Throws: ``AgeError/header(_:)`` naming the rule broken; errors of
    ///   the underlying source (including ``AgeError/armor(_:)``) pass through.
    static func parse(from reader: inout AgeBufferedReader) throws -> AgeHeader {
        var authenticated: [UInt8] = []
        func nextLine(_ what: String) throws -> [UInt8] {
            let budget = min(maxLineByteCount, maxByteCount - authenticated.count)
            switch try reader.readLine(maxBytes: budget) {
            case .line(let line): return line
            case .endOfInput(let partial):
                if partial.isEmpty && authenticated.isEmpty { throw AgeError.header("the file is empty") }
                throw AgeError.header("the header ends before its \(what) line is complete")
            case .tooLong:
                if budget < maxLineByteCount {
                    throw AgeError.header("the header is larger than the \(maxByteCount / 1024) KiB limit")
                }
                throw AgeError.header("a header line is longer than the \(maxLineByteCount / 1024) KiB limit")
            }
        }

        let version = try nextLine("version")
        guard version == versionLine else {
            if version.starts(with: versionPrefix) { throw AgeError.header("unsupported age version (only v1 is supported)") }
            throw AgeError.header("it does not start with the age-encryption.org/v1 version line")
        }
        authenticated += version

        var stanzas: [AgeStanza] = []
        while true {
            let line = try nextLine(stanzas.isEmpty ? "first stanza" : "next stanza or MAC")
            if line.starts(with: [0x2D, 0x2D, 0x2D]) {  // "---"
                let mac = try parseMACLine(line)
                guard !stanzas.isEmpty else { throw AgeError.header("the header has no recipient stanza") }
                authenticated += [0x2D, 0x2D, 0x2D]
                return AgeHeader(stanzas: stanzas, mac: mac, authenticatedBytes: authenticated)
            }
            authenticated += line
            var stanza = try parseArgumentLine(line)
            while true {
                let bodyLine = try nextLine("stanza body")
                authenticated += bodyLine
                guard let decoded = Base64.decode(bytes: bodyLine.dropLast(), padded: false) else {
                    if bodyLine.starts(with: [0x2D, 0x2D, 0x2D]) || bodyLine.starts(with: [0x2D, 0x3E]) {
                        throw AgeError.header("a stanza ended without a short body line (every body ends with a line shorter than 64 columns, maybe empty)")
                    }
                    throw AgeError.header("a stanza body line is not canonical unpadded base64")
                }
                guard decoded.count <= bytesPerLine else {
                    throw AgeError.header("a stanza body line is longer than 64 columns")
                }
                stanza.body += decoded
                if decoded.count < bytesPerLine { break }
            }
            stanzas.append(stanza)
        }
    }

    /// Parses a header from the start of `bytes` (tests and small inputs).
    /// - Returns: the header and the number of bytes it took.
    /// - Throws: as ``parse(from:)``.
    static func parse(_ bytes: [UInt8]) throws -> (header: AgeHeader, byteCount: Int) {
        var reader = AgeBufferedReader(source: AgeBytesSource(bytes))
        let header = try parse(from: &reader)
        return (header, reader.consumed)
    }

    /// Parses `-> arg arg…\n`: one or more arguments, each one or more
    /// printable ASCII characters (0x21–0x7E), single spaces between them.
    private static func parseArgumentLine(_ line: [UInt8]) throws -> AgeStanza {
        guard line.starts(with: [0x2D, 0x3E, 0x20]) else {  // "-> "
            throw AgeError.header("a header line is neither a stanza (\"-> \") nor the MAC line (\"--- \")")
        }
        let fields = line.dropFirst(3).dropLast().split(separator: 0x20, omittingEmptySubsequences: false)
        guard !fields.isEmpty else { throw AgeError.header("a stanza has no type") }
        for field in fields {
            guard !field.isEmpty else { throw AgeError.header("a stanza argument is empty (doubled or trailing space)") }
            guard field.allSatisfy({ $0 >= 0x21 && $0 <= 0x7E }) else {
                throw AgeError.header("a stanza argument has a character outside printable ASCII")
            }
        }
        let strings = fields.map { String(decoding: $0, as: UTF8.self) }
        return AgeStanza(type: strings[0], arguments: Array(strings.dropFirst()), body: [])
    }

    /// Parses `--- <43 base64 chars>\n` into the 32-byte MAC.
    private static func parseMACLine(_ line: [UInt8]) throws -> [UInt8] {
        guard line.starts(with: [0x2D, 0x2D, 0x2D, 0x20]) else {
            throw AgeError.header("the MAC line does not start with \"--- \"")
        }
        guard let mac = Base64.decode(bytes: line.dropFirst(4).dropLast(), padded: false), mac.count == 32 else {
            throw AgeError.header("the header MAC is not 32 bytes of canonical unpadded base64")
        }
        return mac
    }

    /// Serialises stanzas into the header bytes the MAC covers (version line
    /// through `---`).
    static func encodeAuthenticatedBytes(_ stanzas: [AgeStanza]) -> [UInt8] {
        var out = versionLine
        for stanza in stanzas {
            out += Array("->".utf8)
            for argument in [stanza.type] + stanza.arguments {
                out.append(0x20)
                out += Array(argument.utf8)
            }
            out.append(0x0A)
            let encoded = Base64.encodedBytes(stanza.body, padded: false)
            var offset = 0
            // Full 64-column lines, then a final shorter line, empty if the
            // encoding is a multiple of 64 columns long.
            while encoded.count - offset >= columnsPerLine {
                out += encoded[offset..<offset + columnsPerLine]
                out.append(0x0A)
                offset += columnsPerLine
            }
            out += encoded[offset...]
            out.append(0x0A)
        }
        out += Array("---".utf8)
        return out
    }

    /// The complete header: the authenticated bytes, a space, the MAC, LF.
    static func encode(authenticatedBytes: [UInt8], mac: [UInt8]) -> [UInt8] {
        authenticatedBytes + [0x20] + Base64.encodedBytes(mac, padded: false) + [0x0A]
    }
}

/// The X25519 stanza, parsed: `-> X25519 <base64 32-byte share>` with a
/// 32-byte body (the 16-byte file key and its tag). Format code.
struct AgeX25519Stanza: Sendable, Equatable {
    /// The stanza type.
    static let type = "X25519"
    /// The sender's ephemeral X25519 share.
    var share: [UInt8]
    /// The wrapped file key.
    var body: [UInt8]

    /// Checks the stanza rules of the spec: exactly one argument after the
    /// type, a canonical base64 encoding of 32 bytes, and a 32-byte body.
    /// - Throws: ``AgeError/header(_:)``.
    init(_ stanza: AgeStanza) throws {
        precondition(stanza.type == Self.type, "caller filters on the stanza type")
        guard stanza.arguments.count == 1 else {
            throw AgeError.header("an X25519 stanza must have exactly one argument, the share")
        }
        guard let share = Base64.decode(bytes: Array(stanza.arguments[0].utf8), padded: false), share.count == 32 else {
            throw AgeError.header("an X25519 share is not 32 bytes of canonical unpadded base64")
        }
        guard stanza.body.count == 32 else {
            throw AgeError.header("an X25519 stanza body is not 32 bytes (a 16-byte file key and its tag)")
        }
        self.share = share
        body = stanza.body
    }

    /// A stanza from its parts (for encryption).
    init(share: [UInt8], body: [UInt8]) {
        self.share = share
        self.body = body
    }

    /// The generic stanza to serialise.
    var stanza: AgeStanza {
        AgeStanza(type: Self.type, arguments: [Base64.encode(share, padded: false)], body: body)
    }
}

/// The scrypt stanza, parsed: `-> scrypt <base64 16-byte salt> <log2 N>`
/// with a 32-byte body. Format code.
struct AgeScryptStanza: Sendable, Equatable {
    /// The stanza type.
    static let type = "scrypt"
    /// The 16-byte salt (the label is prepended when deriving the key).
    var salt: [UInt8]
    /// log2 of the scrypt work factor N.
    var workFactor: Int
    /// The wrapped file key.
    var body: [UInt8]

    /// Checks the stanza rules of the spec: exactly two arguments after the
    /// type, a canonical base64 16-byte salt, a decimal work factor matching
    /// `^[1-9][0-9]*$`, and a 32-byte body. The work factor limit is the
    /// identity's to apply.
    /// - Throws: ``AgeError/header(_:)``.
    init(_ stanza: AgeStanza) throws {
        precondition(stanza.type == Self.type, "caller filters on the stanza type")
        guard stanza.arguments.count == 2 else {
            throw AgeError.header("an scrypt stanza must have exactly two arguments, salt and work factor")
        }
        guard let salt = Base64.decode(bytes: Array(stanza.arguments[0].utf8), padded: false), salt.count == 16 else {
            throw AgeError.header("an scrypt salt is not 16 bytes of canonical unpadded base64")
        }
        let digits = Array(stanza.arguments[1].utf8)
        guard let first = digits.first, first >= 0x31, first <= 0x39,
              digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 })
        else {
            throw AgeError.header("an scrypt work factor is not a decimal number without leading zeros")
        }
        var value = 0
        for digit in digits {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(Int(digit - 0x30))
            guard !overflow1, !overflow2 else { throw AgeError.header("an scrypt work factor is out of range") }
            value = sum
        }
        guard stanza.body.count == 32 else {
            throw AgeError.header("an scrypt stanza body is not 32 bytes (a 16-byte file key and its tag)")
        }
        self.salt = salt
        workFactor = value
        body = stanza.body
    }

    /// A stanza from its parts (for encryption).
    init(salt: [UInt8], workFactor: Int, body: [UInt8]) {
        self.salt = salt
        self.workFactor = workFactor
        self.body = body
    }

    /// The generic stanza to serialise.
    var stanza: AgeStanza {
        AgeStanza(
            type: Self.type, arguments: [Base64.encode(salt, padded: false), String(workFactor)], body: body)
    }
}

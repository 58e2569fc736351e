/// The line layout shared by minisign's public key and signature files.
/// Format code: no cryptography here.
///
/// A file is a fixed number of lines, each ending with LF or CRLF (the last
/// may have no line end) and nothing after the last. Comment lines start
/// with an exact prefix; their text is UTF-8 without NUL or CR. The limits
/// are the longest comments minisign 0.11 writes and reads back (its line
/// buffers are 1,024 and 8,192 bytes).
enum MinisignText {
    /// Prefix of the first line of every file.
    static let untrustedPrefix = "untrusted comment: "
    /// Prefix of the third line of a signature file.
    static let trustedPrefix = "trusted comment: "
    /// Longest untrusted comment text, in bytes.
    static let maxUntrustedCommentByteCount = 1003
    /// Longest trusted comment text, in bytes.
    static let maxTrustedCommentByteCount = 8173

    /// Splits `contents` into exactly `count` lines, without line ends.
    /// - Parameter fail: makes the error for a reason.
    /// - Throws: `fail(reason)` for missing or extra lines, a CR not before
    ///   an LF, or a NUL byte.
    static func lines(_ contents: [UInt8], count: Int, fail: (String) -> MinisignError) throws -> [ArraySlice<UInt8>] {
        guard !contents.contains(0) else { throw fail("it contains a NUL byte") }
        var lines: [ArraySlice<UInt8>] = []
        var start = contents.startIndex
        for index in contents.indices where contents[index] == 0x0A {
            lines.append(contents[start..<index])
            start = index + 1
        }
        if start < contents.endIndex { lines.append(contents[start...]) }
        guard lines.count >= count else {
            throw fail(contents.isEmpty ? "the file is empty" : "it is truncated: \(count) lines expected, \(lines.count) found")
        }
        guard lines.count == count else { throw fail("unexpected data after line \(count)") }
        return try lines.enumerated().map { number, line in
            let content = line.last == 0x0D ? line.dropLast() : line
            guard !content.contains(0x0D) else { throw fail("line \(number + 1) contains a carriage return") }
            return content
        }
    }

    /// The text of a comment line after `prefix`.
    /// - Throws: `fail(reason)` for a wrong prefix, a text over `maxBytes`,
    ///   or one that is not UTF-8.
    static func comment(
        _ line: ArraySlice<UInt8>, prefix: String, maxBytes: Int, number: Int, fail: (String) -> MinisignError
    ) throws -> String {
        guard line.starts(with: prefix.utf8) else { throw fail("line \(number) does not start with \"\(prefix)\"") }
        let text = line.dropFirst(prefix.utf8.count)
        guard text.count <= maxBytes else { throw fail("the comment on line \(number) is longer than \(maxBytes) bytes") }
        guard let string = String(validating: text, as: UTF8.self) else {
            throw fail("the comment on line \(number) is not UTF-8")
        }
        return string
    }

    /// Decodes a line of canonical padded base64 of exactly `byteCount` bytes.
    /// - Throws: `fail(reason)` otherwise.
    static func base64(
        _ line: ArraySlice<UInt8>, byteCount: Int, number: Int, fail: (String) -> MinisignError
    ) throws -> [UInt8] {
        guard let bytes = Base64.decode(String(decoding: line, as: UTF8.self)) else {
            throw fail("line \(number) is not canonical base64")
        }
        guard bytes.count == byteCount else {
            throw fail("line \(number) holds \(bytes.count) bytes, \(byteCount) expected")
        }
        return bytes
    }

    /// Checks that `text` can be written as a comment: no line break or NUL,
    /// at most `maxBytes` bytes of UTF-8.
    /// - Throws: ``MinisignError/invalidComment(_:)``.
    static func checkWritable(_ text: String, maxBytes: Int, what: String) throws {
        guard !text.utf8.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }) else {
            throw MinisignError.invalidComment("the \(what) must be one line (no line break or NUL)")
        }
        guard text.utf8.count <= maxBytes else {
            throw MinisignError.invalidComment("the \(what) is longer than \(maxBytes) bytes")
        }
    }
}

import CPlatform
import CofferKit
import Foundation

extension String {
    /// The text with every character that a terminal would act on instead
    /// of showing written as a visible escape: C0 controls (newline
    /// included; tab, which only moves to the next column stop, is kept, as
    /// minisign's trusted comments use it), DEL and C1 controls become
    /// `\u{1b}`, `\u{7}`, `\u{9b}`;
    /// the Unicode bidirectional overrides and isolates (U+202A…U+202E,
    /// U+2066…U+2069), which reorder what is shown, become `\u{202e}` and so
    /// on. Names chosen by other people (document names, file names inside
    /// a partner's bundle, identity, role and partner names) pass through
    /// this before they reach a terminal, so they cannot move the cursor,
    /// retitle the window, ring the bell or hide text. JSON output is not
    /// escaped this way: it stays exact, with only JSON's own escapes.
    var escapingControlCharacters: String {
        guard unicodeScalars.contains(where: Self.isEscaped) else { return self }
        var escaped = String.UnicodeScalarView()
        for scalar in unicodeScalars {
            if Self.isEscaped(scalar) {
                escaped.append(contentsOf: "\\u{\(String(scalar.value, radix: 16))}".unicodeScalars)
            } else {
                escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    private static func isEscaped(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09: false
        case 0x00...0x1F, 0x7F...0x9F, 0x202A...0x202E, 0x2066...0x2069: true
        default: false
        }
    }
}

/// Text output for people: every line goes through
/// ``Swift/String/escapingControlCharacters`` on its way to the terminal.
enum TextOutput {
    /// Prints one line on standard output, control characters escaped.
    static func line(_ text: String) {
        print(text.escapingControlCharacters)
    }

    /// Stops a command that streams many lines once standard output can no
    /// longer be written (`coffer ls | head -1`: the reader has gone), instead
    /// of producing the rest for nobody: exit 8, as any failed write. Call it
    /// right after printing, while `errno` still tells why the write failed.
    /// - Throws: ``FileError`` (`EPIPE`, `ENOSPC`, …) after a write to standard output failed.
    static func requireWritable() throws {
        guard coffer_standard_output_failed() != 0 else { return }
        throw FileError(operation: "write", path: "standard output", code: errno == 0 ? EIO : errno)
    }

    /// Writes one line on standard error, control characters escaped.
    static func errorLine(_ text: String) {
        FileHandle.standardError.write(Data((text.escapingControlCharacters + "\n").utf8))
    }
}

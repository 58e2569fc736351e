@testable import CofferKit

/// A known-answer vector made once with the stock minisign 0.11
/// (`minisign -G -W`, then `minisign -S -t …` and `minisign -S -l -t …`),
/// so the parsers and verifiers are checked against the reference
/// implementation without needing the binary.
enum MinisignVectors {
    /// The signed file.
    static let message = Array("Coffer minisign known-answer vector\n".utf8)

    /// The public key file minisign wrote.
    static let publicKeyFile = Array("""
        untrusted comment: minisign public key 6C508BBC77B6012B
        RWQrAbZ3vItQbEsILwJkdsud89NBEiR4dcBBd+SjmM9QzUxVl/AxuFYV

        """.utf8)

    /// The key id as minisign prints it.
    static let keyID = "6C508BBC77B6012B"

    /// A prehashed (`ED`) signature of ``message``.
    static let prehashedFile = Array("""
        untrusted comment: signature from minisign secret key
        RUQrAbZ3vItQbMMM+aFvdRgnzXYERMCAB2/xGhoeDWVElbZ4mKnBo4lBbIYM2QacuIrcmtVrscGSH+KlzNVGibLddWyoKXvMrgI=
        trusted comment: coffer kat: prehashed
        UaJQdkp36+70B4SvYnNnu0qk3pWjvKO5Uqr2KUSTUebdq0q8r5wsT4d5PEKQ3QUD+5DaOv8i2JkLl1GFfoowBw==

        """.utf8)

    /// A legacy (`Ed`) signature of ``message``.
    static let legacyFile = Array("""
        untrusted comment: signature from minisign secret key
        RWQrAbZ3vItQbLya8r4QpneVl/dAx62P0Pl+UzcMyjMIhPJKbhm4sIFpVSN9eX3G3pVYdsSKM2wWLvrASX0m7wEJ5RRpPcZIrg0=
        trusted comment: coffer kat: legacy
        jJDwC7tLDuUL/zHLTvno1jg81ObCnp5PfiuGXQLgjKWS+JlXkCVNopDkVxH6PlKQfNW9ROBIwDG1DG0HOWdfDA==

        """.utf8)

    /// The parsed public key.
    static var publicKey: MinisignPublicKey {
        get throws { try MinisignPublicKey(fileContents: publicKeyFile) }
    }

    /// `text` with every LF turned into CRLF.
    static func crlf(_ bytes: [UInt8]) -> [UInt8] {
        bytes.flatMap { $0 == 0x0A ? [0x0D, 0x0A] : [$0] }
    }

    /// The file's lines, without line ends, as strings.
    static func lines(_ bytes: [UInt8]) -> [String] {
        String(decoding: bytes, as: UTF8.self).split(separator: "\n").map(String.init)
    }

    /// A file from lines, each LF-terminated.
    static func file(_ lines: [String]) -> [UInt8] {
        Array(lines.map { $0 + "\n" }.joined().utf8)
    }
}

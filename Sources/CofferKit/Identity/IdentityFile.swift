#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// Reads and writes identity files.
///
/// A file is text: comment lines starting with `#` (name and public identity,
/// for people), then the body between `-----BEGIN COFFER IDENTITY-----` and
/// `-----END COFFER IDENTITY-----` as base64 in 64-column lines. The body
/// layout is in docs/FORMAT.md ("Identity file"). With a passphrase the seed
/// is encrypted with XChaCha20-Poly1305 under an Argon2id key, and every
/// header byte (including the cost parameters) is associated data.
public enum IdentityFile {
    static let magic = Array("CFID".utf8)
    static let formatVersion: UInt8 = 1
    static let beginLine = "-----BEGIN COFFER IDENTITY-----"
    static let endLine = "-----END COFFER IDENTITY-----"
    /// Identity files are tiny; anything bigger is not one.
    static let maximumFileSize = 16 * 1024
    static let maximumNameLength = 256

    /// How the seed is protected in the file.
    enum Protection: UInt8 {
        case none = 0
        case argon2id = 1
    }

    /// Serialises `identity`, encrypting it when `passphrase` is given.
    /// - Parameters:
    ///   - identity: an identity this process holds (not an unlock agent's).
    ///   - passphrase: encrypts the seed under an Argon2id key; nil writes it in clear.
    ///   - limits: Argon2id cost (at least ``PasswordHash/Argon2Limits/moderate`` in production).
    public static func encode(
        _ identity: Identity, passphrase: SecureBytes?, limits: PasswordHash.Argon2Limits = .moderate
    ) throws -> [UInt8] {
        let seed = try identity.localSecrets(for: "writing an identity file").seed
        let name = Array(identity.name.utf8)
        guard name.count <= maximumNameLength else { throw IdentityError.invalidName("the name is longer than 256 bytes") }
        var header = ByteWriter()
        header.write(magic)
        header.write(formatVersion)
        header.write((passphrase == nil ? Protection.none : .argon2id).rawValue)
        header.write(UInt16(name.count))
        header.write(name)
        var body: [UInt8]
        if let passphrase {
            let salt = Sodium.randomBytes(PasswordHash.argon2SaltByteCount)
            // The key is fresh (new random salt) for every file written, so
            // a random nonce is used once per key.
            let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
            header.write(limits.operations)
            header.write(limits.memory)
            header.write(salt)
            header.write(nonce)
            let key = try PasswordHash.argon2id(passphrase: passphrase, salt: salt, limits: limits)
            body = header.bytes + AEAD.xChaCha20Poly1305.seal(
                seed.bytes, key: key, nonce: nonce, associatedData: header.bytes)
        } else {
            body = header.bytes + seed.withUnsafeBytes { Array($0) }
        }
        defer { Sodium.wipe(&body) }
        var text = "# Coffer identity \u{2014} keep this file secret\n"
        text += "# name: \(identity.name.replacingNewlines())\n"
        text += "# public: \(identity.publicIdentity)\n"
        text += beginLine + "\n"
        let encoded = Base64.encode(body)
        var index = encoded.startIndex
        while index < encoded.endIndex {
            let end = encoded.index(index, offsetBy: 64, limitedBy: encoded.endIndex) ?? encoded.endIndex
            text += encoded[index..<end] + "\n"
            index = end
        }
        text += endLine + "\n"
        return Array(text.utf8)
    }

    /// Where a user's identity file is, as the `coffer` command finds it:
    /// `$COFFER_IDENTITY`, else `$XDG_CONFIG_HOME/coffer/identity`, else
    /// `~/.config/coffer/identity`.
    public static var standardPath: String {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["COFFER_IDENTITY"], !path.isEmpty { return path }
        if let xdg = environment["XDG_CONFIG_HOME"], !xdg.isEmpty { return xdg + "/coffer/identity" }
        return FileSystem.homeDirectory + "/.config/coffer/identity"
    }

    /// Whether the file's seed is encrypted (so a passphrase is needed).
    public static func isEncrypted(_ contents: [UInt8], path: String) throws -> Bool {
        let body = try decodeBody(contents, path: path)
        return body.count > 5 && body[5] == Protection.argon2id.rawValue
    }

    /// Reads and, if needed, decrypts the identity file at `path` (the
    /// standard one by default: ``standardPath``), reading at most 64 KiB
    /// and wiping its copy of the file's bytes.
    /// - Parameters:
    ///   - path: the identity file.
    ///   - passphrase: called only when the file is encrypted.
    /// - Throws: ``IdentityError/noIdentity(path:)`` if there is no file;
    ///   as ``decode(_:path:passphrase:)``; ``FileError``.
    public static func load(from path: String = standardPath, passphrase: () throws -> SecureBytes) throws -> Identity {
        try withContents(of: path) { try decode($0, path: path, passphrase: passphrase) }
    }

    /// Reads the identity file at `path` (at most 64 KiB) and lends its
    /// bytes to `body`, wiping them afterwards: the file may hold a seed in clear.
    /// - Throws: ``IdentityError/noIdentity(path:)`` if there is no file; ``FileError``; what `body` throws.
    static func withContents<T>(of path: String, _ body: ([UInt8]) throws -> T) throws -> T {
        guard FileSystem.exists(path) else { throw IdentityError.noIdentity(path: path) }
        var contents = try FileSystem.readSmallFile(path, limit: 64 * 1024)
        defer { Sodium.wipe(&contents) }
        return try body(contents)
    }

    /// Parses and, if needed, decrypts an identity file.
    /// - Parameters:
    ///   - contents: the file's bytes.
    ///   - path: for error messages.
    ///   - passphrase: called only when the file is encrypted.
    /// - Throws: ``IdentityError`` (wrong passphrase, malformed file).
    public static func decode(
        _ contents: [UInt8], path: String, passphrase: () throws -> SecureBytes
    ) throws -> Identity {
        var body = try decodeBody(contents, path: path)
        defer { Sodium.wipe(&body) }
        var reader = ByteReader(body, what: "identity file")
        do {
            try reader.expect(magic: magic)
            let version = try reader.readUInt8()
            guard version == formatVersion else { throw FormatError.unsupportedVersion("identity file", Int(version)) }
            guard let protection = Protection(rawValue: try reader.readUInt8()) else {
                throw FormatError.malformed("identity file", "unknown protection")
            }
            let nameLength = Int(try reader.readUInt16())
            guard nameLength <= maximumNameLength else { throw FormatError.oversized("identity name", nameLength) }
            guard let name = String(validating: try reader.read(nameLength), as: UTF8.self) else {
                throw FormatError.malformed("identity file", "name is not UTF-8")
            }
            switch protection {
            case .none:
                var seedBytes = try reader.read(SymmetricKey.byteCount)
                defer { Sodium.wipe(&seedBytes) }
                let seed = seedBytes.withUnsafeBytes { SecureBytes(copying: $0) }
                try reader.expectEnd()
                return Identity(seed: try SymmetricKey(seed), name: name)
            case .argon2id:
                let limits = PasswordHash.Argon2Limits(operations: try reader.readUInt64(), memory: try reader.readUInt64())
                guard limits.operations >= PasswordHash.Argon2Limits.minimum.operations,
                      limits.memory >= PasswordHash.Argon2Limits.minimum.memory,
                      limits.operations <= PasswordHash.Argon2Limits.maximum.operations,
                      limits.memory <= PasswordHash.Argon2Limits.maximum.memory
                else { throw FormatError.malformed("identity file", "Argon2id limits out of the accepted range") }
                let salt = try reader.read(PasswordHash.argon2SaltByteCount)
                let nonce = try reader.read(AEAD.xChaCha20Poly1305.nonceByteCount)
                let headerLength = reader.offset
                let sealed = try reader.read(SymmetricKey.byteCount + AEAD.tagByteCount)
                try reader.expectEnd()
                let key = try PasswordHash.argon2id(passphrase: try passphrase(), salt: salt, limits: limits)
                let seed: SecureBytes
                do {
                    seed = try AEAD.xChaCha20Poly1305.openSecret(
                        sealed, key: key, nonce: nonce, associatedData: Array(body[..<headerLength]), what: "identity")
                } catch is CryptoError {
                    throw IdentityError.wrongPassphrase(path: path)
                }
                return Identity(seed: try SymmetricKey(seed), name: name)
            }
        } catch let error as FormatError {
            throw IdentityError.malformedIdentityFile(path: path, reason: error.description)
        }
    }

    /// Extracts and base64-decodes the armored body.
    private static func decodeBody(_ contents: [UInt8], path: String) throws -> [UInt8] {
        guard contents.count <= maximumFileSize else {
            throw IdentityError.malformedIdentityFile(path: path, reason: "larger than \(maximumFileSize) bytes")
        }
        guard let text = String(validating: contents, as: UTF8.self) else {
            throw IdentityError.malformedIdentityFile(path: path, reason: "not UTF-8 text")
        }
        // Split on scalars: as Characters, "\r\n" is one grapheme and would never match "\n".
        let lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            String(String.UnicodeScalarView(line.last == "\r" ? line.dropLast() : line[...]))
        }
        guard let begin = lines.firstIndex(of: beginLine),
              let end = lines[begin...].firstIndex(of: endLine)
        else { throw IdentityError.malformedIdentityFile(path: path, reason: "no BEGIN/END COFFER IDENTITY lines") }
        for line in lines[..<begin] where !line.isEmpty && !line.hasPrefix("#") {
            throw IdentityError.malformedIdentityFile(path: path, reason: "unexpected text before the identity")
        }
        for line in lines[(end + 1)...] where !line.trimmingWhitespace().isEmpty {
            throw IdentityError.malformedIdentityFile(path: path, reason: "unexpected text after the identity")
        }
        let inner = lines[(begin + 1)..<end]
        for (i, line) in inner.enumerated() where line.utf8.count > 64 || (i < inner.count - 1 && line.utf8.count != 64) {
            throw IdentityError.malformedIdentityFile(path: path, reason: "body lines must be 64 columns")
        }
        guard let body = Base64.decode(inner.joined()) else {
            throw IdentityError.malformedIdentityFile(path: path, reason: "body is not canonical base64")
        }
        return body
    }
}

extension String {
    /// The string with CR and LF replaced by spaces (for one-line comments).
    func replacingNewlines() -> String {
        String(map { $0 == "\n" || $0 == "\r" ? " " : $0 })
    }
}

extension IdentityFile {
    /// Writes an encoded identity to `path` with mode 0600, atomically and
    /// durably, refusing to overwrite an existing file.
    /// - Throws: ``FileError`` (`EEXIST` if the file exists).
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = FileSystem.directoryName(of: path)
        if !FileSystem.exists(directory) { try FileSystem.createDirectories(directory) }
        if FileSystem.exists(path) { throw FileError("create", path: path, code: EEXIST) }
        try AtomicFile.write(bytes, to: path, mode: 0o600, overwrite: false)
    }
}

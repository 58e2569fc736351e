/// The 128-bit file key of one age file: fresh from the CSPRNG for every
/// file, wrapped once per recipient, never stored in the clear.
struct AgeFileKey: Sendable {
    /// File key length.
    static let byteCount = 16
    /// The locked key bytes.
    let bytes: SecureBytes

    /// A fresh random file key.
    static func random() -> AgeFileKey {
        AgeFileKey(unchecked: SecureBytes(randomCount: byteCount))
    }

    /// Adopts locked bytes whose length is already 16.
    init(unchecked bytes: SecureBytes) {
        precondition(bytes.count == Self.byteCount, "file key length")
        self.bytes = bytes
    }
}

/// An age X25519 recipient: the public key a file is encrypted to,
/// written `age1…` (Bech32, human-readable part `age`).
public struct AgeX25519Recipient: Sendable, Hashable, CustomStringConvertible {
    /// The 32-byte X25519 public key.
    let publicKey: [UInt8]

    /// Adopts a 32-byte public key.
    init(publicKey: [UInt8]) {
        precondition(publicKey.count == X25519.byteCount, "X25519 public key length")
        self.publicKey = publicKey
    }

    /// Parses an `age1…` recipient.
    /// - Parameter encoded: the Bech32 string (one case, no spaces).
    /// - Throws: ``AgeError/invalidRecipient(_:)`` saying what is wrong.
    public init(_ encoded: String) throws {
        let decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(encoded)
        } catch let error as Bech32.DecodingError {
            throw AgeError.invalidRecipient(error.description)
        }
        guard decoded.hrp == "age" else {
            if decoded.hrp.hasPrefix("age1") || decoded.hrp == "age" + "1pq" {
                throw AgeError.invalidRecipient("only X25519 recipients (age1…) are supported, not plugin or post-quantum ones")
            }
            throw AgeError.invalidRecipient("an age recipient starts with \"age1\"")
        }
        guard decoded.data.count == X25519.byteCount else {
            throw AgeError.invalidRecipient("an age recipient holds a 32-byte key, this one has \(decoded.data.count) bytes")
        }
        publicKey = decoded.data
    }

    /// The `age1…` encoding.
    public var encoded: String {
        Bech32.encode(hrp: "age", data: publicKey)
    }

    /// The `age1…` encoding (a recipient is public).
    public var description: String { encoded }
}

/// An age X25519 identity: the secret scalar that opens files encrypted to
/// its ``recipient``, written `AGE-SECRET-KEY-1…`.
///
/// The scalar lives in locked memory. Parsing goes through Bech32 on a
/// `String`, so the caller's copy of the encoded text (and transient copies
/// made while decoding) are outside this type's control: read identity
/// files into ``SecureBytes`` and use ``parseIdentityFile(_:)``.
public struct AgeX25519Identity: Sendable {
    /// The 32-byte X25519 secret scalar.
    let secretKey: SecureBytes

    /// Adopts a 32-byte scalar.
    init(secretKey: SecureBytes) {
        precondition(secretKey.count == X25519.byteCount, "X25519 secret key length")
        self.secretKey = secretKey
    }

    /// A new random identity.
    public static func generate() -> AgeX25519Identity {
        AgeX25519Identity(secretKey: SecureBytes(randomCount: X25519.byteCount))
    }

    /// Parses one `AGE-SECRET-KEY-1…` string.
    /// - Throws: ``AgeError/invalidIdentity(_:)`` saying what is wrong (never
    ///   echoing the key).
    public init(_ encoded: String) throws {
        var decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(encoded)
        } catch let error as Bech32.DecodingError {
            throw AgeError.invalidIdentity(error.description)
        }
        defer { Sodium.wipe(&decoded.data) }
        guard decoded.hrp == "age-secret-key-" else {
            if decoded.hrp.hasPrefix("age-plugin-") || decoded.hrp.hasPrefix("age-secret-key-pq-") {
                throw AgeError.invalidIdentity("only X25519 identities (AGE-SECRET-KEY-1…) are supported, not plugin or post-quantum ones")
            }
            throw AgeError.invalidIdentity("an age identity starts with \"AGE-SECRET-KEY-1\"")
        }
        guard decoded.data.count == X25519.byteCount else {
            throw AgeError.invalidIdentity("an age identity holds a 32-byte key, this one has \(decoded.data.count) bytes")
        }
        secretKey = decoded.data.withUnsafeBytes { SecureBytes(copying: $0) }
    }

    /// Parses an identity file as `age-keygen` writes it: one
    /// `AGE-SECRET-KEY-1…` per line; lines starting with `#` and empty lines
    /// are skipped; LF or CRLF line ends.
    /// - Parameter contents: the file's bytes, at most 1 MiB.
    /// - Returns: the identities, in file order (at least one).
    /// - Throws: ``AgeError/invalidIdentity(_:)`` naming the first bad line
    ///   by number (never its content), or if the file holds no key.
    public static func parseIdentityFile(_ contents: SecureBytes) throws -> [AgeX25519Identity] {
        guard contents.count <= 1024 * 1024 else {
            throw AgeError.invalidIdentity("the identity file is larger than 1 MiB")
        }
        return try contents.withUnsafeBytes { bytes in
            var identities: [AgeX25519Identity] = []
            var lineNumber = 0
            for var line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.last == 0x0D { line = line.dropLast() }
                if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
                do {
                    identities.append(try AgeX25519Identity(String(decoding: line, as: UTF8.self)))
                } catch let AgeError.invalidIdentity(why) {
                    throw AgeError.invalidIdentity("line \(lineNumber) of the identity file: \(why)")
                }
            }
            guard !identities.isEmpty else { throw AgeError.invalidIdentity("the identity file holds no secret key") }
            return identities
        }
    }

    /// The recipient (public key) files for this identity are encrypted to.
    public var recipient: AgeX25519Recipient {
        AgeX25519Recipient(publicKey: X25519.publicKey(of: secretKey))
    }

    /// The `AGE-SECRET-KEY-1…` encoding, as ASCII in locked memory (for
    /// writing an identity file). Bech32 encoding makes short-lived copies in
    /// ordinary memory; the scalar copy is wiped, the strings are not.
    public func encodedSecretKey() -> SecureBytes {
        var scalar = secretKey.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&scalar) }
        var text = Array(Bech32.encode(hrp: "age-secret-key-", data: scalar).uppercased().utf8)
        defer { Sodium.wipe(&text) }
        return text.withUnsafeBytes { SecureBytes(copying: $0) }
    }
}

/// Who a file is encrypted to.
public enum AgeRecipient: Sendable {
    /// An X25519 public key (`age1…`).
    case x25519(AgeX25519Recipient)
    /// An OpenSSH Ed25519 public key (`ssh-ed25519 AAAA…`).
    case sshEd25519(AgeSSHEd25519Recipient)
    /// A passphrase, stretched with scrypt at N = 2^workFactor (r = 8, p = 1).
    /// It must be the only recipient of a file. The default work factor is
    /// ``Age/defaultScryptWorkFactor`` (18: 256 MiB, under a second).
    case scrypt(passphrase: SecureBytes, workFactor: Int = Age.defaultScryptWorkFactor)
}

/// What can open a file.
public enum AgeIdentity: Sendable {
    /// An X25519 secret key (`AGE-SECRET-KEY-1…`).
    case x25519(AgeX25519Identity)
    /// An OpenSSH Ed25519 private key.
    case sshEd25519(AgeSSHEd25519Identity)
    /// A passphrase. A file whose scrypt work factor is above
    /// `maxWorkFactor` is refused as a header failure before any scrypt
    /// work is done, so a hostile file cannot make us spend unbounded memory
    /// and time (2^22 means 4 GiB and several seconds).
    case scrypt(passphrase: SecureBytes, maxWorkFactor: Int = Age.defaultMaxScryptWorkFactor)
}

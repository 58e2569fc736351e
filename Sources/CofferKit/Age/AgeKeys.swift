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
            if decoded.hrp.hasPrefix("age1") {
                throw AgeError.invalidRecipient("plugin recipients are not supported, only age1…, age1pq1… and ssh-ed25519 ones")
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
/// files into ``SecureBytes`` and use `parseIdentityFile(_:)`.
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
        secretKey = try AgeSecretKeyText.decode(encoded, prefix: "AGE-SECRET-KEY-1", kind: "an age identity", byteCount: X25519.byteCount)
    }

    /// The recipient (public key) files for this identity are encrypted to.
    public var recipient: AgeX25519Recipient {
        AgeX25519Recipient(publicKey: X25519.publicKey(of: secretKey))
    }

    /// The `AGE-SECRET-KEY-1…` encoding, as ASCII in locked memory (for
    /// writing an identity file).
    public func encodedSecretKey() -> SecureBytes {
        AgeSecretKeyText.encode(secretKey, prefix: "AGE-SECRET-KEY-1")
    }
}

/// Who a file is encrypted to.
public enum AgeRecipient: Sendable {
    /// An X25519 public key (`age1…`).
    case x25519(AgeX25519Recipient)
    /// An OpenSSH Ed25519 public key (`ssh-ed25519 AAAA…`).
    case sshEd25519(AgeSSHEd25519Recipient)
    /// A post-quantum hybrid key (`age1pq1…`, ML-KEM-768 + X25519). A file
    /// encrypted to one has only such recipients.
    case hybrid(AgeHybridRecipient)
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
    /// A post-quantum hybrid key (`AGE-SECRET-KEY-PQ-1…`).
    case hybrid(AgeHybridIdentity)
    /// A passphrase. A file whose scrypt work factor is above
    /// `maxWorkFactor` is refused as a header failure before any scrypt
    /// work is done, so a hostile file cannot make us spend unbounded memory
    /// and time (2^22 means 4 GiB and several seconds).
    case scrypt(passphrase: SecureBytes, maxWorkFactor: Int = Age.defaultMaxScryptWorkFactor)
}

/// The Bech32 text of an age secret key (`AGE-SECRET-KEY-1…`,
/// `AGE-SECRET-KEY-PQ-1…`): the key bytes in locked memory, the text in
/// ordinary memory only transiently (Bech32 works on `String`s; the byte
/// copies are wiped, the strings are not).
enum AgeSecretKeyText {
    /// Decodes `encoded`, which must start with `prefix` (any case) and hold `byteCount` bytes.
    /// - Parameter kind: how errors name the key ("an age identity").
    /// - Throws: ``AgeError/invalidIdentity(_:)`` saying what is wrong (never echoing the key).
    static func decode(_ encoded: String, prefix: String, kind: String, byteCount: Int) throws -> SecureBytes {
        var decoded: (hrp: String, data: [UInt8])
        do {
            decoded = try Bech32.decode(encoded)
        } catch let error as Bech32.DecodingError {
            throw AgeError.invalidIdentity(error.description)
        }
        defer { Sodium.wipe(&decoded.data) }
        guard decoded.hrp + "1" == prefix.lowercased() else {
            if decoded.hrp.hasPrefix("age-plugin-") {
                throw AgeError.invalidIdentity("plugin identities are not supported, only AGE-SECRET-KEY-1… and AGE-SECRET-KEY-PQ-1… ones")
            }
            throw AgeError.invalidIdentity("\(kind) starts with \"\(prefix)\"")
        }
        guard decoded.data.count == byteCount else {
            throw AgeError.invalidIdentity("\(kind) holds a \(byteCount)-byte key, this one has \(decoded.data.count) bytes")
        }
        return decoded.data.withUnsafeBytes { SecureBytes(copying: $0) }
    }

    /// The upper-case text of `key` under `prefix`, as ASCII in locked memory.
    static func encode(_ key: SecureBytes, prefix: String) -> SecureBytes {
        var bytes = key.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&bytes) }
        var text = Array(Bech32.encode(hrp: String(prefix.lowercased().dropLast()), data: bytes).uppercased().utf8)
        defer { Sodium.wipe(&text) }
        return text.withUnsafeBytes { SecureBytes(copying: $0) }
    }
}

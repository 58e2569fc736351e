import Crypto
import CSodium

/// An OpenSSH Ed25519 public key as an age recipient
/// (`ssh-ed25519 AAAA… comment`, a line of `authorized_keys`), as the stock
/// age's `agessh` package reads it: the Ed25519 key is converted to X25519
/// (libsodium's `crypto_sign_ed25519_pk_to_curve25519`), and the stanza is
/// tagged with the first 4 bytes of the SHA-256 of the key's SSH encoding.
public struct AgeSSHEd25519Recipient: Sendable, Equatable {
    /// The key in SSH wire encoding: string `ssh-ed25519`, string key.
    let wireKey: [UInt8]
    /// The key converted to X25519.
    let publicKey: [UInt8]

    /// The key as an `authorized_keys` line without a comment: `ssh-ed25519 BASE64`.
    public var line: String { SSHWire.ed25519 + " " + Base64.encode(wireKey) }

    /// The stanza tag: the first 4 bytes of SHA-256(``wireKey``).
    var tag: [UInt8] { Array(SHA256.hash(data: wireKey).prefix(4)) }

    /// Parses `ssh-ed25519 BASE64 [comment]`.
    /// - Throws: ``AgeError/invalidRecipient(_:)``; never echoes the text.
    public init(_ line: String) throws {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[0] == SSHWire.ed25519,
              let wire = Base64.decode(String(fields[1]))
        else { throw AgeError.invalidRecipient("an ssh-ed25519 recipient is `ssh-ed25519 BASE64 [comment]`, as in authorized_keys") }
        try self.init(wireKey: wire)
    }

    /// The recipient of a key in SSH wire encoding.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` for another key type or an invalid point.
    init(wireKey: [UInt8]) throws {
        var reader = SSHWire.Reader(wireKey)
        guard let type = reader.string(), type == Array(SSHWire.ed25519.utf8), let key = reader.string(), key.count == 32, reader.atEnd else {
            throw AgeError.invalidRecipient("the SSH key is not a well-formed ssh-ed25519 key")
        }
        var converted = [UInt8](repeating: 0, count: X25519.byteCount)
        guard crypto_sign_ed25519_pk_to_curve25519(&converted, key) == 0 else {
            throw AgeError.invalidRecipient("the ssh-ed25519 key is not a valid Ed25519 point")
        }
        self.wireKey = wireKey
        publicKey = converted
    }
}

/// An unencrypted OpenSSH Ed25519 private key file as an age identity: its
/// X25519 secret is `crypto_sign_ed25519_sk_to_curve25519` of the key, as
/// the stock age derives it (SHA-512 of the seed). A passphrase-protected
/// key is refused: OpenSSH protects keys with bcrypt-pbkdf, which no kept
/// library here provides.
public struct AgeSSHEd25519Identity: Sendable {
    /// The X25519 secret, in locked memory.
    let secretKey: SecureBytes
    /// What it opens.
    public let recipient: AgeSSHEd25519Recipient

    /// The first line of an OpenSSH private key file.
    static let beginLine = "-----BEGIN OPENSSH PRIVATE KEY-----"
    private static let endLine = "-----END OPENSSH PRIVATE KEY-----"
    private static let magic = Array("openssh-key-v1\0".utf8)

    /// Whether `contents` looks like an OpenSSH private key file.
    static func looksLikeKey(_ contents: SecureBytes) -> Bool {
        contents.withUnsafeBytes { $0.starts(with: beginLine.utf8) }
    }

    /// Parses an OpenSSH private key file (`ssh-keygen -t ed25519` without a passphrase).
    /// - Throws: ``AgeError/invalidIdentity(_:)`` naming what is wrong, never its content.
    public init(openSSHPrivateKey contents: SecureBytes) throws {
        var blob = try Self.decodeArmor(contents)
        defer { Sodium.wipe(&blob) }
        var reader = SSHWire.Reader(blob)
        guard reader.bytes(Self.magic.count) == Self.magic, let cipher = reader.string(), let kdf = reader.string(), reader.string() != nil,
              let count = reader.uint32()
        else { throw AgeError.invalidIdentity("not a well-formed OpenSSH private key") }
        guard cipher == Array("none".utf8), kdf == Array("none".utf8) else {
            throw AgeError.invalidIdentity(
                "the SSH key is protected by a passphrase (bcrypt-pbkdf), which Coffer cannot open; use an unprotected copy (`ssh-keygen -p -N \"\" -f COPY`) on an encrypted disk, or an age key")
        }
        guard count == 1, let publicBlob = reader.string(), var secret = reader.string(), reader.atEnd else {
            throw AgeError.invalidIdentity("an OpenSSH private key file must hold exactly one key")
        }
        defer { Sodium.wipe(&secret) }
        let (publicKey, ed25519Secret) = try Self.parsePrivateSection(secret)
        guard publicBlob == SSHWire.encode([Array(SSHWire.ed25519.utf8), publicKey]) else {
            throw AgeError.invalidIdentity("the OpenSSH private key's public part does not match its key")
        }
        recipient = try AgeSSHEd25519Recipient(wireKey: publicBlob)
        secretKey = ed25519Secret.withUnsafeBytes { sk in
            // Cannot fail for a 64-byte key.
            SecureBytes(count: X25519.byteCount) { _ = crypto_sign_ed25519_sk_to_curve25519($0.u8, sk.u8) }
        }
        guard X25519.publicKey(of: secretKey) == recipient.publicKey else {
            throw AgeError.invalidIdentity("the OpenSSH private key does not match its public key")
        }
    }

    /// The public key and the 64-byte Ed25519 secret (seed and public key,
    /// in locked memory) of the private section: check numbers, key type,
    /// keys, comment, padding.
    private static func parsePrivateSection(_ section: [UInt8]) throws -> (publicKey: [UInt8], secretKey: SecureBytes) {
        var reader = SSHWire.Reader(section)
        guard let check1 = reader.uint32(), let check2 = reader.uint32(), check1 == check2 else {
            throw AgeError.invalidIdentity("the OpenSSH private key's check numbers differ")
        }
        guard let type = reader.string(), type == Array(SSHWire.ed25519.utf8) else {
            throw AgeError.invalidIdentity("only ssh-ed25519 keys are supported (not ssh-rsa or ecdsa)")
        }
        guard let publicKey = reader.string(), publicKey.count == 32, let secretKey = reader.secureString(), secretKey.count == 64,
              secretKey.withUnsafeBytes({ $0[32...].elementsEqual(publicKey) }), reader.string() != nil, reader.isPadding
        else { throw AgeError.invalidIdentity("not a well-formed OpenSSH ed25519 private key") }
        return (publicKey, secretKey)
    }

    /// The base64 between the BEGIN and END lines, decoded.
    private static func decodeArmor(_ contents: SecureBytes) throws -> [UInt8] {
        var text = contents.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&text) }
        var lines = text.split(separator: 0x0A, omittingEmptySubsequences: false).map { $0.last == 0x0D ? $0.dropLast() : $0 }
        while lines.last?.isEmpty == true { lines.removeLast() }
        guard lines.count >= 3, lines.first!.elementsEqual(beginLine.utf8), lines.last!.elementsEqual(endLine.utf8) else {
            throw AgeError.invalidIdentity("an OpenSSH private key starts with \(beginLine) and ends with \(endLine)")
        }
        var body = lines.dropFirst().dropLast().flatMap { $0 }
        defer { Sodium.wipe(&body) }
        guard let decoded = Base64.decode(bytes: body) else { throw AgeError.invalidIdentity("the OpenSSH private key is not valid base64") }
        return decoded
    }
}

/// SSH's wire encoding (RFC 4251 §5): big-endian uint32 and length-prefixed strings.
enum SSHWire {
    /// The key type of Ed25519 keys.
    static let ed25519 = "ssh-ed25519"

    /// `strings`, each length-prefixed.
    static func encode(_ strings: [[UInt8]]) -> [UInt8] {
        strings.flatMap { string in withUnsafeBytes(of: UInt32(string.count).bigEndian, Array.init) + string }
    }

    /// Reads values off the front of bytes; nil for anything short.
    struct Reader {
        private let bytes: [UInt8]
        private var offset = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        /// Whether everything was read.
        var atEnd: Bool { offset == bytes.count }

        /// Whether what is left is OpenSSH's padding: 1, 2, 3, … (fewer than 256 bytes).
        var isPadding: Bool {
            let rest = bytes[offset...]
            return rest.count < 256 && rest.enumerated().allSatisfy { Int($0.element) == $0.offset + 1 }
        }

        mutating func bytes(_ count: Int) -> [UInt8]? {
            guard count >= 0, bytes.count - offset >= count else { return nil }
            defer { offset += count }
            return Array(bytes[offset..<offset + count])
        }

        mutating func uint32() -> UInt32? {
            bytes(4).map { $0.reduce(0) { $0 << 8 | UInt32($1) } }
        }

        mutating func string() -> [UInt8]? {
            guard let length = uint32(), length <= UInt32(bytes.count - offset) else { return nil }
            return bytes(Int(length))
        }

        /// A string copied straight into locked memory (a secret key).
        mutating func secureString() -> SecureBytes? {
            guard let length = uint32(), length <= UInt32(bytes.count - offset) else { return nil }
            defer { offset += Int(length) }
            return bytes.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + Int(length)])) }
        }
    }
}

/// The ssh-ed25519 stanza, parsed: `-> ssh-ed25519 <base64 4-byte tag>
/// <base64 32-byte share>` with a 32-byte body. Format code.
struct AgeSSHEd25519Stanza: Sendable, Equatable {
    /// The stanza type.
    static let type = "ssh-ed25519"
    /// Which key it is for (``AgeSSHEd25519Recipient/tag``).
    var tag: [UInt8]
    /// The sender's ephemeral X25519 share.
    var share: [UInt8]
    /// The wrapped file key.
    var body: [UInt8]

    /// Checks the stanza: two arguments, a canonical unpadded base64 tag of
    /// 4 bytes and share of 32, and a 32-byte body.
    /// - Throws: ``AgeError/header(_:)``.
    init(_ stanza: AgeStanza) throws {
        precondition(stanza.type == Self.type, "caller filters on the stanza type")
        guard stanza.arguments.count == 2,
              let tag = Base64.decode(bytes: Array(stanza.arguments[0].utf8), padded: false), tag.count == 4,
              let share = Base64.decode(bytes: Array(stanza.arguments[1].utf8), padded: false), share.count == 32
        else { throw AgeError.header("an ssh-ed25519 stanza must have a 4-byte tag and a 32-byte share, in canonical unpadded base64") }
        guard stanza.body.count == 32 else {
            throw AgeError.header("an ssh-ed25519 stanza body is not 32 bytes (a 16-byte file key and its tag)")
        }
        self.tag = tag
        self.share = share
        body = stanza.body
    }

    /// A stanza from its parts (for encryption).
    init(tag: [UInt8], share: [UInt8], body: [UInt8]) {
        self.tag = tag
        self.share = share
        self.body = body
    }

    /// The generic stanza to serialise.
    var stanza: AgeStanza {
        AgeStanza(type: Self.type, arguments: [Base64.encode(tag, padded: false), Base64.encode(share, padded: false)], body: body)
    }
}

import Foundation

/// Recipients and identities as the `age` command line takes them, plus
/// Coffer's own keys: a Coffer identity's X25519 key is an age identity, and
/// its public identity (`coffer1…`) names the matching age recipient.
extension AgeX25519Recipient {
    /// The largest recipients file read, as age: 16 MiB.
    public static let maxRecipientsFileByteCount = 16 << 20
    /// The longest line of a recipients file, as age (and sshd): 8 KiB.
    static let maxRecipientsLineByteCount = 8 << 10

    /// Parses a recipient as given to `-r`: an age X25519 recipient
    /// (`age1…`) or a Coffer public identity (`coffer1…`), whose X25519 key
    /// is its age recipient.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` saying what is wrong.
    public init(recipientOrPublicIdentity text: String) throws {
        if text.lowercased().hasPrefix(PublicIdentity.hrp + "1") {
            do {
                self = try PublicIdentity(text).ageX25519Recipient
            } catch let error as IdentityError {
                throw AgeError.invalidRecipient(error.description)
            }
        } else {
            try self.init(text)
        }
    }
}

extension AgeRecipient {
    /// Parses a recipient as given to `-r`: an age X25519 recipient
    /// (`age1…`), a post-quantum one (`age1pq1…`), a Coffer public identity
    /// (`coffer1…`), or an OpenSSH Ed25519 public key (`ssh-ed25519 AAAA…
    /// [comment]`), as age takes them.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` saying what is wrong
    ///   (`ssh-rsa` keys: RSA-OAEP is not in libsodium).
    public static func parse(_ text: String) throws -> AgeRecipient {
        if text.hasPrefix(SSHWire.ed25519 + " ") { return .sshEd25519(try AgeSSHEd25519Recipient(text)) }
        if text.lowercased().hasPrefix("age1pq1") { return .hybrid(try AgeHybridRecipient(text)) }
        if text.hasPrefix("ssh-rsa ") {
            throw AgeError.invalidRecipient("ssh-rsa recipients are not supported (RSA-OAEP is not in libsodium): use an ssh-ed25519 key or an age1… recipient")
        }
        return .x25519(try AgeX25519Recipient(recipientOrPublicIdentity: text))
    }

    /// Whether this is a post-quantum recipient (`age1pq1…`).
    public var isPostQuantum: Bool {
        if case .hybrid = self { true } else { false }
    }

    /// Whether `recipients` mix post-quantum and classic ones, which age
    /// refuses: the classic stanza would give a quantum attacker the file key.
    public static func mixPostQuantumAndClassic(_ recipients: [AgeRecipient]) -> Bool {
        recipients.contains(where: \.isPostQuantum) && !recipients.allSatisfy(\.isPostQuantum)
    }

    /// Parses a partner's recipient, as a bundle is encrypted to it: a
    /// post-quantum one (`age1pq1…`), an X25519 one (`age1…`) or a Coffer
    /// public identity (`coffer1…`). ssh keys are for `coffer age`, not for
    /// partners, whose bundles the stock age must open with an age key.
    /// - Returns: the recipient and its canonical text (`age1…` or `age1pq1…`), as the ledger records it.
    /// - Throws: ``AgeError/invalidRecipient(_:)`` saying what is wrong.
    public static func partner(_ text: String) throws -> (recipient: AgeRecipient, encoded: String) {
        if text.lowercased().hasPrefix("age1pq1") {
            let hybrid = try AgeHybridRecipient(text)
            return (.hybrid(hybrid), hybrid.encoded)
        }
        let x25519 = try AgeX25519Recipient(recipientOrPublicIdentity: text)
        return (.x25519(x25519), x25519.encoded)
    }

    /// Parses a recipients file as age does: one recipient per line (LF or
    /// CRLF); empty lines and lines starting with `#` are skipped. Each line
    /// is a recipient as ``parse(_:)`` reads it.
    /// - Parameter contents: the file's bytes, at most 16 MiB.
    /// - Returns: the recipients, in file order (at least one).
    /// - Throws: ``AgeError/invalidRecipient(_:)`` naming the first bad line
    ///   by number (never its content, which may be confidential), or if the
    ///   file holds no recipient.
    public static func parseRecipientsFile(_ contents: [UInt8]) throws -> [AgeRecipient] {
        guard contents.count <= AgeX25519Recipient.maxRecipientsFileByteCount else {
            throw AgeError.invalidRecipient("the recipients file is larger than 16 MiB")
        }
        var recipients: [AgeRecipient] = []
        for (index, var line) in contents.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated() {
            if line.last == 0x0D { line = line.dropLast() }
            if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
            guard line.count <= AgeX25519Recipient.maxRecipientsLineByteCount else {
                throw AgeError.invalidRecipient("line \(index + 1) of the recipients file is longer than 8 KiB")
            }
            guard let text = String(validating: line, as: UTF8.self),
                  let recipient = try? AgeRecipient.parse(text)
            else {
                throw AgeError.invalidRecipient(
                    "line \(index + 1) of the recipients file is not an age1… or age1pq1… recipient, a coffer1… public identity or an ssh-ed25519 key")
            }
            recipients.append(recipient)
        }
        guard !recipients.isEmpty else { throw AgeError.invalidRecipient("the recipients file holds no recipient") }
        return recipients
    }
}

extension AgeIdentity {
    /// What this identity opens, as `-r` takes it (`age1…`, `age1pq1…`, or
    /// an `ssh-ed25519 …` line); nil for a passphrase.
    public var recipient: String? {
        switch self {
        case .x25519(let identity): identity.recipient.encoded
        case .sshEd25519(let identity): identity.recipient.line
        case .hybrid(let identity): try? identity.recipient().encoded
        case .scrypt: nil
        }
    }

    /// Parses one secret key line: `AGE-SECRET-KEY-PQ-1…` (post-quantum) or
    /// `AGE-SECRET-KEY-1…` (X25519).
    /// - Throws: ``AgeError/invalidIdentity(_:)`` saying what is wrong (never echoing the key).
    init(secretKey text: String) throws {
        self = text.uppercased().hasPrefix("AGE-SECRET-KEY-PQ-1") ? .hybrid(try AgeHybridIdentity(text)) : .x25519(try AgeX25519Identity(text))
    }

    /// Parses an identity file as `age-keygen` writes it: one
    /// `AGE-SECRET-KEY-1…` or `AGE-SECRET-KEY-PQ-1…` per line; lines starting with `#` and empty lines
    /// are skipped; LF or CRLF line ends.
    /// - Parameter contents: the file's bytes, at most 1 MiB.
    /// - Returns: the identities, in file order (at least one).
    /// - Throws: ``AgeError/invalidIdentity(_:)`` naming the first bad line
    ///   by number (never its content), or if the file holds no key.
    public static func parseIdentityFile(_ contents: SecureBytes) throws -> [AgeIdentity] {
        guard contents.count <= maxIdentityFileByteCount else {
            throw AgeError.invalidIdentity("the identity file is larger than 1 MiB")
        }
        return try contents.withUnsafeBytes { bytes in
            var identities: [AgeIdentity] = []
            var lineNumber = 0
            for var line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                lineNumber += 1
                if line.last == 0x0D { line = line.dropLast() }
                if line.isEmpty || line.first == UInt8(ascii: "#") { continue }
                do {
                    identities.append(try AgeIdentity(secretKey: String(decoding: line, as: UTF8.self)))
                } catch let AgeError.invalidIdentity(why) {
                    throw AgeError.invalidIdentity("line \(lineNumber) of the identity file: \(why)")
                }
            }
            guard !identities.isEmpty else { throw AgeError.invalidIdentity("the identity file holds no secret key") }
            return identities
        }
    }

    /// Parses a file given to `-i`: an age identity file (`AGE-SECRET-KEY-1…`
    /// and `AGE-SECRET-KEY-PQ-1…` lines, as `age-keygen` writes), such a file encrypted with a
    /// passphrase by `age -p` (binary or armored; as age does, the
    /// passphrase is asked for and the file decrypted in locked memory), or
    /// a Coffer identity file, whose X25519 key is the age identity (its
    /// recipient is the identity's `age1…`).
    /// - Parameters:
    ///   - contents: the file's bytes, in locked memory.
    ///   - path: for error messages.
    ///   - passphrase: called only for an encrypted Coffer identity file or
    ///     a passphrase-encrypted age identity file.
    /// - Returns: the identities, in file order (at least one).
    /// - Throws: ``AgeError/invalidIdentity(_:)`` for a bad age identity
    ///   file; ``IdentityError`` for a bad Coffer identity file or passphrase.
    public static func parseIdentities(
        fileContents contents: SecureBytes, path: String, passphrase: () throws -> SecureBytes
    ) throws -> [AgeIdentity] {
        guard contents.count <= maxIdentityFileByteCount else {
            throw AgeError.invalidIdentity("\(path) is larger than 1 MiB")
        }
        if isAgeFile(contents) {
            let decrypted = try decryptIdentityFile(contents, path: path, passphrase: passphrase)
            do {
                return try parseIdentityFile(decrypted)
            } catch AgeError.invalidIdentity(let why) {
                throw AgeError.invalidIdentity("\(path), once decrypted: \(why)")
            }
        }
        let isCofferIdentity = contents.withUnsafeBytes { bytes in
            bytes.split(separator: 0x0A).contains { line in
                (line.last == 0x0D ? line.dropLast() : line).elementsEqual(IdentityFile.beginLine.utf8)
            }
        }
        guard isCofferIdentity else {
            do {
                return try parseIdentityFile(contents)
            } catch AgeError.invalidIdentity(let why) {
                throw AgeError.invalidIdentity("\(path): \(why)")
            }
        }
        var bytes = contents.withUnsafeBytes { Array($0) }
        defer { Sodium.wipe(&bytes) }
        return [.x25519(try IdentityFile.decode(bytes, path: path, passphrase: passphrase).ageIdentity())]
    }

    /// Parses a file given to `-i`: an unencrypted OpenSSH Ed25519 private
    /// key (as age takes it), or what ``parseIdentities(fileContents:path:passphrase:)`` reads.
    /// - Throws: ``AgeError/invalidIdentity(_:)`` naming the file; as
    ///   ``parseIdentities(fileContents:path:passphrase:)``.
    public static func parseFile(contents: SecureBytes, path: String, passphrase: () throws -> SecureBytes) throws -> [AgeIdentity] {
        guard AgeSSHEd25519Identity.looksLikeKey(contents) else {
            return try parseIdentities(fileContents: contents, path: path, passphrase: passphrase)
        }
        do {
            return [.sshEd25519(try AgeSSHEd25519Identity(openSSHPrivateKey: contents))]
        } catch AgeError.invalidIdentity(let why) {
            throw AgeError.invalidIdentity("\(path): \(why)")
        }
    }

    /// The largest identity file read.
    public static let maxIdentityFileByteCount = 1024 * 1024

    /// Whether `contents` is an age file (binary or armored) rather than a key file.
    private static func isAgeFile(_ contents: SecureBytes) -> Bool {
        contents.withUnsafeBytes { bytes in
            bytes.starts(with: AgeHeader.versionLine)
                || AgeArmor.looksArmored(Array(bytes.prefix(AgeArmor.maxOutsideWhitespace + AgeArmor.beginLine.count)))
        }
    }

    /// Decrypts a passphrase-encrypted identity file into locked memory.
    /// - Throws: ``AgeError/invalidIdentity(_:)`` for an age file encrypted
    ///   to a recipient, or whose plaintext is over 1 MiB; ``AgeError`` for
    ///   a wrong passphrase or a damaged file.
    private static func decryptIdentityFile(_ contents: SecureBytes, path: String, passphrase: () throws -> SecureBytes) throws -> SecureBytes {
        let decryptor = try AgeDecryptor(source: AgeBytesSource(contents.withUnsafeBytes { Array($0) })) { passphraseEncrypted in
            guard passphraseEncrypted else {
                throw AgeError.invalidIdentity("\(path) is an age file encrypted to a recipient, not with a passphrase")
            }
            return [.scrypt(passphrase: try passphrase())]
        }
        var length = 0
        let buffer = try SecureBytes(count: maxIdentityFileByteCount + 1) { buffer in
            while length < buffer.count {
                let n = try decryptor.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[length...]))
                if n == 0 { break }
                length += n
            }
        }
        guard length <= maxIdentityFileByteCount else { throw AgeError.invalidIdentity("\(path) decrypts to more than 1 MiB") }
        return buffer.withUnsafeBytes { SecureBytes(copying: UnsafeRawBufferPointer(rebasing: $0[..<length])) }
    }
}

/// A new age key, as `age-keygen` makes one.
public enum AgeKeyGeneration: Sendable {
    /// An X25519 key (`AGE-SECRET-KEY-1…`, recipient `age1…`).
    case x25519
    /// A post-quantum hybrid key (`AGE-SECRET-KEY-PQ-1…`, recipient `age1pq1…`), as `age-keygen -pq`.
    case hybrid

    /// A fresh key: its identity file as `age-keygen` writes it (when it was
    /// created, its public key, and the secret key, each on a line; in locked
    /// memory) and its recipient.
    public func generate(created: Date = Date()) throws -> (file: SecureBytes, recipient: String) {
        switch self {
        case .x25519:
            let identity = AgeX25519Identity.generate()
            return (Self.keyFile(created: created, recipient: identity.recipient.encoded, secret: identity.encodedSecretKey()), identity.recipient.encoded)
        case .hybrid:
            let identity = AgeHybridIdentity.generate()
            let recipient = try identity.recipient().encoded
            return (Self.keyFile(created: created, recipient: recipient, secret: identity.encodedSecretKey()), recipient)
        }
    }

    private static func keyFile(created: Date, recipient: String, secret: SecureBytes) -> SecureBytes {
        let header = Array("# created: \(Timestamp.format(created))\n# public key: \(recipient)\n".utf8)
        return secret.withUnsafeBytes { key in
            SecureBytes(count: header.count + key.count + 1) { out in
                header.withUnsafeBytes { out.copyMemory(from: $0) }
                UnsafeMutableRawBufferPointer(rebasing: out[header.count...]).copyMemory(from: key)
                out[out.count - 1] = 0x0A
            }
        }
    }
}


extension Identity {
    /// The identity's X25519 key as an age identity: it opens files
    /// encrypted to ``PublicIdentity/ageRecipient``.
    /// - Throws: ``IdentityError/agentFailed(_:)`` for an unlock agent's identity.
    public func ageIdentity() throws -> AgeX25519Identity {
        AgeX25519Identity(secretKey: try localSecrets(for: "decrypting an age file").agreementSecretKey)
    }
}

extension PublicIdentity {
    /// The identity's X25519 key as an age recipient (``ageRecipient`` parsed).
    public var ageX25519Recipient: AgeX25519Recipient {
        AgeX25519Recipient(publicKey: agreementKey)
    }
}

/// Wrapping and unwrapping the file key in stanzas, and the header MAC.
///
/// Crypto code: it works only on parsed values (``AgeHeader``,
/// ``AgeX25519Stanza``, ``AgeScryptStanza``).
enum AgeWrap {
    /// HKDF label of the X25519 wrap key.
    static let x25519Label = "age-encryption.org/v1/X25519"
    /// HKDF label of the ssh-ed25519 tweak and wrap key.
    static let sshEd25519Label = "age-encryption.org/v1/ssh-ed25519"
    /// Prefix of the scrypt salt.
    static let scryptLabel = Array("age-encryption.org/v1/scrypt".utf8)

    /// The all-zero ChaCha20-Poly1305 nonce of stanza bodies. Safe because
    /// every wrap key encrypts exactly one message: the X25519 wrap key comes
    /// from a fresh ephemeral secret per stanza, the scrypt one from a fresh
    /// random salt per stanza (the spec fixes this nonce).
    private static let zeroNonce = [UInt8](repeating: 0, count: 12)

    /// Wraps `fileKey` for each recipient.
    /// - Throws: ``AgeError/invalidUse(_:)`` for an empty list, scrypt mixed
    ///   with other recipients, post-quantum recipients mixed with classic
    ///   ones (age's rule and wording), or a work factor out of range;
    ///   ``AgeError/invalidRecipient(_:)`` for a low-order public key;
    ///   ``CryptoError`` if scrypt cannot allocate its memory.
    static func stanzas(for recipients: [AgeRecipient], fileKey: AgeFileKey) throws -> [AgeStanza] {
        guard !recipients.isEmpty else { throw AgeError.invalidUse("no recipient given") }
        guard !AgeRecipient.mixPostQuantumAndClassic(recipients) else { throw AgeError.invalidUse(AgeHybrid.mixedRecipients) }
        var stanzas: [AgeStanza] = []
        for recipient in recipients {
            switch recipient {
            case .x25519(let publicRecipient):
                stanzas.append(try wrap(fileKey, to: publicRecipient).stanza)
            case .sshEd25519(let sshRecipient):
                stanzas.append(try wrap(fileKey, to: sshRecipient).stanza)
            case .hybrid(let hybridRecipient):
                stanzas.append(try wrap(fileKey, to: hybridRecipient).stanza)
            case .scrypt(let passphrase, let workFactor):
                guard recipients.count == 1 else {
                    throw AgeError.invalidUse("a passphrase must be the only recipient of a file")
                }
                guard (1...Age.defaultMaxScryptWorkFactor).contains(workFactor) else {
                    throw AgeError.invalidUse("the scrypt work factor must be 1…\(Age.defaultMaxScryptWorkFactor)")
                }
                stanzas.append(try wrap(fileKey, passphrase: passphrase, workFactor: workFactor).stanza)
            }
        }
        return stanzas
    }

    /// The X25519 stanza for `recipient`.
    static func wrap(_ fileKey: AgeFileKey, to recipient: AgeX25519Recipient) throws -> AgeX25519Stanza {
        let ephemeral = SecureBytes(randomCount: X25519.byteCount)
        let share = X25519.publicKey(of: ephemeral)
        let shared: SecureBytes
        do {
            shared = try X25519.sharedSecret(secret: ephemeral, peer: recipient.publicKey)
        } catch {
            throw AgeError.invalidRecipient("the public key is a low-order point")
        }
        let wrapKey = HKDF.deriveKey(inputKeyMaterial: shared, salt: share + recipient.publicKey, info: x25519Label)
        let body = AEAD.chaCha20Poly1305.seal(fileKey.bytes, key: wrapKey, nonce: zeroNonce, associatedData: [])
        return AgeX25519Stanza(share: share, body: body)
    }

    /// The ssh-ed25519 stanza for `recipient`: as for X25519, but the shared
    /// secret is tweaked first (X25519 with a scalar derived from the SSH
    /// key), as the stock age's `agessh` does.
    static func wrap(_ fileKey: AgeFileKey, to recipient: AgeSSHEd25519Recipient) throws -> AgeSSHEd25519Stanza {
        let ephemeral = SecureBytes(randomCount: X25519.byteCount)
        let share = X25519.publicKey(of: ephemeral)
        let shared: SecureBytes
        do {
            shared = try tweaked(try X25519.sharedSecret(secret: ephemeral, peer: recipient.publicKey), wireKey: recipient.wireKey)
        } catch {
            throw AgeError.invalidRecipient("the ssh-ed25519 key is a low-order point")
        }
        let wrapKey = HKDF.deriveKey(inputKeyMaterial: shared, salt: share + recipient.publicKey, info: sshEd25519Label)
        let body = AEAD.chaCha20Poly1305.seal(fileKey.bytes, key: wrapKey, nonce: zeroNonce, associatedData: [])
        return AgeSSHEd25519Stanza(tag: recipient.tag, share: share, body: body)
    }

    /// `X25519(tweak, shared)`, the tweak being HKDF-SHA-256 with an empty
    /// secret, the SSH key's wire encoding as salt and the ssh-ed25519 label.
    private static func tweaked(_ shared: SecureBytes, wireKey: [UInt8]) throws -> SecureBytes {
        let label = Array(sshEd25519Label.utf8)
        let tweak = try wireKey.withUnsafeBytes { salt in
            try label.withUnsafeBytes { info in
                try HKDF.deriveBytes(inputKeyMaterial: UnsafeRawBufferPointer(start: nil, count: 0), salt: salt, info: info, outputByteCount: X25519.byteCount)
            }
        }
        return try X25519.sharedSecret(secret: tweak, peer: shared)
    }

    /// The scrypt stanza for `passphrase`.
    static func wrap(_ fileKey: AgeFileKey, passphrase: SecureBytes, workFactor: Int) throws -> AgeScryptStanza {
        let salt = Sodium.randomBytes(16)
        let wrapKey = try PasswordHash.scrypt(passphrase: passphrase, salt: scryptLabel + salt, logN: workFactor)
        let body = AEAD.chaCha20Poly1305.seal(fileKey.bytes, key: wrapKey, nonce: zeroNonce, associatedData: [])
        return AgeScryptStanza(salt: salt, workFactor: workFactor, body: body)
    }

    /// Finds the file key: for each identity in order, each stanza it
    /// recognises in file order, as age does. A stanza that fails to parse
    /// stops everything (header failure); one that fails to decrypt is
    /// skipped.
    /// - Throws: ``AgeError/header(_:)`` for stanza rule violations
    ///   (including scrypt not alone and a work factor above the limit),
    ///   ``AgeError/noMatch`` when nothing unwraps.
    static func unwrap(_ header: AgeHeader, identities: [AgeIdentity]) throws -> AgeFileKey {
        if header.stanzas.contains(where: { $0.type == AgeScryptStanza.type }), header.stanzas.count != 1 {
            throw AgeError.header("an scrypt stanza must be the only stanza in the header")
        }
        for identity in identities {
            switch identity {
            case .x25519(let x25519):
                for stanza in header.stanzas where stanza.type == AgeX25519Stanza.type {
                    if let key = try unwrap(AgeX25519Stanza(stanza), with: x25519) { return key }
                }
            case .sshEd25519(let ssh):
                for stanza in header.stanzas where stanza.type == AgeSSHEd25519Stanza.type {
                    let parsed = try AgeSSHEd25519Stanza(stanza)
                    guard parsed.tag == ssh.recipient.tag else { continue }
                    if let key = try unwrap(parsed, with: ssh) { return key }
                }
            case .hybrid(let hybrid):
                for stanza in header.stanzas where stanza.type == AgeHybridStanza.type {
                    if let key = try unwrap(AgeHybridStanza(stanza), with: hybrid) { return key }
                }
            case .scrypt(let passphrase, let maxWorkFactor):
                for stanza in header.stanzas where stanza.type == AgeScryptStanza.type {
                    let parsed = try AgeScryptStanza(stanza)
                    guard parsed.workFactor <= maxWorkFactor else {
                        throw AgeError.header(
                            "the scrypt work factor 2^\(parsed.workFactor) is above the limit 2^\(maxWorkFactor)")
                    }
                    if let key = try unwrap(parsed, passphrase: passphrase) { return key }
                }
            }
        }
        throw AgeError.noMatch
    }

    /// Opens an X25519 stanza; nil if it is not for this identity.
    /// - Throws: ``AgeError/header(_:)`` for a low-order share.
    static func unwrap(_ stanza: AgeX25519Stanza, with identity: AgeX25519Identity) throws -> AgeFileKey? {
        let shared: SecureBytes
        do {
            shared = try X25519.sharedSecret(secret: identity.secretKey, peer: stanza.share)
        } catch {
            throw AgeError.header("an X25519 share is a low-order point (all-zero shared secret)")
        }
        let ownPublicKey = X25519.publicKey(of: identity.secretKey)
        let wrapKey = HKDF.deriveKey(inputKeyMaterial: shared, salt: stanza.share + ownPublicKey, info: x25519Label)
        return open(stanza.body, key: wrapKey)
    }

    /// Opens an ssh-ed25519 stanza; nil if it is not for this identity.
    /// - Throws: ``AgeError/header(_:)`` for a low-order share.
    static func unwrap(_ stanza: AgeSSHEd25519Stanza, with identity: AgeSSHEd25519Identity) throws -> AgeFileKey? {
        let shared: SecureBytes
        do {
            shared = try tweaked(try X25519.sharedSecret(secret: identity.secretKey, peer: stanza.share), wireKey: identity.recipient.wireKey)
        } catch {
            throw AgeError.header("an ssh-ed25519 share is a low-order point (all-zero shared secret)")
        }
        let wrapKey = HKDF.deriveKey(inputKeyMaterial: shared, salt: stanza.share + identity.recipient.publicKey, info: sshEd25519Label)
        return open(stanza.body, key: wrapKey)
    }

    /// Opens an scrypt stanza; nil if the passphrase is wrong.
    /// - Throws: ``CryptoError`` if scrypt cannot allocate its memory.
    static func unwrap(_ stanza: AgeScryptStanza, passphrase: SecureBytes) throws -> AgeFileKey? {
        let wrapKey = try PasswordHash.scrypt(passphrase: passphrase, salt: scryptLabel + stanza.salt, logN: stanza.workFactor)
        return open(stanza.body, key: wrapKey)
    }

    /// Decrypts a 32-byte body into a file key; nil on authentication failure.
    private static func open(_ body: [UInt8], key: SymmetricKey) -> AgeFileKey? {
        precondition(body.count == AgeFileKey.byteCount + AEAD.tagByteCount, "stanza parsers check the body length")
        guard let bytes = try? AEAD.chaCha20Poly1305.openSecret(
            body, key: key, nonce: zeroNonce, associatedData: [], what: "age stanza")
        else { return nil }
        return AgeFileKey(unchecked: bytes)
    }
}

/// The header MAC: HMAC-SHA-256 under `HKDF(ikm: file key, salt: empty,
/// info: "header")` over the header through `---`.
enum AgeHeaderMAC {
    /// Computes the MAC of `authenticatedBytes`.
    static func compute(fileKey: AgeFileKey, authenticatedBytes: [UInt8]) -> [UInt8] {
        let key = HKDF.deriveKey(inputKeyMaterial: fileKey.bytes, salt: [], info: "header")
        var mac = key.withUnsafeBytes { HMACSHA256(key: $0) }
        authenticatedBytes.withUnsafeBytes { mac.update($0) }
        return mac.finalize()
    }

    /// Checks the header's MAC in constant time.
    /// - Throws: ``AgeError/headerMAC``.
    static func verify(_ header: AgeHeader, fileKey: AgeFileKey) throws {
        let expected = compute(fileKey: fileKey, authenticatedBytes: header.authenticatedBytes)
        guard Sodium.constantTimeEqual(expected, header.mac) else { throw AgeError.headerMAC }
    }
}

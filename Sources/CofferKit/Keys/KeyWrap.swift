/// Wrapping of keys under other keys, always with XChaCha20-Poly1305 and
/// associated data that names exactly where the wrapped key belongs.
///
/// Two forms, told apart by their first byte (docs/FORMAT.md "Key wraps"):
/// - `0x01` symmetric: `0x01 ‖ nonce (24) ‖ ciphertext+tag`, under the
///   role key itself. Used by whoever holds the role key (rotation, sharing
///   by a member or administrator). 73 bytes for a 32-byte key.
/// - `0x02` to a role's public key: `0x02 ‖ ephemeral X25519 key (32) ‖ nonce
///   (24) ‖ ciphertext+tag`; the wrapping key is BLAKE2b-256 keyed by the
///   X25519 shared secret over `"coffer-wrap-kek-v1" ‖ ephemeral ‖ role public key`.
///   Used by someone who may wrap for a role without holding its key (a
///   member sealing a document that `admin` must be able to read).
///
/// Every wrap uses a fresh random 24-byte nonce; with XChaCha20's 192-bit
/// nonces random nonces do not collide in practice, whatever the number of
/// wraps under one key.
enum KeyWrap {
    /// The two on-disk forms.
    enum Form: UInt8 {
        case symmetric = 1
        case toPublicKey = 2
    }

    /// Wraps `secret` under `key`.
    static func wrap(_ secret: SecureBytes, under key: SymmetricKey, associatedData: [UInt8]) -> [UInt8] {
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        return [Form.symmetric.rawValue] + nonce
            + AEAD.xChaCha20Poly1305.seal(secret, key: key, nonce: nonce, associatedData: associatedData)
    }

    /// Wraps `secret` for the holder of the X25519 secret behind `publicKey`.
    static func wrap(_ secret: SecureBytes, toPublicKey publicKey: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let ephemeral = SecureBytes(randomCount: X25519.byteCount)
        let ephemeralPublic = X25519.publicKey(of: ephemeral)
        let kek = try keyEncryptionKey(secret: ephemeral, peer: publicKey, ephemeralPublic: ephemeralPublic, recipientPublic: publicKey)
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        return [Form.toPublicKey.rawValue] + ephemeralPublic + nonce
            + AEAD.xChaCha20Poly1305.seal(secret, key: kek, nonce: nonce, associatedData: associatedData)
    }

    /// Unwraps either form, given the role key (from which the X25519 secret
    /// of the public-key form is derived).
    /// - Throws: ``FormatError`` for a malformed wrap; ``CryptoError`` if the
    ///   key is wrong or the wrap or its context was changed.
    static func unwrap(_ wrapped: [UInt8], key: SymmetricKey, agreementSecret: () -> SecureBytes, agreementPublic: () -> [UInt8], associatedData: [UInt8], what: String) throws -> SecureBytes {
        var r = ByteReader(wrapped, what: what)
        guard let form = Form(rawValue: try r.readUInt8()) else { throw FormatError.malformed(what, "unknown wrap form") }
        let nonceCount = AEAD.xChaCha20Poly1305.nonceByteCount
        switch form {
        case .symmetric:
            let nonce = try r.read(nonceCount)
            let sealed = try r.read(r.remaining)
            return try AEAD.xChaCha20Poly1305.openSecret(sealed, key: key, nonce: nonce, associatedData: associatedData, what: what)
        case .toPublicKey:
            let ephemeralPublic = try r.read(X25519.byteCount)
            let nonce = try r.read(nonceCount)
            let sealed = try r.read(r.remaining)
            let recipientPublic = agreementPublic()
            let kek = try keyEncryptionKey(secret: agreementSecret(), peer: ephemeralPublic, ephemeralPublic: ephemeralPublic, recipientPublic: recipientPublic)
            return try AEAD.xChaCha20Poly1305.openSecret(sealed, key: kek, nonce: nonce, associatedData: associatedData, what: what)
        }
    }

    private static func keyEncryptionKey(secret: SecureBytes, peer: [UInt8], ephemeralPublic: [UInt8], recipientPublic: [UInt8]) throws -> SymmetricKey {
        let shared = try X25519.sharedSecret(secret: secret, peer: peer)
        let hasher = Blake2b(outputByteCount: 32, key: try SymmetricKey(shared))
        hasher.update(Array("coffer-wrap-kek-v1".utf8))
        hasher.update(ephemeralPublic)
        hasher.update(recipientPublic)
        var digest = hasher.finalize()
        defer { Sodium.wipe(&digest) }
        return try SymmetricKey(digest.withUnsafeBytes { SecureBytes(copying: $0) })
    }
}

/// Where a wrapped data key belongs; its bytes are the wrap's associated data,
/// so a wrap moved to another row, document, generation, role, role key
/// version, label or vault fails to open.
struct DataKeyWrapContext: Equatable, Sendable {
    var vaultID: VaultID
    var documentID: DocumentID
    var generation: UInt32
    var roleID: RoleID
    var roleVersion: UInt32
    var label: String

    /// `"coffer-dek-wrap-v1" ‖ vault ‖ document ‖ generation ‖ role ‖ role version ‖ label length (u16) ‖ label`.
    var associatedData: [UInt8] {
        var w = ByteWriter()
        w.write(Array("coffer-dek-wrap-v1".utf8))
        w.write(vaultID.bytes)
        w.write(documentID.bytes)
        w.write(generation)
        w.write(roleID.bytes)
        w.write(roleVersion)
        let labelBytes = Array(label.utf8)
        w.write(UInt16(labelBytes.count))
        w.write(labelBytes)
        return w.bytes
    }
}

/// Where a role key wrapped for the administrators belongs.
struct RoleKeyWrapContext: Equatable, Sendable {
    var vaultID: VaultID
    var roleID: RoleID
    var roleVersion: UInt32
    var adminVersion: UInt32

    /// `"coffer-role-wrap-v1" ‖ vault ‖ role ‖ role version ‖ admin key version`.
    var associatedData: [UInt8] {
        var w = ByteWriter()
        w.write(Array("coffer-role-wrap-v1".utf8))
        w.write(vaultID.bytes)
        w.write(roleID.bytes)
        w.write(roleVersion)
        w.write(adminVersion)
        return w.bytes
    }
}

extension DataKey {
    /// Wraps this data key under a role key the caller holds.
    func wrapped(under roleKey: RoleKey, context: DataKeyWrapContext) -> [UInt8] {
        KeyWrap.wrap(key.bytes, under: roleKey.key, associatedData: context.associatedData)
    }

    /// Wraps this data key for a role the caller does not hold, by its public key.
    func wrapped(toRolePublicKey publicKey: [UInt8], context: DataKeyWrapContext) throws -> [UInt8] {
        try KeyWrap.wrap(key.bytes, toPublicKey: publicKey, associatedData: context.associatedData)
    }

    /// Unwraps a data key with the role key it was wrapped for.
    static func unwrap(_ wrapped: [UInt8], with roleKey: RoleKey, context: DataKeyWrapContext) throws -> DataKey {
        let bytes = try KeyWrap.unwrap(
            wrapped, key: roleKey.key, agreementSecret: { roleKey.agreementSecretKey }, agreementPublic: { roleKey.publicKey },
            associatedData: context.associatedData, what: "wrapped data key of document \(context.documentID)")
        return DataKey(key: try SymmetricKey(bytes))
    }
}

extension RoleKey {
    /// Wraps this role key under the admin role's key.
    func wrapped(under adminKey: RoleKey, context: RoleKeyWrapContext) -> [UInt8] {
        KeyWrap.wrap(key.bytes, under: adminKey.key, associatedData: context.associatedData)
    }

    /// Unwraps a role key wrapped for the administrators.
    static func unwrap(_ wrapped: [UInt8], with adminKey: RoleKey, context: RoleKeyWrapContext) throws -> RoleKey {
        let bytes = try KeyWrap.unwrap(
            wrapped, key: adminKey.key, agreementSecret: { adminKey.agreementSecretKey }, agreementPublic: { adminKey.publicKey },
            associatedData: context.associatedData, what: "wrapped role key")
        return RoleKey(key: try SymmetricKey(bytes))
    }
}

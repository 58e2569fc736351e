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
///   member sealing a document that `admin` must be able to read), for a
///   role key version issued before role keys had X-Wing keys.
/// - `0x03` to a role's post-quantum public key: `0x03 ‖ X-Wing
///   encapsulation (1120) ‖ ciphertext+tag`, HPKE (see ``XWing``) with info
///   `coffer-wrap-pq-v1` and the same associated data. What `0x02` is for,
///   for every role key version that records an X-Wing key.
///
/// Every wrap uses a fresh random 24-byte nonce; with XChaCha20's 192-bit
/// nonces random nonces do not collide in practice, whatever the number of
/// wraps under one key.
enum KeyWrap {
    /// The two on-disk forms.
    enum Form: UInt8 {
        case symmetric = 1
        case toPublicKey = 2
        case toPostQuantumKey = 3
    }

    /// The HPKE info of the `0x03` form.
    static let postQuantumInfo = "coffer-wrap-pq-v1"

    /// Wraps `secret` under `key`.
    static func wrap(_ secret: SecureBytes, under key: SymmetricKey, associatedData: [UInt8]) -> [UInt8] {
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        return [Form.symmetric.rawValue] + nonce
            + AEAD.xChaCha20Poly1305.seal(secret, key: key, nonce: nonce, associatedData: associatedData)
    }

    /// Unwraps the symmetric form (`0x01`) made by ``wrap(_:under:associatedData:)``.
    /// - Throws: ``FormatError`` for another form or a malformed wrap; ``CryptoError`` for a wrong key, wrap or context.
    static func unwrap(_ wrapped: [UInt8], under key: SymmetricKey, associatedData: [UInt8], what: String) throws -> SecureBytes {
        var r = ByteReader(wrapped, what: what)
        guard try r.readUInt8() == Form.symmetric.rawValue else { throw FormatError.malformed(what, "not a symmetric wrap") }
        let nonce = try r.read(AEAD.xChaCha20Poly1305.nonceByteCount)
        return try AEAD.xChaCha20Poly1305.openSecret(try r.read(r.remaining), key: key, nonce: nonce, associatedData: associatedData, what: what)
    }

    /// Wraps `secret` for whoever holds the key of a role key version, by its
    /// public keys: to the X-Wing key when the version has one (form `0x03`),
    /// else to the X25519 key (form `0x02`).
    static func wrap(_ secret: SecureBytes, toRole keys: VaultState.KeyVersion, associatedData: [UInt8]) throws -> [UInt8] {
        guard let postQuantumKey = keys.postQuantumKey else { return try wrap(secret, toPublicKey: keys.publicKey, associatedData: associatedData) }
        return [Form.toPostQuantumKey.rawValue] + (try XWing.seal(secret, to: postQuantumKey, info: postQuantumInfo, associatedData: associatedData))
    }

    /// Wraps `secret` for the holder of the X25519 secret behind `publicKey`.
    private static func wrap(_ secret: SecureBytes, toPublicKey publicKey: [UInt8], associatedData: [UInt8]) throws -> [UInt8] {
        let ephemeral = SecureBytes(randomCount: X25519.byteCount)
        let ephemeralPublic = X25519.publicKey(of: ephemeral)
        let kek = try keyEncryptionKey(secret: ephemeral, peer: publicKey, ephemeralPublic: ephemeralPublic, recipientPublic: publicKey)
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        return [Form.toPublicKey.rawValue] + ephemeralPublic + nonce
            + AEAD.xChaCha20Poly1305.seal(secret, key: kek, nonce: nonce, associatedData: associatedData)
    }

    /// Unwraps any form, given the role key (from which the X25519 secret
    /// and the X-Wing seed of the public-key forms are derived).
    /// - Throws: ``FormatError`` for a malformed wrap; ``CryptoError`` if the
    ///   key is wrong or the wrap or its context was changed.
    static func unwrap(_ wrapped: [UInt8], with roleKey: RoleKey, associatedData: [UInt8], what: String) throws -> SecureBytes {
        var r = ByteReader(wrapped, what: what)
        guard let form = Form(rawValue: try r.readUInt8()) else { throw FormatError.malformed(what, "unknown wrap form") }
        let nonceCount = AEAD.xChaCha20Poly1305.nonceByteCount
        switch form {
        case .symmetric:
            return try unwrap(wrapped, under: roleKey.key, associatedData: associatedData, what: what)
        case .toPublicKey:
            let ephemeralPublic = try r.read(X25519.byteCount)
            let nonce = try r.read(nonceCount)
            let sealed = try r.read(r.remaining)
            let kek = try keyEncryptionKey(
                secret: roleKey.agreementSecretKey, peer: ephemeralPublic, ephemeralPublic: ephemeralPublic, recipientPublic: roleKey.publicKey)
            return try AEAD.xChaCha20Poly1305.openSecret(sealed, key: kek, nonce: nonce, associatedData: associatedData, what: what)
        case .toPostQuantumKey:
            return try XWing.open(try r.read(r.remaining), seed: roleKey.postQuantumSeed, info: postQuantumInfo, associatedData: associatedData, what: what)
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

    /// Wraps this data key for a role the caller does not hold, by the
    /// public keys of its key version.
    func wrapped(toRole keys: VaultState.KeyVersion, context: DataKeyWrapContext) throws -> [UInt8] {
        try KeyWrap.wrap(key.bytes, toRole: keys, associatedData: context.associatedData)
    }

    /// Unwraps a data key with the role key it was wrapped for.
    static func unwrap(_ wrapped: [UInt8], with roleKey: RoleKey, context: DataKeyWrapContext) throws -> DataKey {
        let bytes = try KeyWrap.unwrap(
            wrapped, with: roleKey, associatedData: context.associatedData, what: "wrapped data key of document \(context.documentID)")
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
        let bytes = try KeyWrap.unwrap(wrapped, with: adminKey, associatedData: context.associatedData, what: "wrapped role key")
        return RoleKey(key: try SymmetricKey(bytes))
    }
}

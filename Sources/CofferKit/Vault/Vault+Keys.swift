import Foundation

/// A document's encrypted metadata: what `ls` shows, kept out of the catalog
/// in plaintext. JSON, sealed with XChaCha20-Poly1305 under the version's
/// metadata key; the associated data binds vault, document, generation and
/// manifest, so metadata cannot be moved to other content.
public struct DocumentMetadata: Codable, Sendable, Equatable {
    /// The document's name (a relative path for files sealed from a folder).
    public var name: String
    /// Plaintext size in bytes.
    public var size: UInt64
    /// Where it came from: `file`, `stream`, `memory` (the library's
    /// `seal(bytes:name:label:)`) or `edit` (`coffer edit`).
    public var source: String
    /// Unix permission bits of the original file, if it was one.
    public var mode: UInt32?
    /// The plaintext's content digest, lowercase hex: SHA-256 over a domain
    /// tag, the segment size and each segment's SHA-256 (docs/FORMAT.md,
    /// "Document metadata"). Sealing the same content again adds no
    /// revision. Absent in documents sealed before it was.
    public var contentDigest: String?
    /// The SHA-256 of the whole plaintext, lowercase hex, in documents sealed
    /// between revisions and ``contentDigest`` (no longer written: hashing on
    /// the reading thread slowed every seal); a file sealed over one is still
    /// recognised as unchanged.
    public var digest: String?

    static func associatedData(vault: VaultID, document: DocumentID, generation: UInt32, manifest: ObjectID) -> [UInt8] {
        var w = ByteWriter()
        w.write(Array("coffer-metadata-v1".utf8))
        w.write(vault.bytes)
        w.write(document.bytes)
        w.write(generation)
        w.write(manifest.bytes)
        return w.bytes
    }

    /// `nonce (24) ‖ ciphertext+tag`. The metadata key is used for exactly
    /// one message (each generation has a fresh data key), so the random
    /// nonce never repeats under it.
    func sealed(with key: DataKey, associatedData: [UInt8]) throws -> [UInt8] {
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        let json = Array(try LedgerJSON.encoder.encode(self))
        return nonce + AEAD.xChaCha20Poly1305.seal(json, key: key.metadataKey, nonce: nonce, associatedData: associatedData)
    }

    /// Opens sealed metadata.
    static func open(_ sealed: [UInt8], with key: DataKey, associatedData: [UInt8]) throws -> DocumentMetadata {
        let n = AEAD.xChaCha20Poly1305.nonceByteCount
        guard sealed.count >= n + AEAD.tagByteCount else { throw FormatError.truncated("document metadata") }
        let json = try AEAD.xChaCha20Poly1305.open(
            Array(sealed[n...]), key: key.metadataKey, nonce: Array(sealed[..<n]), associatedData: associatedData, what: "document metadata")
        do {
            return try LedgerJSON.decoder.decode(DocumentMetadata.self, from: Data(json))
        } catch {
            throw FormatError.malformed("document metadata", "not the expected JSON")
        }
    }
}

extension Vault {
    /// The key of `role` at `version`, if this identity can obtain it: as a
    /// member (its sealed copy) or as an administrator (the copy wrapped under
    /// the admin key). The key is checked against the public key the ledger
    /// recorded for that version before it is used.
    func roleKey(_ roleID: RoleID, version: UInt32) throws -> RoleKey? {
        if let cached = roleKeyCache[roleID]?[version] { return cached }
        guard let role = state.roles[roleID], let keyVersion = role.versions[version] else { return nil }
        var key: RoleKey?
        if let sealed = keyVersion.seals[identity.fingerprint], role.members.contains(identity.fingerprint) {
            let bytes = try identity.openSealed(
                sealed, context: RoleSealContext(vaultID: state.vaultID, roleID: roleID, roleVersion: version, member: identity.fingerprint),
                what: "role key of \(role.name) v\(version) sealed to you")
            key = RoleKey(key: try SymmetricKey(bytes))
        } else if state.admins.contains(identity.fingerprint), let wrap = keyVersion.adminWrap,
                  let admin = state.adminRole, let adminKey = try roleKey(admin.id, version: wrap.adminVersion) {
            key = try RoleKey.unwrap(
                wrap.wrapped, with: adminKey,
                context: RoleKeyWrapContext(vaultID: state.vaultID, roleID: roleID, roleVersion: version, adminVersion: wrap.adminVersion))
        }
        guard let key else { return nil }
        guard key.publicKey == keyVersion.publicKey, keyVersion.postQuantumKey.map({ $0 == key.postQuantumPublicKey }) ?? true else {
            throw VaultError.integrity("the key delivered for role \(role.name) v\(version) is not the one the ledger records")
        }
        roleKeyCache[roleID, default: [:]][version] = key
        return key
    }

    /// The data key of a document version and the role that opened it.
    /// - Throws: ``VaultError/accessDenied(document:)`` when no wrap is for a
    ///   role this identity holds; ``CryptoError`` when a wrap was tampered with.
    func dataKey(of document: VaultState.Document, version: VaultState.Version) throws -> (DataKey, RoleID) {
        var lastError: (any Error)?
        // Prefer roles the identity belongs to directly, then admin access;
        // ties by role id, so the role recorded in `document.open` is stable.
        let ordered = version.wraps.sorted { a, b in
            let am = state.roles[a.key]?.members.contains(identity.fingerprint) ?? false
            let bm = state.roles[b.key]?.members.contains(identity.fingerprint) ?? false
            return am != bm ? am : a.key < b.key
        }
        for (roleID, wrap) in ordered {
            do {
                guard let roleKey = try roleKey(roleID, version: wrap.roleVersion) else { continue }
                let context = wrapContext(document: document, version: version, role: roleID)
                let key = try DataKey.unwrap(wrap.wrapped, with: roleKey, context: context)
                // XChaCha20-Poly1305 does not commit to its key: without this
                // check, a sealer could give two roles two keys that open the
                // same metadata and content to different texts.
                guard Sodium.constantTimeEqual(key.commitment, version.commitment) else {
                    throw VaultError.integrity("document \(document.id): the wrapped data key does not match the key commitment in the ledger")
                }
                return (key, roleID)
            } catch {
                lastError = error
            }
        }
        if let lastError { throw lastError }
        throw VaultError.accessDenied(document: document.id.description)
    }

    /// Where the wrap of `version`'s data key for `role` belongs: the
    /// associated data that binds it to this vault, document, generation,
    /// role key version and label.
    func wrapContext(document: VaultState.Document, version: VaultState.Version, role: RoleID) -> DataKeyWrapContext {
        DataKeyWrapContext(
            vaultID: state.vaultID, documentID: document.id, generation: version.generation,
            roleID: role, roleVersion: version.wraps[role]?.roleVersion ?? 0, label: document.label)
    }

    /// Whether this identity holds a key path to the document's current version.
    func canRead(_ document: VaultState.Document) -> Bool {
        document.current.wraps.contains { roleID, wrap in
            guard let role = state.roles[roleID], let version = role.versions[wrap.roleVersion] else { return false }
            if role.members.contains(identity.fingerprint), version.seals[identity.fingerprint] != nil { return true }
            return state.admins.contains(identity.fingerprint) && version.adminWrap != nil
        }
    }

    /// Decrypts a version's metadata with its data key.
    func metadata(of document: VaultState.Document, version: VaultState.Version, key: DataKey) throws -> DocumentMetadata {
        try DocumentMetadata.open(
            version.metadata, with: key,
            associatedData: DocumentMetadata.associatedData(vault: state.vaultID, document: document.id, generation: version.generation, manifest: version.manifest))
    }
}

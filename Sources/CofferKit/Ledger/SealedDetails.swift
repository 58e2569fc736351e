import Foundation

/// The part of a ledger entry that only administrators read: for
/// `bundle.create` what left the vault and to whom (file names, plaintext
/// SHA-256s, sizes, note, recipients), for `vault.backup` where the backup
/// went. The entry stays signed and hash-chained over these bytes, so
/// keyless verification is unchanged; only the reading needs a key.
///
/// A fresh random 256-bit details key encrypts the details (JSON) with
/// XChaCha20-Poly1305 under a random nonce; the key is used for this one
/// message only. The details key is wrapped to the admin role's key
/// version `adminVersion` (`KeyWrap`: to its public key when the writer
/// is not an administrator). Both associated data bind the vault, the
/// entry's action and its subject (bundle or snapshot id), and the wrap
/// also binds the admin version, so neither can be moved to another entry
/// or vault. When the admin role rotates, `admin.rewrap` rewraps every
/// details key under the new admin version (see docs/FORMAT.md, "Sealed
/// details"); the vault's state holds each entry's current wrap.
public struct SealedDetails: Codable, Sendable, Equatable {
    /// The admin role key version the details key was wrapped for when the entry was written.
    public var adminVersion: UInt32
    /// The wrapped details key (a `KeyWrap` form byte first).
    public var key: Data
    /// `nonce (24) ‖ ciphertext+tag` of the details' JSON.
    public var box: Data
}

/// What binds sealed details to their entry: the vault, the entry's action
/// and its subject (a bundle id, a snapshot id).
struct DetailsContext: Equatable, Sendable {
    var vaultID: VaultID
    var action: String
    var subject: String

    private func prefix(_ label: String) -> ByteWriter {
        var w = ByteWriter()
        w.write(Array(label.utf8))
        w.write(vaultID.bytes)
        for text in [action, subject] {
            let bytes = Array(text.utf8)
            w.write(UInt16(bytes.count))
            w.write(bytes)
        }
        return w
    }

    /// `"coffer-details-v1" ‖ vault ‖ action length (u16) ‖ action ‖ subject length (u16) ‖ subject`.
    var boxAssociatedData: [UInt8] { prefix("coffer-details-v1").bytes }

    /// `"coffer-details-key-v1" ‖ vault ‖ action length (u16) ‖ action ‖ subject length (u16) ‖ subject ‖ admin version (u32)`.
    func keyAssociatedData(adminVersion: UInt32) -> [UInt8] {
        var w = prefix("coffer-details-key-v1")
        w.write(adminVersion)
        return w.bytes
    }
}

/// The key that encrypts one entry's details. Distinct from data and role
/// keys; it exists only while an entry is written or read.
struct DetailsKey: Sendable {
    let key: SymmetricKey

    /// Seals `details` under a fresh details key wrapped to `admin`'s
    /// current key version (its public key: the writer need not hold it).
    /// - Throws: ``VaultError/integrity(_:)`` if the admin role has no
    ///   public key for its current version; encoding errors.
    static func seal<T: Encodable>(_ details: T, context: DetailsContext, admin: VaultState.Role) throws -> SealedDetails {
        let version = admin.currentVersion
        guard let keys = admin.versions[version] else {
            throw VaultError.integrity("the admin role has no key version \(version)")
        }
        let detailsKey = DetailsKey(key: .random())
        let json = Array(try LedgerJSON.encoder.encode(details))
        // The details key is fresh for this one message: a random nonce is safe.
        let nonce = Sodium.randomBytes(AEAD.xChaCha20Poly1305.nonceByteCount)
        let box = nonce + AEAD.xChaCha20Poly1305.seal(json, key: detailsKey.key, nonce: nonce, associatedData: context.boxAssociatedData)
        let wrapped = try KeyWrap.wrap(detailsKey.key.bytes, toRole: keys, associatedData: context.keyAssociatedData(adminVersion: version))
        return SealedDetails(adminVersion: version, key: Data(wrapped), box: Data(box))
    }

    /// Unwraps a details key wrapped for the admin key `adminKey` at `adminVersion`.
    /// - Throws: ``CryptoError`` if the key or context is wrong; ``FormatError``.
    static func unwrap(_ wrapped: [UInt8], adminKey: RoleKey, adminVersion: UInt32, context: DetailsContext) throws -> DetailsKey {
        let bytes = try KeyWrap.unwrap(
            wrapped, with: adminKey, associatedData: context.keyAssociatedData(adminVersion: adminVersion), what: "details key of the \(context.action) entry for \(context.subject)")
        return DetailsKey(key: try SymmetricKey(bytes))
    }

    /// This key wrapped under `adminKey` (symmetric form), for `admin.rewrap`.
    func wrapped(under adminKey: RoleKey, adminVersion: UInt32, context: DetailsContext) -> [UInt8] {
        KeyWrap.wrap(key.bytes, under: adminKey.key, associatedData: context.keyAssociatedData(adminVersion: adminVersion))
    }

    /// Opens `box` and decodes the details.
    /// - Throws: ``CryptoError`` if the box or its context was changed; ``FormatError``.
    func open<T: Decodable>(_ type: T.Type, box: Data, context: DetailsContext) throws -> T {
        let n = AEAD.xChaCha20Poly1305.nonceByteCount
        guard box.count >= n + AEAD.tagByteCount else { throw FormatError.truncated("sealed details") }
        let bytes = Array(box)
        let json = try AEAD.xChaCha20Poly1305.open(
            Array(bytes[n...]), key: key, nonce: Array(bytes[..<n]), associatedData: context.boxAssociatedData,
            what: "sealed details of the \(context.action) entry for \(context.subject)")
        do {
            return try LedgerJSON.decoder.decode(T.self, from: Data(json))
        } catch {
            throw FormatError.malformed("sealed details", "not the expected JSON")
        }
    }
}

/// The sealed part of a `bundle.create` entry.
public struct BundleDetails: Codable, Sendable, Equatable {
    /// Recipients: partner names, `age1…` recipients, or `passphrase`.
    public var recipients: [String]
    /// The sender's note.
    public var note: String?
    /// Each file's name, size and SHA-256 (as in the bundle's manifest), in the order of the entry's `files`.
    public var files: [BundleManifest.File]
}

/// The sealed part of a `document.hold` entry.
public struct HoldDetails: Codable, Sendable, Equatable {
    /// Why the documents are held (a matter, a case number, who asked).
    public var reason: String
}

/// The sealed part of a `vault.backup` entry.
public struct BackupDetails: Codable, Sendable, Equatable {
    /// The backup directory, as an absolute path on the operator's machine.
    public var destination: String
}

/// An entry's details as an administrator reads them.
public enum RevealedDetails: Sendable, Equatable, Encodable {
    /// A `bundle.create` entry's recipients, note and files.
    case bundle(BundleDetails)
    /// A `vault.backup` entry's destination.
    case backup(BackupDetails)
    /// A `document.hold` entry's reason.
    case hold(HoldDetails)

    /// Encodes the details themselves (a ``BundleDetails`` or ``BackupDetails`` object).
    public func encode(to encoder: any Encoder) throws {
        switch self {
        case .bundle(let details): try details.encode(to: encoder)
        case .backup(let details): try details.encode(to: encoder)
        case .hold(let details): try details.encode(to: encoder)
        }
    }

    /// The bundle details, if these are a bundle's.
    public var bundle: BundleDetails? {
        if case .bundle(let details) = self { details } else { nil }
    }

    /// One line for people: the bundle's files and recipients, the backup's destination, or the hold's reason.
    public var summary: String {
        switch self {
        case .bundle(let d):
            "\(d.files.count) file(s) to \(d.recipients.joined(separator: ", ")): \(d.files.map(\.name).joined(separator: ", "))"
                + (d.note.map { "; note: \($0)" } ?? "")
        case .backup(let d): "to \(d.destination)"
        case .hold(let d): "reason: \(d.reason)"
        }
    }
}

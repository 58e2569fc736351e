import Foundation

/// Payload of `identity.revoke`.
public struct IdentityRevoked: Codable, Sendable, Equatable {
    /// The fingerprint of the revoked identity.
    public var member: String
    /// Whether every document the identity could read is to be re-keyed.
    public var rekey: Bool
}

/// Payload of `role.rewrap` and `document.share`: data keys wrapped for one
/// role key version, packed (see ``PackedWrap``) so that a rotation of a
/// hundred thousand documents stays a few compact entries.
public struct WrapBatch: Codable, Sendable, Equatable {
    /// The role.
    public var role: RoleID
    /// The role key version every wrap is under.
    public var version: UInt32
    /// The packed wraps.
    public var records: Data
}

/// One wrapped data key in a ``WrapBatch``: `document (16) ‖ generation
/// (u32) ‖ wrap length (u16) ‖ wrap`, big-endian, concatenated.
public struct PackedWrap: Sendable, Equatable {
    /// The document.
    public var document: DocumentID
    /// Its generation.
    public var generation: UInt32
    /// The wrap (see `KeyWrap`).
    public var wrapped: [UInt8]

    /// Packs records.
    static func pack(_ records: [PackedWrap]) -> Data {
        var w = ByteWriter()
        for record in records {
            w.write(record.document.bytes)
            w.write(record.generation)
            w.write(UInt16(record.wrapped.count))
            w.write(record.wrapped)
        }
        return Data(w.bytes)
    }

    /// Unpacks records. - Throws: ``FormatError`` for truncated or malformed bytes.
    static func unpack(_ data: Data) throws -> [PackedWrap] {
        var r = ByteReader(Array(data), what: "packed wraps")
        var records: [PackedWrap] = []
        while r.remaining > 0 {
            let document = try DocumentID(bytes: try r.read(16))
            let generation = try r.readUInt32()
            let count = Int(try r.readUInt16())
            records.append(PackedWrap(document: document, generation: generation, wrapped: try r.read(count)))
        }
        return records
    }
}

/// Payload of `admin.rewrap`.
public struct AdminRewrap: Codable, Sendable, Equatable {
    /// The admin key version the role keys are now wrapped under (the current one).
    public var adminVersion: UInt32
    /// The rewrapped role keys.
    public var wraps: [RoleKeyRewrap]
    /// The rewrapped details keys of entries with sealed details (absent in older entries).
    public var details: [DetailsKeyRewrap]?
}

/// One entry's details key rewrapped for the administrators.
public struct DetailsKeyRewrap: Codable, Sendable, Equatable {
    /// The sequence number of the entry whose details the key opens.
    public var sequence: Int64
    /// The details key wrapped under the admin key (symmetric form; see ``SealedDetails``).
    public var wrapped: Data
}

/// One role key version rewrapped for the administrators.
public struct RoleKeyRewrap: Codable, Sendable, Equatable {
    /// The role.
    public var role: RoleID
    /// Its key version.
    public var version: UInt32
    /// The key wrapped under the admin key (see `RoleKeyWrapContext`).
    public var wrapped: Data
}

/// Payload of `role.key.retire`.
public struct RoleKeysRetired: Codable, Sendable, Equatable {
    /// The role.
    public var role: RoleID
    /// Every version below this one (the current one) is destroyed.
    public var before: UInt32
}

/// Payload of `document.unshare`.
public struct DocumentsUnshared: Codable, Sendable, Equatable {
    /// The role losing access.
    public var role: RoleID
    /// The documents.
    public var documents: [DocumentID]
    /// Whether the documents are to be re-keyed (the role's members may have kept their data keys).
    public var rekey: Bool
}

/// Payload of `document.delete`: documents deleted for good. Every wrap
/// of their data keys leaves the state, nothing may be done with them
/// afterwards (not even sealing a new document under the same id), and
/// their objects are left for `coffer gc` to collect. The document's
/// history (who sealed which version, when, and this deletion) stays.
public struct DocumentsDeleted: Codable, Sendable, Equatable {
    /// The documents, distinct.
    public var documents: [DocumentID]
}

/// Payload of `document.hold`: a legal hold placed on documents
/// (administrators only). While a document is under any hold, it cannot be
/// deleted. The reason (a matter, a case number) is sealed for the
/// administrators, like a bundle's details.
public struct DocumentsHeld: Codable, Sendable, Equatable {
    /// The hold's id: 32 lowercase hex digits, random, never used before in the vault.
    public var hold: String
    /// The documents, distinct.
    public var documents: [DocumentID]
    /// ``HoldDetails`` sealed for the administrators, bound to this action and the hold id.
    public var details: SealedDetails
}

/// Payload of `document.release`: documents taken out of one legal hold
/// (administrators only).
public struct DocumentsReleased: Codable, Sendable, Equatable {
    /// The hold.
    public var hold: String
    /// The documents, distinct, each under that hold.
    public var documents: [DocumentID]
}

/// Payload of `role.policy`: the longest a key may live before it is due
/// for rotation, for one role or for every role cleared for a label
/// (administrators only). `coffer rotate due` lists what is overdue.
public struct RolePolicySet: Codable, Sendable, Equatable {
    /// The role, or nil for a label's policy.
    public var role: RoleID?
    /// The label, or nil for a role's policy.
    public var label: String?
    /// Seconds; nil removes the policy.
    public var maxKeyAge: Int64?

    /// The longest maximum key age (and retention period, `label.retention`) accepted: 100 years.
    public static let longestMaxKeyAge: Int64 = 100 * 366 * 86_400
}

/// Payload of `label.retention`: how long documents of a label are kept
/// (administrators only). `coffer retention due` lists the documents first
/// sealed longer ago; only an administrator's explicit `coffer retention
/// shred` deletes them.
public struct LabelRetentionSet: Codable, Sendable, Equatable {
    /// The label.
    public var label: String
    /// Seconds; nil removes the period.
    public var period: Int64?
}

/// Payload of `document.relabel`.
public struct DocumentRelabeled: Codable, Sendable, Equatable {
    /// The document.
    public var document: DocumentID
    /// Its current generation.
    public var generation: UInt32
    /// The new label.
    public var label: String
    /// New wraps bound to the new label: one for every role that had the
    /// document and is cleared for the new label.
    public var wraps: [WrapRecord]
    /// Whether the document is to be re-keyed because roles lost access.
    public var rekey: Bool
}

/// Payload of `vault.gc`.
public struct GarbageCollected: Codable, Sendable, Equatable {
    /// Objects deleted.
    public var objects: Int
    /// Their bytes.
    public var bytes: UInt64
    /// Stray temporary files deleted.
    public var temporaryFiles: Int
}

/// Payload of `vault.backup`: a backup snapshot was started. The entry is
/// committed before the catalog is copied, so the snapshot holds it, and a
/// vault restored from its newest snapshot is at the head its operator last
/// saw. (A backup that then fails leaves this entry without a snapshot.)
///
/// The backup directory is sealed for the administrators in `details`
/// (``BackupDetails``); entries written before sealed details hold it in
/// clear in `destination`.
public struct BackupStarted: Codable, Sendable, Equatable {
    /// The snapshot id.
    public var snapshot: String
    /// The backup directory in clear: only in entries written before sealed details.
    public var destination: String?
    /// The backup directory, sealed for the administrators.
    public var details: SealedDetails?
}

/// Payload of `vault.adopt`: an administrator made a vault restored from
/// a backup snapshot the one it works in (`coffer backup adopt`). Until
/// then the restored copy was read-only; the entry says, in the ledger of
/// the vault that continues, which snapshot it continues from.
public struct VaultAdopted: Codable, Sendable, Equatable {
    /// The snapshot the vault was restored from.
    public var snapshot: String
    /// Ledger entries the snapshot held (this entry's sequence, unless the copy was written to before).
    public var entries: Int64
    /// The snapshot's head (hex).
    public var head: String
}

/// Payload of `vault.check`: `coffer verify --subset PART/PARTS` re-hashed
/// one part of the objects (those whose name's first four bytes, as a
/// big-endian number, leave `part − 1` modulo `parts`), so that a schedule
/// of PARTS runs covers every object; `coffer audit report` says when each
/// part, and so every object, was last checked.
public struct VaultChecked: Codable, Sendable, Equatable {
    /// Which part (1…parts).
    public var part: Int
    /// Into how many parts the objects were divided (1…1000).
    public var parts: Int
    /// Objects re-hashed.
    public var objects: Int
    /// Bytes re-hashed.
    public var bytes: UInt64
    /// Findings of the whole verification (0: clean).
    public var findings: Int
}

/// Payload of `vault.upgrade`: an administrator upgraded the catalog in
/// place (`coffer vault upgrade`), in the same transaction as this entry.
/// Schema 3 dropped schema 2's nine index tables; schema 4 names new
/// objects by SHA-256 (the upgrade then re-keys each document whose objects
/// are BLAKE2b-named, one `document.rekey` entry each). Earlier entries are unchanged.
public struct VaultUpgraded: Codable, Sendable, Equatable {
    /// The catalog schema before.
    public var fromSchema: Int
    /// The catalog schema after.
    public var toSchema: Int
}

/// Payload of `access.refused`.
public struct AccessRefused: Codable, Sendable, Equatable {
    /// What the identity tried to do.
    public var attempted: String
}

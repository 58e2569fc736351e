import Foundation

/// What one ledger entry records. Each case is one `action` string in the
/// entry's JSON body and one payload type; docs/FORMAT.md lists them all.
public enum LedgerEvent: Sendable, Equatable {
    /// Entry 0: the vault exists, with this creator (its first administrator) and label list.
    case vaultCreated(VaultCreated)
    /// An identity became known to the vault (administrators only).
    case identityAdded(IdentityAdded)
    /// A known identity published its X-Wing key (the identity itself, or an administrator).
    case identityPublished(IdentityPublished)
    /// An identity became an administrator, with the admin key sealed to it (administrators only).
    case adminAdded(MemberChange)
    /// An administrator stepped down; the admin role's key is rotated in the same commit.
    case adminRemoved(MemberChange)
    /// An identity was revoked: out of every role and of admin, for good.
    case identityRevoked(IdentityRevoked)
    /// A role was created (administrators only).
    case roleCreated(RoleCreated)
    /// An identity joined a role, with the role's current key sealed to it (administrators only).
    case roleMemberAdded(RoleMemberChange)
    /// An identity left a role; the role's key is rotated in the same commit.
    case roleMemberRemoved(RoleMemberChange)
    /// A new key version of a role, sealed to its members and wrapped for `admin`.
    case roleKeyIssued(RoleKeyIssued)
    /// Data keys wrapped under older versions of a role, rewrapped under its current one.
    case roleRewrapped(WrapBatch)
    /// Role keys rewrapped under the current admin key (after the admin role rotated).
    case adminRewrapped(AdminRewrap)
    /// Older key versions of a role destroyed: nothing is wrapped under them any more.
    case roleKeysRetired(RoleKeysRetired)
    /// A key-age policy set or removed for a role or a label (administrators only).
    case rolePolicySet(RolePolicySet)
    /// A label's retention period set or removed (administrators only).
    case labelRetentionSet(LabelRetentionSet)
    /// A document version was sealed, with its wrapped data keys.
    case documentSealed(DocumentSealed)
    /// A document was re-keyed: a new generation, content re-encrypted under a new data key.
    case documentRekeyed(DocumentSealed)
    /// A new revision of a document's content was sealed (its owner or an
    /// administrator): a new generation under a new data key, the earlier
    /// revisions reached through its ``DocumentSealed/previousKey``.
    case documentRevised(DocumentSealed)
    /// Documents' data keys wrapped for another role.
    case documentsShared(WrapBatch)
    /// Documents' wraps for a role removed.
    case documentsUnshared(DocumentsUnshared)
    /// A document moved to another label, its wraps rebound to it.
    case documentRelabeled(DocumentRelabeled)
    /// A document version was opened (read).
    case documentOpened(DocumentOpened)
    /// Documents were deleted (their owner or an administrator): wraps gone, objects left to `gc`.
    case documentsDeleted(DocumentsDeleted)
    /// Documents were placed under a legal hold (administrators only): they cannot be deleted until released.
    case documentsHeld(DocumentsHeld)
    /// Documents were released from a legal hold (administrators only).
    case documentsReleased(DocumentsReleased)
    /// An external partner's keys were recorded (administrators only).
    case partnerAdded(PartnerAdded)
    /// A transfer bundle was created: who sent what to whom, with hashes.
    case bundleCreated(BundleCreated)
    /// Unreferenced objects were deleted (administrators only).
    case garbageCollected(GarbageCollected)
    /// A backup snapshot was started (any identity of the vault).
    case backupStarted(BackupStarted)
    /// `vault.adopt`: a vault restored from a backup snapshot became the vault an administrator works in.
    case vaultAdopted(VaultAdopted)
    /// A revoked identity tried to use the vault and was refused (signed by that identity).
    case accessRefused(AccessRefused)
    /// `vault.check`: a part of the objects was re-hashed by `coffer verify --subset` (any identity of the vault).
    case vaultChecked(VaultChecked)
    /// `vault.upgrade`: an administrator upgraded the catalog's schema in place (`coffer vault upgrade`).
    case vaultUpgraded(VaultUpgraded)

    /// The `action` string of the entry.
    public var action: String {
        switch self {
        case .vaultCreated: "vault.create"
        case .identityAdded: "identity.add"
        case .identityPublished: "identity.publish"
        case .adminAdded: "admin.add"
        case .adminRemoved: "admin.remove"
        case .identityRevoked: "identity.revoke"
        case .roleCreated: "role.create"
        case .roleMemberAdded: "role.member.add"
        case .roleMemberRemoved: "role.member.remove"
        case .roleKeyIssued: "role.key"
        case .roleRewrapped: "role.rewrap"
        case .adminRewrapped: "admin.rewrap"
        case .roleKeysRetired: "role.key.retire"
        case .rolePolicySet: "role.policy"
        case .labelRetentionSet: "label.retention"
        case .documentSealed: "document.seal"
        case .documentRekeyed: "document.rekey"
        case .documentRevised: "document.revise"
        case .documentsShared: "document.share"
        case .documentsUnshared: "document.unshare"
        case .documentRelabeled: "document.relabel"
        case .documentOpened: "document.open"
        case .documentsDeleted: "document.delete"
        case .documentsHeld: "document.hold"
        case .documentsReleased: "document.release"
        case .partnerAdded: "partner.add"
        case .bundleCreated: "bundle.create"
        case .garbageCollected: "vault.gc"
        case .backupStarted: "vault.backup"
        case .vaultAdopted: "vault.adopt"
        case .vaultChecked: "vault.check"
        case .vaultUpgraded: "vault.upgrade"
        case .accessRefused: "access.refused"
        }
    }

    /// Encodes the payload (the entry's `data` member).
    func encodePayload(into container: inout KeyedEncodingContainer<EntryCodingKey>) throws {
        switch self {
        case .vaultCreated(let p): try container.encode(p, forKey: .data)
        case .identityAdded(let p): try container.encode(p, forKey: .data)
        case .identityPublished(let p): try container.encode(p, forKey: .data)
        case .adminAdded(let p), .adminRemoved(let p): try container.encode(p, forKey: .data)
        case .identityRevoked(let p): try container.encode(p, forKey: .data)
        case .roleCreated(let p): try container.encode(p, forKey: .data)
        case .roleMemberAdded(let p), .roleMemberRemoved(let p): try container.encode(p, forKey: .data)
        case .roleKeyIssued(let p): try container.encode(p, forKey: .data)
        case .roleRewrapped(let p), .documentsShared(let p): try container.encode(p, forKey: .data)
        case .adminRewrapped(let p): try container.encode(p, forKey: .data)
        case .roleKeysRetired(let p): try container.encode(p, forKey: .data)
        case .rolePolicySet(let p): try container.encode(p, forKey: .data)
        case .labelRetentionSet(let p): try container.encode(p, forKey: .data)
        case .documentSealed(let p), .documentRekeyed(let p), .documentRevised(let p): try container.encode(p, forKey: .data)
        case .documentsUnshared(let p): try container.encode(p, forKey: .data)
        case .documentRelabeled(let p): try container.encode(p, forKey: .data)
        case .documentOpened(let p): try container.encode(p, forKey: .data)
        case .documentsDeleted(let p): try container.encode(p, forKey: .data)
        case .documentsHeld(let p): try container.encode(p, forKey: .data)
        case .documentsReleased(let p): try container.encode(p, forKey: .data)
        case .partnerAdded(let p): try container.encode(p, forKey: .data)
        case .bundleCreated(let p): try container.encode(p, forKey: .data)
        case .garbageCollected(let p): try container.encode(p, forKey: .data)
        case .backupStarted(let p): try container.encode(p, forKey: .data)
        case .vaultAdopted(let p): try container.encode(p, forKey: .data)
        case .vaultChecked(let p): try container.encode(p, forKey: .data)
        case .vaultUpgraded(let p): try container.encode(p, forKey: .data)
        case .accessRefused(let p): try container.encode(p, forKey: .data)
        }
    }

    /// Decodes the payload for `action`.
    static func decode(action: String, from container: KeyedDecodingContainer<EntryCodingKey>) throws -> LedgerEvent {
        switch action {
        case "vault.create": .vaultCreated(try container.decode(VaultCreated.self, forKey: .data))
        case "identity.add": .identityAdded(try container.decode(IdentityAdded.self, forKey: .data))
        case "identity.publish": .identityPublished(try container.decode(IdentityPublished.self, forKey: .data))
        case "admin.add": .adminAdded(try container.decode(MemberChange.self, forKey: .data))
        case "admin.remove": .adminRemoved(try container.decode(MemberChange.self, forKey: .data))
        case "identity.revoke": .identityRevoked(try container.decode(IdentityRevoked.self, forKey: .data))
        case "role.create": .roleCreated(try container.decode(RoleCreated.self, forKey: .data))
        case "role.member.add": .roleMemberAdded(try container.decode(RoleMemberChange.self, forKey: .data))
        case "role.member.remove": .roleMemberRemoved(try container.decode(RoleMemberChange.self, forKey: .data))
        case "role.key": .roleKeyIssued(try container.decode(RoleKeyIssued.self, forKey: .data))
        case "role.rewrap": .roleRewrapped(try container.decode(WrapBatch.self, forKey: .data))
        case "admin.rewrap": .adminRewrapped(try container.decode(AdminRewrap.self, forKey: .data))
        case "role.key.retire": .roleKeysRetired(try container.decode(RoleKeysRetired.self, forKey: .data))
        case "role.policy": .rolePolicySet(try container.decode(RolePolicySet.self, forKey: .data))
        case "label.retention": .labelRetentionSet(try container.decode(LabelRetentionSet.self, forKey: .data))
        case "document.seal": .documentSealed(try container.decode(DocumentSealed.self, forKey: .data))
        case "document.rekey": .documentRekeyed(try container.decode(DocumentSealed.self, forKey: .data))
        case "document.revise": .documentRevised(try container.decode(DocumentSealed.self, forKey: .data))
        case "document.share": .documentsShared(try container.decode(WrapBatch.self, forKey: .data))
        case "document.unshare": .documentsUnshared(try container.decode(DocumentsUnshared.self, forKey: .data))
        case "document.relabel": .documentRelabeled(try container.decode(DocumentRelabeled.self, forKey: .data))
        case "document.open": .documentOpened(try container.decode(DocumentOpened.self, forKey: .data))
        case "document.delete": .documentsDeleted(try container.decode(DocumentsDeleted.self, forKey: .data))
        case "document.hold": .documentsHeld(try container.decode(DocumentsHeld.self, forKey: .data))
        case "document.release": .documentsReleased(try container.decode(DocumentsReleased.self, forKey: .data))
        case "partner.add": .partnerAdded(try container.decode(PartnerAdded.self, forKey: .data))
        case "bundle.create": .bundleCreated(try container.decode(BundleCreated.self, forKey: .data))
        case "vault.gc": .garbageCollected(try container.decode(GarbageCollected.self, forKey: .data))
        case "vault.backup": .backupStarted(try container.decode(BackupStarted.self, forKey: .data))
        case "vault.adopt": .vaultAdopted(try container.decode(VaultAdopted.self, forKey: .data))
        case "vault.check": .vaultChecked(try container.decode(VaultChecked.self, forKey: .data))
        case "vault.upgrade": .vaultUpgraded(try container.decode(VaultUpgraded.self, forKey: .data))
        case "access.refused": .accessRefused(try container.decode(AccessRefused.self, forKey: .data))
        default: throw FormatError.malformed("ledger entry", "unknown action \(action)")
        }
    }
}

/// Payload of `vault.create`.
public struct VaultCreated: Codable, Sendable, Equatable {
    /// The creator's public identity (`coffer1…`).
    public var creator: String
    /// The creator's display name.
    public var name: String
    /// Classification labels, lowest first.
    public var labels: [String]
    /// BLAKE2b-256 (hex) of the signed vault descriptor file's body.
    public var descriptor: String
    /// The highest label that may be exported without an administrator's
    /// approval; absent means the default (`secret`, or the second-highest label).
    public var exportLimit: String?
}

/// Payload of `identity.add`.
public struct IdentityAdded: Codable, Sendable, Equatable {
    /// The public identity (`coffer1…`).
    public var identity: String
    /// Its display name.
    public var name: String
}

/// Payload of `identity.publish`: a known identity's public form with its
/// X-Wing key, published by the identity itself (or an administrator) so
/// that role keys are sealed to it post-quantum from then on.
public struct IdentityPublished: Codable, Sendable, Equatable {
    /// The public identity, version 2 (`coffer1…` with its X-Wing key and binding signature).
    public var identity: String
}

/// Payload of `admin.add` and `admin.remove`.
public struct MemberChange: Codable, Sendable, Equatable {
    /// The fingerprint of the identity concerned.
    public var member: String
    /// `admin.add`: the admin role's current key sealed (`crypto_box_seal`) to the new administrator.
    public var seal: Data?
}

/// Payload of `role.create`.
public struct RoleCreated: Codable, Sendable, Equatable {
    /// The new role's id.
    public var role: RoleID
    /// Its unique name (`admin`, `@<fingerprint>` for personal roles, or a chosen name).
    public var name: String
    /// `admin`, `personal` or `shared`.
    public var kind: RoleKind
    /// The highest label the role may read.
    public var clearance: String
}

/// The three kinds of role.
public enum RoleKind: String, Codable, Sendable {
    /// The administrators' role; exactly one per vault.
    case admin
    /// One identity's own role; exactly one member, for ever.
    case personal
    /// A role for a team, with members chosen by administrators.
    case shared
}

/// Payload of `role.member.add` and `role.member.remove`.
public struct RoleMemberChange: Codable, Sendable, Equatable {
    /// The role.
    public var role: RoleID
    /// The member's fingerprint.
    public var member: String
    /// `role.member.add`: the role's current key sealed to the new member
    /// (absent only before the role's first key).
    public var seal: Data?
}

/// Payload of `role.key`.
public struct RoleKeyIssued: Codable, Sendable, Equatable {
    /// The role.
    public var role: RoleID
    /// The new key version (previous + 1, starting at 1).
    public var version: UInt32
    /// The X25519 public key derived from this key version.
    public var publicKey: Data
    /// The X-Wing public key derived from this key version (1216 bytes);
    /// absent in versions issued before role keys had one, which are
    /// *classic-only* (`coffer audit report`).
    public var postQuantumKey: Data?
    /// The key sealed to each member, by fingerprint (see `RoleKeySeal`:
    /// post-quantum to members whose X-Wing key is known).
    public var seals: [String: Data]
    /// The key wrapped under the admin role's key (absent for the admin role itself).
    public var adminWrap: Data?
    /// The admin key version `adminWrap` is under.
    public var adminVersion: UInt32?
}

/// Payload of `document.seal`.
public struct DocumentSealed: Codable, Sendable, Equatable {
    /// The document.
    public var document: DocumentID
    /// The key generation (1 for a new document).
    public var generation: UInt32
    /// The manifest object id (hex).
    public var manifest: String
    /// Every object the version created (the segments), so a deletion is caught without keys.
    public var segments: [String]
    /// The classification label.
    public var label: String
    /// The data key's commitment (as in the manifest): checked right after a
    /// wrap opens, before the metadata or any content is decrypted.
    public var commitment: Data
    /// The encrypted metadata (name, size, type).
    public var metadata: Data
    /// The data key wrapped for each role.
    public var wraps: [WrapRecord]
    /// How the manifest and segments are named: `"sha256"`; absent in
    /// entries written before catalog schema 4, whose objects are named by
    /// BLAKE2b-256.
    public var objectHash: String?
    /// The data key of the previous revision's version, wrapped under a key
    /// derived from this version's data key (see `VersionLink`): present in
    /// `document.revise`, and in `document.rekey` of a document past its
    /// first revision; absent in `document.seal`.
    public var previousKey: Data?
}

/// One wrapped data key in a ledger entry.
public struct WrapRecord: Codable, Sendable, Equatable {
    /// The role it is wrapped for.
    public var role: RoleID
    /// The role key version it is wrapped under.
    public var roleVersion: UInt32
    /// The wrap (see `KeyWrap`).
    public var wrapped: Data
}

/// Payload of `document.open`.
public struct DocumentOpened: Codable, Sendable, Equatable {
    /// The document.
    public var document: DocumentID
    /// The generation read.
    public var generation: UInt32
    /// The role whose key opened it.
    public var via: RoleID
}

/// Payload of `partner.add`.
public struct PartnerAdded: Codable, Sendable, Equatable {
    /// The partner's name (unique in the vault).
    public var name: String
    /// Its age recipient (`age1…`).
    public var recipient: String
    /// Its minisign public key (base64 line), if it signs what it sends back.
    public var minisignKey: String?
}

/// Payload of `bundle.create`.
///
/// Entries written since sealed details carry in clear only what keyless
/// replay needs (bundle id, expiry, approver, each file's document,
/// generation and label, the recipient count) and seal the rest
/// (``BundleDetails``: recipients, note, names, sizes, SHA-256s) in
/// `details` for the administrators. Older entries hold those fields in
/// clear (`recipients`, `note`, and each file's `name`, `size`, `sha256`);
/// they still replay and verify.
public struct BundleCreated: Codable, Sendable, Equatable {
    /// The bundle id (also in its MANIFEST.json).
    public var bundle: String
    /// Recipients in clear: only in entries written before sealed details (empty otherwise).
    public var recipients: [String]
    /// How many recipients the bundle has (entries with sealed details).
    public var recipientCount: Int?
    /// When the bundle expires (RFC 3339), if it does.
    public var expires: String?
    /// The sender's note, in clear: only in entries written before sealed details.
    public var note: String?
    /// The administrator who approved exporting documents above the vault's export limit.
    public var approvedBy: String?
    /// What went out.
    public var files: [BundleFileRecord]
    /// Recipients, note, names, sizes and hashes, sealed for the administrators.
    public var details: SealedDetails?
}

extension BundleCreated {
    /// The details of an entry written before sealed details, from its
    /// fields in clear; nil for an entry whose details are sealed.
    public var clearDetails: BundleDetails? {
        guard details == nil else { return nil }
        return BundleDetails(
            recipients: recipients, note: note,
            files: files.map { BundleManifest.File(name: $0.name ?? "", size: $0.size ?? 0, sha256: $0.sha256 ?? "") })
    }
}

/// One file in a `bundle.create` entry.
public struct BundleFileRecord: Codable, Sendable, Equatable {
    /// The document it came from.
    public var document: DocumentID
    /// The document generation exported.
    public var generation: UInt32
    /// Its name in the bundle, in clear: only in entries written before sealed details.
    public var name: String?
    /// Its size in bytes, in clear: only in entries written before sealed details.
    public var size: UInt64?
    /// Its SHA-256 (hex), in clear: only in entries written before sealed details.
    public var sha256: String?
    /// Its label.
    public var label: String
}

/// Keys of an entry's JSON body.
enum EntryCodingKey: String, CodingKey {
    case v, vault, seq, prev, time, actor, action, data
}

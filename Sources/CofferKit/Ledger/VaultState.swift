import Foundation

/// Everything about a vault's access structure that the verified ledger
/// establishes: identities, administrators, roles and their members and key
/// versions, documents and their wrapped keys.
///
/// It is built only by replaying verified entries (``apply(_:)``), which
/// also enforces who may do what at each point in the history. Catalog rows
/// are compared against it, never trusted on their own.
public struct VaultState: Sendable {
    /// A known identity.
    public struct Member: Sendable, Equatable {
        /// The public keys.
        public let identity: PublicIdentity
        /// Its display name.
        public let name: String
    }

    /// One key version of a role.
    public struct KeyVersion: Sendable, Equatable {
        /// The version's X25519 public key.
        public let publicKey: [UInt8]
        /// The key sealed to each member (by fingerprint).
        public let seals: [String: [UInt8]]
        /// The key wrapped for the admin role, with that role's key version.
        public let adminWrap: (wrapped: [UInt8], adminVersion: UInt32)?

        public static func == (a: KeyVersion, b: KeyVersion) -> Bool {
            a.publicKey == b.publicKey && a.seals == b.seals && a.adminWrap?.wrapped == b.adminWrap?.wrapped
                && a.adminWrap?.adminVersion == b.adminWrap?.adminVersion
        }
    }

    /// A role.
    public struct Role: Sendable, Equatable {
        /// Its id.
        public let id: RoleID
        /// Its name.
        public var name: String
        /// Admin, personal or shared.
        public let kind: RoleKind
        /// The highest label it may read.
        public var clearance: String
        /// Member fingerprints.
        public var members: Set<String>
        /// Key versions, from 1.
        public var versions: [UInt32: KeyVersion]
        /// The newest key version (0 before the first key).
        public var currentVersion: UInt32
    }

    /// One wrapped data key.
    public struct Wrap: Sendable, Equatable {
        /// The role key version it is under.
        public let roleVersion: UInt32
        /// The wrap bytes.
        public let wrapped: [UInt8]
    }

    /// One sealed version of a document.
    public struct Version: Sendable, Equatable {
        /// The key generation.
        public let generation: UInt32
        /// The manifest object.
        public let manifest: ObjectID
        /// The content segment objects.
        public let segments: [ObjectID]
        /// Encrypted name, size and type.
        public let metadata: [UInt8]
        /// The data key's commitment.
        public let commitment: [UInt8]
        /// Wrapped data keys by role.
        public var wraps: [RoleID: Wrap]
        /// When it was sealed.
        public let sealedAt: Date
        /// Who sealed it (fingerprint).
        public let sealedBy: String
        /// The ledger entry that sealed it.
        public let sequence: Int64
    }

    /// A document.
    public struct Document: Sendable, Equatable {
        /// Its id.
        public let id: DocumentID
        /// The identity that first sealed it.
        public let owner: String
        /// Its classification label.
        public var label: String
        /// Its versions by generation.
        public var versions: [UInt32: Version]
        /// The newest generation.
        public var currentGeneration: UInt32

        /// The current version.
        public var current: Version { versions[currentGeneration]! }
    }

    /// The vault's id.
    public let vaultID: VaultID
    /// Labels, lowest first.
    public private(set) var labels: [String] = []
    /// Known identities by fingerprint.
    public private(set) var identities: [String: Member] = [:]
    /// Administrator fingerprints.
    public private(set) var admins: Set<String> = []
    /// Roles by id.
    public private(set) var roles: [RoleID: Role] = [:]
    /// Documents by id.
    public private(set) var documents: [DocumentID: Document] = [:]
    /// External partners by name.
    public private(set) var partners: [String: PartnerAdded] = [:]
    /// Every bundle created, in ledger order, with who sent it and when.
    public private(set) var bundles: [(sender: String, time: Date, record: BundleCreated)] = []
    /// Entries applied so far.
    public private(set) var entryCount: Int64 = 0
    /// Hash of the last entry applied.
    public private(set) var head: [UInt8] = LedgerEntry.genesis

    /// An empty state for `vaultID`.
    init(vaultID: VaultID) {
        self.vaultID = vaultID
    }

    /// The admin role.
    public var adminRole: Role? { roles.values.first { $0.kind == .admin } }

    /// The personal role of `fingerprint`.
    public func personalRole(of fingerprint: String) -> Role? {
        roles.values.first { $0.kind == .personal && $0.members == [fingerprint] }
    }

    /// The role called `name`.
    public func role(named name: String) -> Role? {
        roles.values.first { $0.name == name }
    }

    /// Roles `fingerprint` belongs to (the admin role for administrators).
    public func roles(of fingerprint: String) -> [Role] {
        roles.values.filter { $0.members.contains(fingerprint) }.sorted { $0.name < $1.name }
    }

    /// The rank of a label (0 = lowest), or nil if unknown.
    public func rank(of label: String) -> Int? { labels.firstIndex(of: label) }

    /// The highest label that may leave the vault in a bundle without an
    /// administrator's approval: set at `init`, else `secret` if the vault
    /// has it, else the second-highest label.
    public var exportLimit: String {
        chosenExportLimit ?? (labels.contains("secret") ? "secret" : labels[max(0, labels.count - 2)])
    }

    /// The export limit chosen at creation, if any.
    private var chosenExportLimit: String?

    /// Whether exporting a document labelled `label` needs an administrator's approval.
    public func exportNeedsApproval(_ label: String) -> Bool {
        (rank(of: label) ?? Int.max) > (rank(of: exportLimit) ?? 0)
    }

    /// Applies one signature-checked entry, enforcing the authorisation rules.
    /// - Throws: ``LedgerError/unauthorized(sequence:reason:)`` naming the rule broken.
    mutating func apply(_ entry: LedgerEntry) throws {
        let c = entry.contents
        let seq = entry.sequence
        func deny(_ reason: String) -> LedgerError { .unauthorized(sequence: seq, reason: reason) }
        let actorIsAdmin = admins.contains(c.actor)

        switch c.event {
        case .vaultCreated(let p):
            guard seq == 0 else { throw deny("vault.create may only be the first entry") }
            let creator = try PublicIdentity(p.creator)
            guard creator.fingerprint == c.actor else { throw deny("vault.create must be signed by the creator") }
            guard !p.labels.isEmpty, Set(p.labels).count == p.labels.count else { throw deny("labels must be non-empty and distinct") }
            labels = p.labels
            if let limit = p.exportLimit {
                guard labels.contains(limit) else { throw deny("export limit \(limit) is not one of the labels") }
                chosenExportLimit = limit
            }
            identities[c.actor] = Member(identity: creator, name: p.name)
            admins.insert(c.actor)

        case .identityAdded(let p):
            guard actorIsAdmin else { throw deny("only an administrator may add identities") }
            let identity = try PublicIdentity(p.identity)
            guard identities[identity.fingerprint] == nil else { throw deny("identity \(identity.fingerprint) is already known") }
            identities[identity.fingerprint] = Member(identity: identity, name: p.name)

        case .adminAdded(let p):
            guard actorIsAdmin else { throw deny("only an administrator may add administrators") }
            guard identities[p.member] != nil else { throw deny("unknown identity \(p.member)") }
            guard !admins.contains(p.member) else { throw deny("\(p.member) is already an administrator") }
            admins.insert(p.member)
            if let admin = adminRole { roles[admin.id]?.members.insert(p.member) }

        case .roleCreated(let p):
            guard actorIsAdmin else { throw deny("only an administrator may create roles") }
            guard roles[p.role] == nil, role(named: p.name) == nil else { throw deny("role \(p.name) exists already") }
            guard rank(of: p.clearance) != nil else { throw deny("unknown clearance label \(p.clearance)") }
            if p.kind == .admin {
                guard adminRole == nil else { throw deny("there is already an admin role") }
            }
            let members = p.kind == .admin ? admins : []
            roles[p.role] = Role(id: p.role, name: p.name, kind: p.kind, clearance: p.clearance, members: members, versions: [:], currentVersion: 0)

        case .roleMemberAdded(let p):
            guard actorIsAdmin else { throw deny("only an administrator may change role membership") }
            guard var role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            guard identities[p.member] != nil else { throw deny("unknown identity \(p.member)") }
            guard role.kind != .admin else { throw deny("administrators join the admin role with admin.add") }
            guard !role.members.contains(p.member) else { throw deny("\(p.member) is already a member of \(role.name)") }
            if role.kind == .personal {
                guard role.members.isEmpty, role.name == "@" + p.member else { throw deny("a personal role belongs to one identity") }
            }
            role.members.insert(p.member)
            roles[p.role] = role

        case .roleKeyIssued(let p):
            guard actorIsAdmin else { throw deny("only an administrator may issue role keys") }
            guard var role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            guard p.version == role.currentVersion + 1 else { throw deny("role key version \(p.version) does not follow \(role.currentVersion)") }
            guard Set(p.seals.keys) == role.members else {
                throw deny("role key for \(role.name) must be sealed to exactly its members")
            }
            guard p.publicKey.count == X25519.byteCount else { throw deny("role public key must be 32 bytes") }
            var adminWrap: (wrapped: [UInt8], adminVersion: UInt32)?
            if role.kind == .admin {
                guard p.adminWrap == nil else { throw deny("the admin role key is not wrapped for itself") }
            } else {
                guard let wrap = p.adminWrap, let adminVersion = p.adminVersion, let admin = adminRole,
                      adminVersion == admin.currentVersion
                else { throw deny("role key for \(role.name) must be wrapped under the current admin key") }
                adminWrap = (Array(wrap), adminVersion)
            }
            role.versions[p.version] = KeyVersion(
                publicKey: Array(p.publicKey), seals: p.seals.mapValues { Array($0) }, adminWrap: adminWrap)
            role.currentVersion = p.version
            roles[p.role] = role

        case .documentSealed(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard rank(of: p.label) != nil else { throw deny("unknown label \(p.label)") }
            let manifest = try ObjectID(hex: p.manifest)
            let segments = try p.segments.map { try ObjectID(hex: $0) }
            var document: Document
            if let existing = documents[p.document] {
                guard actorIsAdmin || existing.owner == c.actor else { throw deny("only the owner or an administrator may re-key") }
                guard p.generation == existing.currentGeneration + 1 else { throw deny("generation does not follow") }
                document = existing
            } else {
                guard p.generation == 1 else { throw deny("a new document starts at generation 1") }
                document = Document(id: p.document, owner: c.actor, label: p.label, versions: [:], currentGeneration: 0)
            }
            guard let personal = personalRole(of: document.owner), let admin = adminRole else {
                throw deny("the owner has no personal role")
            }
            guard p.commitment.count == 32 else { throw deny("key commitment is not 32 bytes") }
            var wraps: [RoleID: Wrap] = [:]
            for record in p.wraps {
                guard let role = roles[record.role] else { throw deny("wrap for unknown role \(record.role)") }
                guard record.roleVersion == role.currentVersion else { throw deny("wrap for \(role.name) is not under its current key") }
                guard wraps[record.role] == nil else { throw deny("two wraps for \(role.name)") }
                wraps[record.role] = Wrap(roleVersion: record.roleVersion, wrapped: Array(record.wrapped))
            }
            guard Set(wraps.keys) == [personal.id, admin.id] else {
                throw deny("a sealed document is wrapped for its owner's personal role and admin, and nothing else")
            }
            document.label = p.label
            document.versions[p.generation] = Version(
                generation: p.generation, manifest: manifest, segments: segments, metadata: Array(p.metadata),
                commitment: Array(p.commitment), wraps: wraps, sealedAt: c.time, sealedBy: c.actor, sequence: seq)
            document.currentGeneration = p.generation
            documents[p.document] = document

        case .documentOpened(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard let document = documents[p.document], document.versions[p.generation] != nil else {
                throw deny("open of unknown document \(p.document)")
            }
            guard let role = roles[p.via], role.members.contains(c.actor),
                  document.versions[p.generation]?.wraps[p.via] != nil
            else { throw deny("\(c.actor) opened \(p.document) through a role it does not hold") }

        case .partnerAdded(let p):
            guard actorIsAdmin else { throw deny("only an administrator may add partners") }
            guard partners[p.name] == nil else { throw deny("partner \(p.name) exists already") }
            guard (try? AgeX25519Recipient(p.recipient)) != nil else { throw deny("partner \(p.name) has no valid age recipient") }
            partners[p.name] = p

        case .bundleCreated(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard !p.files.isEmpty, !p.recipients.isEmpty else { throw deny("a bundle has files and recipients") }
            if let approver = p.approvedBy {
                guard admins.contains(approver), approver == c.actor else { throw deny("export approval must come from the administrator who signs the entry") }
            }
            for file in p.files {
                guard let document = documents[file.document], document.versions[file.generation] != nil else {
                    throw deny("bundle \(p.bundle) exports unknown document \(file.document)")
                }
                guard file.label == document.label else { throw deny("bundle \(p.bundle) records the wrong label for \(file.document)") }
                if exportNeedsApproval(document.label), p.approvedBy == nil {
                    throw deny("document \(file.document) is labelled \(document.label), above the export limit \(exportLimit), and was exported without approval")
                }
            }
            bundles.append((c.actor, c.time, p))
        }
        entryCount = seq + 1
        head = entry.hash
    }
}

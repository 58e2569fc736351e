import Foundation

/// Everything about a vault's access structure that the verified ledger
/// establishes: identities, administrators, roles and their members and key
/// versions, documents and their wrapped keys.
///
/// It is built only by replaying verified entries (`apply(_:)`), which
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
        /// The version's X-Wing public key; nil for a version issued before role keys had one.
        public let postQuantumKey: [UInt8]?
        /// The key sealed to each member (by fingerprint; see `RoleKeySeal`).
        public private(set) var seals: [String: [UInt8]]
        /// The key wrapped for the admin role, with that role's key version.
        public private(set) var adminWrap: (wrapped: [UInt8], adminVersion: UInt32)?

        /// Whether a recorded storage attacker with a quantum computer could
        /// recover this key: it has no X-Wing key, or is sealed classically to a member.
        public var isClassicOnly: Bool {
            postQuantumKey == nil || seals.values.contains { !RoleKeySeal.isPostQuantum($0) }
        }

        /// The members it is sealed to classically.
        public var classicSeals: [String] { seals.filter { !RoleKeySeal.isPostQuantum($0.value) }.map(\.key).sorted() }

        /// This version with one more member's seal.
        func sealing(_ seal: [UInt8], to member: String) -> KeyVersion {
            var copy = self
            copy.seals[member] = seal
            return copy
        }

        /// This version with its admin wrap replaced.
        func wrapped(_ wrapped: [UInt8], adminVersion: UInt32) -> KeyVersion {
            var copy = self
            copy.adminWrap = (wrapped, adminVersion)
            return copy
        }

        public static func == (a: KeyVersion, b: KeyVersion) -> Bool {
            a.publicKey == b.publicKey && a.postQuantumKey == b.postQuantumKey && a.seals == b.seals && a.adminWrap?.wrapped == b.adminWrap?.wrapped
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
        /// A member left and no new key was issued yet: nothing may be
        /// wrapped for the role until it is.
        public var rotationDue = false
        /// When its current key version was issued (the `role.key` entry's time).
        public var keyIssuedAt: Date?
        /// Its own key-age policy (`role.policy`): the most seconds its current key may live.
        public var maxKeyAge: Int64?

        /// Versions older than the current one that still exist (a rotation
        /// whose rewraps are not finished), oldest first.
        public var olderVersions: [UInt32] { versions.keys.filter { $0 < currentVersion }.sorted() }

        /// Whether versions older than the current one still exist.
        public var hasOlderVersions: Bool { versions.keys.contains { $0 < currentVersion } }

        /// Whether the role may read documents labelled with `rank`.
        func clears(rank: Int, in state: VaultState) -> Bool {
            (state.rank(of: clearance) ?? -1) >= rank
        }
    }

    /// One wrapped data key.
    public struct Wrap: Sendable, Equatable {
        /// The role key version it is under.
        public let roleVersion: UInt32
        /// The wrap bytes.
        public let wrapped: [UInt8]
    }

    /// A sealed-details entry's details key, wrapped for the administrators.
    struct DetailsKeyWrap: Sendable, Equatable {
        /// The admin role key version it is wrapped under.
        let adminVersion: UInt32
        /// The wrap bytes (see ``SealedDetails``).
        let wrapped: [UInt8]
        /// The entry's action (`bundle.create`, `vault.backup`) and subject
        /// (bundle or snapshot id), which the wrap's associated data binds.
        let action: String
        let subject: String

        /// The same key wrapped anew under `adminVersion`.
        func rewrapped(_ wrapped: [UInt8], adminVersion: UInt32) -> DetailsKeyWrap {
            DetailsKeyWrap(adminVersion: adminVersion, wrapped: wrapped, action: action, subject: subject)
        }
    }

    /// A version's wrapped data keys by role: a handful per document, kept
    /// in one small array (a dictionary per document would cost more than
    /// the wraps themselves in a vault of a hundred thousand documents).
    public struct WrapSet: Sendable, Equatable, Sequence {
        private(set) var entries: [(key: RoleID, value: Wrap)] = []

        /// No wraps.
        public init() {}

        /// The wrap for `role`, if any.
        public subscript(role: RoleID) -> Wrap? {
            get { entries.first { $0.key == role }?.value }
            set {
                if let index = entries.firstIndex(where: { $0.key == role }) {
                    if let newValue { entries[index].value = newValue } else { entries.remove(at: index) }
                } else if let newValue {
                    entries.append((role, newValue))
                }
            }
        }

        /// The roles with a wrap.
        public var keys: [RoleID] { entries.map(\.key) }

        /// Removes and returns the wrap for `role`.
        @discardableResult
        public mutating func removeValue(forKey role: RoleID) -> Wrap? {
            defer { self[role] = nil }
            return self[role]
        }

        public func makeIterator() -> IndexingIterator<[(key: RoleID, value: Wrap)]> { entries.makeIterator() }

        public static func == (a: WrapSet, b: WrapSet) -> Bool {
            a.entries.count == b.entries.count && a.entries.allSatisfy { b[$0.key] == $0.value }
        }
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
        // The 32-byte commitment, inline.
        private let commitmentHigh: Bytes16
        private let commitmentLow: Bytes16
        /// Wrapped data keys by role (only the current version has any: earlier
        /// revisions are reached through ``previousKey``).
        public var wraps: WrapSet
        /// When it was sealed.
        public let sealedAt: Date
        /// Who sealed it (fingerprint).
        public let sealedBy: String
        /// The ledger entry that sealed it.
        public let sequence: Int64
        /// Which version of the content it holds, counted from 1: `document.revise`
        /// adds one, a re-key keeps it (same content, new key).
        public let revision: UInt32
        /// The data key of the previous revision's version, wrapped under a key
        /// derived from this version's data key (see `VersionLink`); absent in revision 1.
        public let previousKey: [UInt8]?

        /// A version; `commitment` must be 32 bytes (the ledger rules check it first).
        init(
            generation: UInt32, manifest: ObjectID, segments: [ObjectID], metadata: [UInt8], commitment: [UInt8], wraps: WrapSet,
            sealedAt: Date, sealedBy: String, sequence: Int64, revision: UInt32 = 1, previousKey: [UInt8]? = nil
        ) {
            self.revision = revision
            self.previousKey = previousKey
            self.generation = generation
            self.manifest = manifest
            self.segments = segments
            self.metadata = metadata
            commitmentHigh = Bytes16(commitment)
            commitmentLow = Bytes16(Array(commitment[16..<32]))
            self.wraps = wraps
            self.sealedAt = sealedAt
            self.sealedBy = sealedBy
            self.sequence = sequence
        }

        /// The data key's commitment.
        public var commitment: [UInt8] { commitmentHigh.bytes + commitmentLow.bytes }
    }

    /// A document. Its fields live in one copy-on-write object, so a
    /// dictionary of a hundred thousand documents holds one pointer per
    /// entry instead of each document's fields inline in every bucket
    /// (most of the state's memory, before this).
    public struct Document: Sendable, Equatable {
        private final class Storage: @unchecked Sendable {
            // Mutated only through `unique()`, i.e. when no other value shares it.
            let id: DocumentID
            let owner: String
            var label: String
            var current: Version
            var older: [Version]
            var rekeyDue: Bool
            var deletion: Deletion?
            var holds: [String]

            init(
                id: DocumentID, owner: String, label: String, current: Version, older: [Version], rekeyDue: Bool, deletion: Deletion?,
                holds: [String]
            ) {
                self.id = id
                self.owner = owner
                self.label = label
                self.current = current
                self.older = older
                self.rekeyDue = rekeyDue
                self.deletion = deletion
                self.holds = holds
            }

            func copy() -> Storage {
                Storage(id: id, owner: owner, label: label, current: current, older: older, rekeyDue: rekeyDue, deletion: deletion, holds: holds)
            }
        }

        private var storage: Storage

        init(
            id: DocumentID, owner: String, label: String, current: Version, older: [Version] = [], rekeyDue: Bool = false,
            deletion: Deletion? = nil, holds: [String] = []
        ) {
            storage = Storage(
                id: id, owner: owner, label: label, current: current, older: older, rekeyDue: rekeyDue, deletion: deletion, holds: holds)
        }

        private mutating func unique() -> Storage {
            if !isKnownUniquelyReferenced(&storage) { storage = storage.copy() }
            return storage
        }

        /// Its id.
        public var id: DocumentID { storage.id }
        /// The identity that first sealed it.
        public var owner: String { storage.owner }
        /// Its classification label.
        public var label: String {
            get { storage.label }
            set { unique().label = newValue }
        }
        /// The current version.
        public var current: Version {
            get { storage.current }
            _modify {
                let s = unique()
                yield &s.current
            }
        }
        /// Earlier versions, re-keyed away (oldest first): history, without wraps.
        public var older: [Version] {
            get { storage.older }
            _modify {
                let s = unique()
                yield &s.older
            }
        }
        /// Roles lost access and the content still waits to be re-keyed.
        public var rekeyDue: Bool {
            get { storage.rekeyDue }
            set { unique().rekeyDue = newValue }
        }

        /// Its `document.delete` entry, if it was deleted: it then has no
        /// wraps, and ``DocumentTable`` shows it only to ``DocumentTable/record(_:)``.
        public var deletion: Deletion? {
            get { storage.deletion }
            set { unique().deletion = newValue }
        }

        /// The legal holds it is under (their ids, in the order placed): while
        /// there is any, it cannot be deleted.
        public var holds: [String] {
            get { storage.holds }
            set { unique().holds = newValue }
        }

        /// The newest generation.
        public var currentGeneration: UInt32 { current.generation }

        /// Where it stands in the order documents were first sealed: the
        /// sequence of the entry that sealed its first version, then its id.
        public var sealOrder: SealPosition { SealPosition(sequence: (older.first ?? current).sequence, id: id) }

        /// The version of `generation`, if it exists.
        public func version(_ generation: UInt32) -> Version? {
            generation == current.generation ? current : older.first { $0.generation == generation }
        }

        /// Its revisions, oldest first: for each revision number, the version
        /// holding it now (the newest generation; a re-key replaces the
        /// current revision's version): the versions whose objects are kept.
        /// None once deleted (their objects are left to `gc`).
        public var revisions: [Version] {
            guard deletion == nil else { return [] }
            guard !older.isEmpty else { return [current] }
            var latest: [Version] = []
            for version in older + [current] {
                if latest.last?.revision == version.revision { latest[latest.count - 1] = version } else { latest.append(version) }
            }
            return latest
        }

        public static func == (a: Document, b: Document) -> Bool {
            a.storage === b.storage
                || (a.id == b.id && a.owner == b.owner && a.label == b.label && a.current == b.current && a.older == b.older
                    && a.rekeyDue == b.rekeyDue && a.deletion == b.deletion
                    && a.holds == b.holds)
        }
    }

    /// Who deleted a document, when, and in which ledger entry.
    public struct Deletion: Sendable, Equatable {
        /// The `document.delete` entry's sequence number.
        public let sequence: Int64
        /// When (the entry's time).
        public let time: Date
        /// Who (fingerprint).
        public let actor: String
    }

    /// A document's place in the order documents were first sealed (see
    /// ``Document/sealOrder``): `coffer ls` lists in this order.
    public struct SealPosition: Sendable, Hashable, Comparable {
        /// The ledger sequence of the entry that sealed the document's first version.
        public let sequence: Int64
        /// The document (documents sealed by one entry are in id order).
        public let id: DocumentID

        public static func < (a: SealPosition, b: SealPosition) -> Bool { (a.sequence, a.id) < (b.sequence, b.id) }
    }

    /// The vault's id.
    public let vaultID: VaultID
    /// Labels, lowest first.
    public internal(set) var labels: [String] = []
    /// Known identities by fingerprint.
    public internal(set) var identities: [String: Member] = [:]
    /// Administrator fingerprints.
    public internal(set) var admins: Set<String> = []
    /// Revoked identities' fingerprints: they hold nothing and may do nothing.
    public internal(set) var revoked: Set<String> = []
    /// Roles by id.
    public internal(set) var roles: [RoleID: Role] = [:]
    /// Documents by id.
    public internal(set) var documents = DocumentTable()
    /// External partners by name.
    public internal(set) var partners: [String: PartnerAdded] = [:]
    /// Every legal hold ever placed, by id, with its `document.hold` entry's
    /// sequence (ids are never reused; which documents a hold still covers is
    /// in their records).
    public internal(set) var holds: [String: Int64] = [:]
    /// Key-age policies by label (`role.policy` with a label): every role
    /// cleared for the label must have a key at most this many seconds old.
    public internal(set) var labelMaxKeyAge: [String: Int64] = [:]
    /// Retention periods by label (`label.retention`), in seconds.
    public internal(set) var labelRetention: [String: Int64] = [:]
    /// Every bundle created, in ledger order, with who sent it, when, and its entry's sequence number.
    public internal(set) var bundles: [(sender: String, time: Date, record: BundleCreated, sequence: Int64)] = []
    /// The current wrap of each sealed-details entry's details key, by the
    /// entry's sequence number: as written, or as the last `admin.rewrap` rewrapped it.
    var detailsKeys: [Int64: DetailsKeyWrap] = [:]
    /// Entries applied so far.
    public internal(set) var entryCount: Int64 = 0
    /// Hash of the last entry applied.
    public internal(set) var head: [UInt8] = LedgerEntry.genesis
    /// How many current document wraps each role key version holds (what
    /// a rotation must rewrap before the version can be destroyed).
    public internal(set) var wrapCounts: [RoleID: [UInt32: Int]] = [:]
    var adminRoleID: RoleID?
    var personalRoleIDs: [String: RoleID] = [:]

    /// An empty state for `vaultID`.
    init(vaultID: VaultID) {
        self.vaultID = vaultID
    }

    /// The admin role.
    public var adminRole: Role? { adminRoleID.flatMap { roles[$0] } }

    /// The personal role of `fingerprint` (it keeps existing, memberless, after a revocation).
    public func personalRole(of fingerprint: String) -> Role? {
        personalRoleIDs[fingerprint].flatMap { roles[$0] }
    }

    /// Whether `query` names `fingerprint`: all of it, or a prefix of at
    /// least 8 hex digits, in either case.
    public static func fingerprint(_ fingerprint: String, matches query: String) -> Bool {
        let lower = query.lowercased()
        return fingerprint == lower || (lower.utf8.count >= 8 && fingerprint.hasPrefix(lower))
    }

    /// How many documents' current versions are wrapped for `role`.
    public func documentCount(of role: RoleID) -> Int {
        wrapCounts[role]?.values.reduce(0, +) ?? 0
    }

    /// The role called `name`.
    public func role(named name: String) -> Role? {
        roles.values.first { $0.name == name }
    }

    /// Roles `fingerprint` belongs to (the admin role for administrators).
    public func roles(of fingerprint: String) -> [Role] {
        roles.values.filter { $0.members.contains(fingerprint) }.sorted { $0.name < $1.name }
    }

    /// The documents `member` can read now: every one for an administrator
    /// (who can unwrap every role's key), else those whose current version
    /// is wrapped for a role it belongs to. What `identity.revoke` with
    /// `rekey` marks for re-keying.
    func documentsReadable(by member: String) -> [Document] {
        if admins.contains(member) { return Array(documents.values) }
        let held = Set(roles(of: member).map(\.id))
        return documents.values.filter { !held.isDisjoint(with: $0.current.wraps.keys) }
    }

    /// The most seconds `role`'s key may live, and the policy that says so
    /// (`role NAME` or `label LABEL`): the smallest of its own policy and the
    /// policies of every label it is cleared for (it may hold documents of
    /// each); nil without any.
    public func keyAgeLimit(of role: Role) -> (seconds: Int64, source: String)? {
        let cleared = rank(of: role.clearance) ?? -1
        var limits = labelMaxKeyAge.filter { (rank(of: $0.key) ?? Int.max) <= cleared }.map { ($0.value, "label \($0.key)") }
        if let own = role.maxKeyAge { limits.append((own, "role \(role.name)")) }
        return limits.min { ($0.0, $0.1) < ($1.0, $1.1) }
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
    var chosenExportLimit: String?

    /// Whether exporting a document labelled `label` needs an administrator's approval.
    public func exportNeedsApproval(_ label: String) -> Bool {
        (rank(of: label) ?? Int.max) > (rank(of: exportLimit) ?? 0)
    }

    /// The fields in which `other` differs from this state (empty: the
    /// same state): how a saved state is checked against a full replay.
    func fieldsDiffering(from other: VaultState) -> [String] {
        let checks: [(String, Bool)] = [
            ("head", entryCount == other.entryCount && head == other.head), ("labels", labels == other.labels && exportLimit == other.exportLimit),
            ("identities", identities == other.identities), ("administrators", admins == other.admins), ("revoked", revoked == other.revoked),
            ("roles", roles == other.roles && adminRoleID == other.adminRoleID && personalRoleIDs == other.personalRoleIDs),
            ("documents", documents == other.documents), ("wrap counts", wrapCounts == other.wrapCounts), ("partners", partners == other.partners),
            ("bundles", bundles.map(\.sequence) == other.bundles.map(\.sequence)), ("details keys", detailsKeys == other.detailsKeys), ("holds", holds == other.holds), ("key-age policies", labelMaxKeyAge == other.labelMaxKeyAge), ("retention", labelRetention == other.labelRetention),
        ]
        return checks.filter { !$0.1 }.map(\.0)
    }

    /// Applies one signature-checked entry, enforcing the authorisation rules.
    /// - Throws: ``LedgerError/unauthorized(sequence:reason:)`` naming the rule broken.
    mutating func apply(_ entry: LedgerEntry) throws {
        let c = entry.contents
        let seq = entry.sequence
        func deny(_ reason: String) -> LedgerError { .unauthorized(sequence: seq, reason: reason) }
        if case .accessRefused = c.event {
            // The one entry a revoked identity may sign: the record of its own refused attempt.
            guard revoked.contains(c.actor) else { throw deny("access.refused is recorded only for revoked identities") }
        } else {
            guard !revoked.contains(c.actor) else { throw deny("\(c.actor) was revoked and may do nothing") }
        }
        let actorIsAdmin = admins.contains(c.actor)
        func requireAdmin(_ what: String) throws {
            guard actorIsAdmin else { throw deny("only an administrator may \(what)") }
        }

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
            try requireAdmin("add identities")
            let identity = try PublicIdentity(p.identity)
            guard identities[identity.fingerprint] == nil else { throw deny("identity \(identity.fingerprint) is already known") }
            identities[identity.fingerprint] = Member(identity: identity, name: p.name)

        case .identityPublished(let p):
            let identity = try PublicIdentity(p.identity)
            let fingerprint = identity.fingerprint
            guard c.actor == fingerprint || actorIsAdmin else { throw deny("an identity's X-Wing key is published by itself or an administrator") }
            guard let known = identities[fingerprint], known.identity.signingKey == identity.signingKey,
                  known.identity.agreementKey == identity.agreementKey
            else { throw deny("identity.publish is for a known identity") }
            guard !revoked.contains(fingerprint) else { throw deny("\(fingerprint) was revoked") }
            guard identity.postQuantum != nil, known.identity.postQuantum == nil else {
                throw deny("identity.publish adds the X-Wing key of an identity that has none recorded")
            }
            identities[fingerprint] = Member(identity: identity, name: known.name)

        case .adminAdded(let p):
            try requireAdmin("add administrators")
            try requireActive(p.member, deny)
            guard !admins.contains(p.member) else { throw deny("\(p.member) is already an administrator") }
            guard let admin = adminRole else { throw deny("the vault has no admin role") }
            try addMember(p.member, seal: p.seal, to: admin.id, deny)
            admins.insert(p.member)

        case .adminRemoved(let p):
            try requireAdmin("remove administrators")
            guard admins.contains(p.member) else { throw deny("\(p.member) is not an administrator") }
            guard admins.count > 1 else { throw deny("the last administrator cannot be removed") }
            admins.remove(p.member)
            if let admin = adminRoleID { removeMember(p.member, from: admin) }
            markEveryRoleRotationDue()

        case .identityRevoked(let p):
            try requireAdmin("revoke identities")
            try requireActive(p.member, deny)
            if admins.contains(p.member) {
                guard admins.count > 1 else { throw deny("the last administrator cannot be revoked") }
            }
            let held = Set(roles(of: p.member).map(\.id))
            if p.rekey {
                for document in documentsReadable(by: p.member) { documents[document.id]?.rekeyDue = true }
            }
            // An administrator could unwrap every role's key: all of them rotate.
            if admins.remove(p.member) != nil { markEveryRoleRotationDue() }
            for role in held { removeMember(p.member, from: role) }
            revoked.insert(p.member)

        case .roleCreated(let p):
            try requireAdmin("create roles")
            guard roles[p.role] == nil, role(named: p.name) == nil else { throw deny("role \(p.name) exists already") }
            guard rank(of: p.clearance) != nil else { throw deny("unknown clearance label \(p.clearance)") }
            var members: Set<String> = []
            switch p.kind {
            case .admin:
                guard adminRoleID == nil else { throw deny("there is already an admin role") }
                adminRoleID = p.role
                members = admins
            case .personal:
                let owner = String(p.name.dropFirst())
                guard p.name.hasPrefix("@"), identities[owner] != nil, personalRoleIDs[owner] == nil else {
                    throw deny("a personal role is named @ and the fingerprint of a known identity without one")
                }
                guard p.clearance == labels.last else { throw deny("a personal role is cleared for every label") }
                personalRoleIDs[owner] = p.role
            case .shared:
                guard !p.name.hasPrefix("@"), p.name != "admin" else { throw deny("role names @… and admin are reserved") }
            }
            roles[p.role] = Role(id: p.role, name: p.name, kind: p.kind, clearance: p.clearance, members: members, versions: [:], currentVersion: 0)

        case .roleMemberAdded(let p):
            try requireAdmin("change role membership")
            guard let role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            try requireActive(p.member, deny)
            guard role.kind != .admin else { throw deny("administrators join the admin role with admin.add") }
            if role.kind == .personal {
                guard role.members.isEmpty, role.currentVersion == 0, role.name == "@" + p.member else {
                    throw deny("a personal role belongs to one identity")
                }
            }
            try addMember(p.member, seal: p.seal, to: p.role, deny)

        case .roleMemberRemoved(let p):
            try requireAdmin("change role membership")
            guard let role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            guard role.kind == .shared else { throw deny("members leave admin with admin.remove and personal roles only by revocation") }
            guard role.members.contains(p.member) else { throw deny("\(p.member) is not a member of \(role.name)") }
            removeMember(p.member, from: p.role)

        case .roleKeyIssued(let p):
            try requireAdmin("issue role keys")
            guard var role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            guard p.version == role.currentVersion + 1 else { throw deny("role key version \(p.version) does not follow \(role.currentVersion)") }
            guard Set(p.seals.keys) == role.members else {
                throw deny("role key for \(role.name) must be sealed to exactly its members")
            }
            for (member, seal) in p.seals {
                guard let identity = identities[member]?.identity, RoleKeySeal.hasRequiredForm(seal, for: identity) else {
                    throw deny("the key of \(role.name) must be sealed to \(member) in the form its keys require (post-quantum if its X-Wing key is known)")
                }
            }
            guard p.publicKey.count == X25519.byteCount else { throw deny("role public key must be 32 bytes") }
            if let postQuantumKey = p.postQuantumKey {
                guard XWing.isPublicKey(Array(postQuantumKey)) else { throw deny("a role's post-quantum key must be an X-Wing public key") }
            }
            var adminWrap: (wrapped: [UInt8], adminVersion: UInt32)?
            if role.kind == .admin {
                guard p.adminWrap == nil else { throw deny("the admin role key is not wrapped for itself") }
            } else {
                guard let wrap = p.adminWrap, let adminVersion = p.adminVersion, let admin = adminRole,
                      adminVersion == admin.currentVersion, !admin.rotationDue
                else { throw deny("role key for \(role.name) must be wrapped under the current admin key") }
                adminWrap = (Array(wrap), adminVersion)
            }
            role.versions[p.version] = KeyVersion(
                publicKey: Array(p.publicKey), postQuantumKey: p.postQuantumKey.map { Array($0) }, seals: p.seals.mapValues { Array($0) },
                adminWrap: adminWrap)
            role.currentVersion = p.version
            role.rotationDue = false
            role.keyIssuedAt = c.time
            roles[p.role] = role

        case .labelRetentionSet(let p):
            try requireAdmin("set retention periods")
            guard rank(of: p.label) != nil else { throw deny("unknown label \(p.label)") }
            guard isPolicyPeriod(p.period) else { throw deny("a retention period is 1 second to 100 years") }
            labelRetention[p.label] = p.period

        case .rolePolicySet(let p):
            try requireAdmin("set key-age policies")
            guard isPolicyPeriod(p.maxKeyAge) else { throw deny("a maximum key age is 1 second to 100 years") }
            switch (p.role, p.label) {
            case (let id?, nil):
                guard roles[id] != nil else { throw deny("unknown role \(id)") }
                roles[id]?.maxKeyAge = p.maxKeyAge
            case (nil, let label?):
                guard rank(of: label) != nil else { throw deny("unknown label \(label)") }
                labelMaxKeyAge[label] = p.maxKeyAge
            default:
                throw deny("a role.policy names a role or a label")
            }

        case .roleRewrapped(let p):
            try requireAdmin("rewrap data keys")
            let role = try wrappableRole(p.role, version: p.version, deny)
            let records = try unpackedNonEmpty(p.records, deny)
            for record in records {
                let document = try currentDocument(record.document, generation: record.generation, deny)
                guard let old = document.current.wraps[role.id], old.roleVersion < p.version else {
                    throw deny("document \(record.document) has no wrap for \(role.name) under an older key")
                }
                setWrap(Wrap(roleVersion: p.version, wrapped: record.wrapped), document: record.document, role: role.id)
            }

        case .adminRewrapped(let p):
            try requireAdmin("rewrap role keys")
            guard let admin = adminRole, p.adminVersion == admin.currentVersion, !admin.rotationDue else {
                throw deny("role keys must be rewrapped under the current admin key")
            }
            guard !p.wraps.isEmpty || !(p.details ?? []).isEmpty else { throw deny("an admin.rewrap entry rewraps something") }
            for rewrap in p.details ?? [] {
                guard let old = detailsKeys[rewrap.sequence], old.adminVersion < p.adminVersion else {
                    throw deny("entry \(rewrap.sequence) has no details key wrapped under an older admin key")
                }
                detailsKeys[rewrap.sequence] = old.rewrapped(Array(rewrap.wrapped), adminVersion: p.adminVersion)
            }
            for wrap in p.wraps {
                guard let role = roles[wrap.role], let version = role.versions[wrap.version], let old = version.adminWrap,
                      old.adminVersion < p.adminVersion
                else { throw deny("role \(wrap.role) v\(wrap.version) has no key wrapped under an older admin key") }
                roles[wrap.role]?.versions[wrap.version] = version.wrapped(Array(wrap.wrapped), adminVersion: p.adminVersion)
            }

        case .roleKeysRetired(let p):
            try requireAdmin("retire role keys")
            guard let role = roles[p.role], p.before == role.currentVersion, !role.rotationDue, role.hasOlderVersions else {
                throw deny("only the versions before a role's settled current key can be retired")
            }
            guard (wrapCounts[p.role] ?? [:]).allSatisfy({ $0.key >= p.before || $0.value == 0 }) else {
                throw deny("data keys are still wrapped under the versions of \(role.name) being retired")
            }
            if role.kind == .admin {
                let stale = roles.values.contains { other in
                    other.versions.values.contains { ($0.adminWrap?.adminVersion ?? p.before) < p.before }
                }
                guard !stale else { throw deny("role keys are still wrapped under the admin versions being retired") }
                guard !detailsKeys.values.contains(where: { $0.adminVersion < p.before }) else {
                    throw deny("details keys are still wrapped under the admin versions being retired")
                }
            }
            roles[p.role]?.versions = role.versions.filter { $0.key >= p.before }
            wrapCounts[p.role] = wrapCounts[p.role]?.filter { $0.key >= p.before }

        case .documentSealed(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard documents.record(p.document) == nil else { throw deny("document \(p.document) exists or existed; a new version is a document.revise") }
            guard p.generation == 1 else { throw deny("a new document starts at generation 1") }
            guard p.previousKey == nil else { throw deny("a new document has no previous revision") }
            guard let personal = personalRoleIDs[c.actor], let admin = adminRoleID else { throw deny("the sealer has no personal role") }
            try addVersion(p, to: nil, revision: 1, expectedRoles: [personal, admin], time: c.time, actor: c.actor, sequence: seq, deny)

        case .documentRekeyed(let p), .documentRevised(let p):
            let revising = c.event.action == "document.revise"
            guard let document = documents[p.document] else { throw deny("\(c.event.action) of unknown document \(p.document)") }
            guard actorIsAdmin || document.owner == c.actor else {
                throw deny(revising ? "only the owner or an administrator may add a revision" : "only the owner or an administrator may re-key")
            }
            guard p.generation == document.currentGeneration + 1 else { throw deny("generation does not follow") }
            guard p.label == document.label else { throw deny("a new generation keeps the document's label") }
            // A revision links to the one it follows; a re-key keeps the link of the revision it replaces.
            let revision = revising ? document.current.revision + 1 : document.current.revision
            guard (p.previousKey != nil) == (revision > 1) else {
                throw deny(revision > 1 ? "revision \(revision) has no link to the revision before it" : "a first revision has no previous one")
            }
            if let link = p.previousKey, link.count != Self.versionLinkSize || link.first != 1 { throw deny("malformed link to the previous revision") }
            try addVersion(p, to: document, revision: revision, expectedRoles: Set(document.current.wraps.keys), time: c.time, actor: c.actor, sequence: seq, deny)

        case .documentsShared(let p):
            let role = try wrappableRole(p.role, version: p.version, deny)
            guard role.kind != .admin else { throw deny("every document is already wrapped for admin") }
            guard role.kind != .personal || !role.members.isEmpty else { throw deny("\(role.name) belongs to a revoked identity") }
            for record in try unpackedNonEmpty(p.records, deny) {
                let document = try currentDocument(record.document, generation: record.generation, deny)
                guard actorIsAdmin || document.owner == c.actor else { throw deny("only the owner or an administrator may share \(document.id)") }
                guard role.clears(rank: rank(of: document.label) ?? Int.max, in: self) else {
                    throw deny("\(role.name) (cleared for \(role.clearance)) may not read \(document.id), labelled \(document.label)")
                }
                guard document.current.wraps[role.id] == nil else { throw deny("\(document.id) is already shared with \(role.name)") }
                setWrap(Wrap(roleVersion: p.version, wrapped: record.wrapped), document: document.id, role: role.id)
            }

        case .documentsUnshared(let p):
            guard let role = roles[p.role] else { throw deny("unknown role \(p.role)") }
            try requireDistinct(p.documents, c.event.action, deny)
            for id in p.documents {
                guard let document = documents[id] else { throw deny("unshare of unknown document \(id)") }
                guard actorIsAdmin || document.owner == c.actor else { throw deny("only the owner or an administrator may unshare \(id)") }
                guard role.kind == .shared || (role.kind == .personal && personalRoleIDs[document.owner] != role.id) else {
                    throw deny("a document stays wrapped for its owner and for admin")
                }
                guard document.current.wraps[role.id] != nil else { throw deny("\(id) is not shared with \(role.name)") }
                removeWrap(document: id, role: role.id)
                if p.rekey { documents[id]?.rekeyDue = true }
            }

        case .documentRelabeled(let p):
            try requireAdmin("relabel documents")
            let document = try currentDocument(p.document, generation: p.generation, deny)
            guard let newRank = rank(of: p.label), p.label != document.label else { throw deny("relabel to an unknown or the same label") }
            let kept = Set(document.current.wraps.keys.filter { roles[$0]?.clears(rank: newRank, in: self) ?? false })
            let wraps = try checkedWraps(p.wraps, document: p.document, expectedRoles: kept, deny)
            for role in document.current.wraps.keys { removeWrap(document: p.document, role: role) }
            documents[p.document]?.label = p.label
            for (role, wrap) in wraps { setWrap(wrap, document: p.document, role: role) }
            if p.rekey { documents[p.document]?.rekeyDue = true }

        case .documentsDeleted(let p):
            try requireDistinct(p.documents, c.event.action, deny)
            for id in p.documents {
                guard let document = documents[id] else { throw deny("delete of unknown or deleted document \(id)") }
                guard actorIsAdmin || document.owner == c.actor else { throw deny("only the owner or an administrator may delete \(id)") }
                guard document.holds.isEmpty else { throw deny("\(id) is under legal hold \(document.holds.joined(separator: ", "))") }
                for role in document.current.wraps.keys { removeWrap(document: id, role: role) }
                var deleted = documents[id]!
                deleted.rekeyDue = false
                deleted.deletion = Deletion(sequence: seq, time: c.time, actor: canonical(c.actor))
                documents[id] = deleted
            }

        case .documentsHeld(let p):
            try requireAdmin("place legal holds")
            guard HoldID.isWellFormed(p.hold), holds[p.hold] == nil else { throw deny("a hold id is 32 lowercase hex digits, never used before") }
            try requireDistinct(p.documents, c.event.action, deny)
            try recordDetails(p.details, action: c.event.action, subject: p.hold, sequence: seq, deny)
            for id in p.documents {
                guard documents[id] != nil else { throw deny("hold of unknown or deleted document \(id)") }
                documents[id]?.holds.append(p.hold)
            }
            holds[p.hold] = seq

        case .documentsReleased(let p):
            try requireAdmin("release legal holds")
            guard holds[p.hold] != nil else { throw deny("unknown hold \(p.hold)") }
            try requireDistinct(p.documents, c.event.action, deny)
            for id in p.documents {
                guard let document = documents[id], document.holds.contains(p.hold) else { throw deny("\(id) is not under hold \(p.hold)") }
                documents[id]?.holds.removeAll { $0 == p.hold }
            }

        case .documentOpened(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard let document = documents[p.document], document.revisions.contains(where: { $0.generation == p.generation }) else {
                throw deny("open of unknown document \(p.document) or of a generation it no longer keeps")
            }
            // Every kept revision is reached through the current version's wraps.
            guard let role = roles[p.via], role.members.contains(c.actor), document.current.wraps[p.via] != nil
            else { throw deny("\(c.actor) opened \(p.document) through a role it does not hold") }

        case .partnerAdded(let p):
            try requireAdmin("add partners")
            guard partners[p.name] == nil else { throw deny("partner \(p.name) exists already") }
            guard (try? AgeRecipient.partner(p.recipient)) != nil else { throw deny("partner \(p.name) has no valid age recipient") }
            partners[p.name] = p

        case .bundleCreated(let p):
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard !p.files.isEmpty, !p.recipients.isEmpty || (p.recipientCount ?? 0) > 0 else { throw deny("a bundle has files and recipients") }
            if let details = p.details { try recordDetails(details, action: c.event.action, subject: p.bundle, sequence: seq, deny) }
            if let approver = p.approvedBy {
                guard admins.contains(approver), approver == c.actor else { throw deny("export approval must come from the administrator who signs the entry") }
            }
            for file in p.files {
                guard let document = documents[file.document], document.version(file.generation) != nil else {
                    throw deny("bundle \(p.bundle) exports unknown document \(file.document)")
                }
                guard file.label == document.label else { throw deny("bundle \(p.bundle) records the wrong label for \(file.document)") }
                if exportNeedsApproval(document.label), p.approvedBy == nil {
                    throw deny("document \(file.document) is labelled \(document.label), above the export limit \(exportLimit), and was exported without approval")
                }
            }
            bundles.append((c.actor, c.time, p, seq))

        case .garbageCollected:
            try requireAdmin("collect garbage")

        case .backupStarted(let p):
            // Any identity of the vault may back it up; the actor was checked above.
            if let details = p.details { try recordDetails(details, action: c.event.action, subject: p.snapshot, sequence: seq, deny) }

        case .vaultChecked(let p):
            // Any identity of the vault may record a check; the actor was checked above.
            guard identities[c.actor] != nil else { throw deny("unknown identity \(c.actor)") }
            guard (1...ObjectSubset.maximumParts).contains(p.parts), (1...p.parts).contains(p.part), p.objects >= 0, p.findings >= 0 else {
                throw deny("a vault.check names part 1…parts of 1…\(ObjectSubset.maximumParts) parts")
            }

        case .vaultAdopted:
            try requireAdmin("adopt a restored vault")

        case .vaultUpgraded(let p):
            try requireAdmin("upgrade the vault")
            guard p.fromSchema >= 2, p.toSchema > p.fromSchema else { throw deny("a vault.upgrade goes from a schema to a later one") }

        case .accessRefused:
            break  // checked above
        }
        entryCount = seq + 1
        head = entry.hash
    }

    // MARK: Rules shared by several events

    /// The stored copy of a known fingerprint, so a hundred thousand
    /// documents by one owner share one string instead of holding a copy each.
    func canonical(_ fingerprint: String) -> String {
        identities.index(forKey: fingerprint).map { identities.keys[$0] } ?? fingerprint
    }

    /// An entry that names documents names at least one, each once.
    private func requireDistinct(_ documents: [DocumentID], _ action: String, _ deny: (String) -> LedgerError) throws {
        guard !documents.isEmpty, Set(documents).count == documents.count else { throw deny("a \(action) names distinct documents") }
    }

    /// Whether `seconds` is a key age or retention period the rules accept (1 second to 100 years).
    private func isPolicyPeriod(_ seconds: Int64?) -> Bool {
        seconds.map { (1...RolePolicySet.longestMaxKeyAge).contains($0) } ?? true
    }

    private func requireActive(_ member: String, _ deny: (String) -> LedgerError) throws {
        guard identities[member] != nil else { throw deny("unknown identity \(member)") }
        guard !revoked.contains(member) else { throw deny("\(member) was revoked") }
    }

    /// A role whose current, settled key is `version`: what new wraps must be under.
    private func wrappableRole(_ id: RoleID, version: UInt32, _ deny: (String) -> LedgerError) throws -> Role {
        guard let role = roles[id] else { throw deny("unknown role \(id)") }
        guard !role.rotationDue else { throw deny("\(role.name) lost a member and needs a new key before anything is wrapped for it") }
        guard version == role.currentVersion, version > 0 else { throw deny("wraps for \(role.name) must be under its current key") }
        return role
    }

    private func currentDocument(_ id: DocumentID, generation: UInt32, _ deny: (String) -> LedgerError) throws -> Document {
        guard let document = documents[id] else { throw deny("unknown document \(id)") }
        guard generation == document.currentGeneration else { throw deny("\(id) generation \(generation) is not the current one") }
        return document
    }

    private func unpackedNonEmpty(_ records: Data, _ deny: (String) -> LedgerError) throws -> [PackedWrap] {
        let unpacked = try PackedWrap.unpack(records)
        guard !unpacked.isEmpty else { throw deny("a wrap batch holds at least one wrap") }
        return unpacked
    }

    /// Checks wrap records: exactly `expectedRoles`, each under its role's current settled key.
    private func checkedWraps(_ records: [WrapRecord], document: DocumentID, expectedRoles: Set<RoleID>, _ deny: (String) -> LedgerError) throws -> [RoleID: Wrap] {
        var wraps: [RoleID: Wrap] = [:]
        for record in records {
            let role = try wrappableRole(record.role, version: record.roleVersion, deny)
            guard wraps[record.role] == nil else { throw deny("two wraps for \(role.name)") }
            wraps[record.role] = Wrap(roleVersion: record.roleVersion, wrapped: Array(record.wrapped))
        }
        guard Set(wraps.keys) == expectedRoles else {
            let names = expectedRoles.compactMap { roles[$0]?.name }.sorted().joined(separator: ", ")
            throw deny("document \(document) must be wrapped for exactly: \(names)")
        }
        return wraps
    }

    /// Adds a sealed version (`existing` nil: a new document) or a re-keyed
    /// one; the previous version's wraps are dropped (its data key is
    /// retired with it) and it is kept as history.
    /// The size of a link to the previous revision (a symmetric ``KeyWrap`` of a 32-byte key).
    static let versionLinkSize = 1 + 24 + 32 + 16

    private mutating func addVersion(
        _ p: DocumentSealed, to existing: Document?, revision: UInt32, expectedRoles: Set<RoleID>, time: Date, actor: String, sequence: Int64,
        _ deny: (String) -> LedgerError
    ) throws {
        guard rank(of: p.label) != nil else { throw deny("unknown label \(p.label)") }
        guard p.commitment.count == 32 else { throw deny("key commitment is not 32 bytes") }
        let hash: ObjectHash
        switch p.objectHash {
        case nil: hash = .blake2b256
        case ObjectHash.sha256.name?: hash = .sha256
        case let other?: throw deny("unknown object hash \(other.debugDescription)")
        }
        let manifest = try ObjectID(hex: p.manifest, hash: hash)
        let segments = try p.segments.map { try ObjectID(hex: $0, hash: hash) }
        let wraps = try checkedWraps(p.wraps, document: p.document, expectedRoles: expectedRoles, deny)
        let version = Version(
            generation: p.generation, manifest: manifest, segments: segments, metadata: Array(p.metadata),
            commitment: Array(p.commitment), wraps: WrapSet(), sealedAt: time, sealedBy: canonical(actor), sequence: sequence,
            revision: revision, previousKey: p.previousKey.map(Array.init))
        if var document = existing {
            for role in document.current.wraps.keys { removeWrap(document: p.document, role: role) }
            document = documents[p.document]!
            document.older.append(document.current)
            document.current = version
            document.rekeyDue = false
            documents[p.document] = document
        } else {
            documents[p.document] = Document(id: p.document, owner: canonical(actor), label: p.label, current: version)
        }
        for (role, wrap) in wraps { setWrap(wrap, document: p.document, role: role) }
    }

    private mutating func addMember(_ member: String, seal: Data?, to roleID: RoleID, _ deny: (String) -> LedgerError) throws {
        guard var role = roles[roleID] else { throw deny("unknown role \(roleID)") }
        guard !role.members.contains(member) else { throw deny("\(member) is already a member of \(role.name)") }
        if role.currentVersion == 0 {
            guard seal == nil else { throw deny("\(role.name) has no key to seal yet") }
        } else {
            guard !role.rotationDue, !role.hasOlderVersions else {
                throw deny("\(role.name) is being rotated; members join once its rotation has finished")
            }
            guard let seal, let identity = identities[member]?.identity, RoleKeySeal.hasRequiredForm(seal, for: identity) else {
                throw deny("\(member) joins \(role.name) with its current key sealed to it (post-quantum if its X-Wing key is known)")
            }
            role.versions[role.currentVersion] = role.versions[role.currentVersion]!.sealing(Array(seal), to: member)
        }
        role.members.insert(member)
        roles[roleID] = role
    }

    /// After an administrator leaves: every role key was within its reach
    /// (through the admin wraps), so every role needs a new key.
    /// Records a sealed-details entry's key wrap: it must be for the admin
    /// role's current key version, which the writer wrapped to.
    private mutating func recordDetails(
        _ details: SealedDetails, action: String, subject: String, sequence: Int64, _ deny: (String) -> LedgerError
    ) throws {
        guard let admin = adminRole, details.adminVersion == admin.currentVersion else {
            throw deny("sealed details must be wrapped for the admin role's current key version")
        }
        detailsKeys[sequence] = DetailsKeyWrap(adminVersion: details.adminVersion, wrapped: Array(details.key), action: action, subject: subject)
    }

    private mutating func markEveryRoleRotationDue() {
        for id in roles.keys { roles[id]?.rotationDue = true }
    }

    /// Removes a member; the role must get a new key before anything else is wrapped for it.
    private mutating func removeMember(_ member: String, from roleID: RoleID) {
        roles[roleID]?.members.remove(member)
        roles[roleID]?.rotationDue = true
    }

    private mutating func setWrap(_ wrap: Wrap, document: DocumentID, role: RoleID) {
        // No local copy of the document: it would make the in-place update below copy its storage.
        guard documents[document] != nil else { return }
        if let old = documents[document]?.current.wraps[role] { wrapCounts[role, default: [:]][old.roleVersion, default: 0] -= 1 }
        documents[document]?.current.wraps[role] = wrap
        wrapCounts[role, default: [:]][wrap.roleVersion, default: 0] += 1
    }

    private mutating func removeWrap(document: DocumentID, role: RoleID) {
        guard let old = documents[document]?.current.wraps.removeValue(forKey: role) else { return }
        wrapCounts[role, default: [:]][old.roleVersion, default: 0] -= 1
    }
}

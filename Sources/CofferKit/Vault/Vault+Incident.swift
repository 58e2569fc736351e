import Foundation

/// A moment in the ledger: an entry's sequence number, its time, and who signed it.
public struct LedgerMoment: Codable, Sendable, Equatable {
    /// The entry's sequence number.
    public let sequence: Int64
    /// Its time (RFC 3339, the signer's clock).
    public let time: String
    /// Who signed it.
    public let actor: MemberSummary
}

/// `coffer audit document`: everything the ledger says about one document,
/// in ledger order, and who can read it now.
public struct DocumentAudit: Codable, Sendable, Equatable {
    /// One entry about the document.
    public struct Event: Codable, Sendable, Equatable {
        /// When and by whom.
        public let at: LedgerMoment
        /// The entry's action (`document.open`, `bundle.create`, …).
        public let action: String
        /// The generation concerned, when the entry names one.
        public let generation: UInt32?
        /// The role concerned: the one whose wrap opened it (`document.open`),
        /// gained or lost a wrap (`document.share`, `document.unshare`, `role.rewrap`).
        public let role: String?
        /// The key version of that role's wrap (for an open: the wrap that
        /// opened it, which the ledger fixes: a generation has one wrap per role at a time).
        public let keyVersion: UInt32?
        /// More, for people: a bundle's id and recipient count, a new label, a hold's id.
        public let detail: String?
    }

    /// The document.
    public let document: DocumentID
    /// Its name, when this identity can read it now.
    public let name: String?
    /// Its label now.
    public let label: String
    /// Who sealed it first.
    public let owner: MemberSummary
    /// Its deletion, if it was deleted.
    public let deleted: LedgerMoment?
    /// The legal holds it is under.
    public let holds: [String]
    /// Every entry about it, in ledger order.
    public let events: [Event]
    /// Who can read it now, and through which roles (empty once deleted).
    public let readers: [AccessReport.Reader]
}

/// `coffer audit person`: what one identity could read (its roles, and
/// when it joined and left each), what it read and exported, and when its
/// access ended.
public struct PersonAudit: Codable, Sendable, Equatable {
    /// One period in a role (administrators: the `admin` role).
    public struct Membership: Codable, Sendable, Equatable {
        /// The role's name.
        public let role: String
        /// Admin, personal or shared.
        public let kind: RoleKind
        /// When it joined.
        public let from: LedgerMoment
        /// When it left, if it did.
        public let until: LedgerMoment?
        /// How it left: `removed` or `revoked`.
        public let ended: String?
    }

    /// One read (`document.open`).
    public struct Read: Codable, Sendable, Equatable {
        /// When.
        public let at: LedgerMoment
        /// The document.
        public let document: DocumentID
        /// The generation read.
        public let generation: UInt32
        /// Its label at the time.
        public let label: String
        /// The role whose wrap opened it.
        public let role: String
        /// That wrap's key version.
        public let keyVersion: UInt32?
    }

    /// One export (`bundle.create`).
    public struct Export: Codable, Sendable, Equatable {
        /// When.
        public let at: LedgerMoment
        /// The bundle's id.
        public let bundle: String
        /// The documents it carried.
        public let documents: [DocumentID]
        /// How many recipients it had.
        public let recipients: Int
        /// When it expires, if it does.
        public let expires: String?
    }

    /// Who.
    public let member: MemberSummary
    /// Reads and exports are those at or after this time (RFC 3339), if given.
    public let since: String?
    /// Its revocation, if it was revoked.
    public let revoked: LedgerMoment?
    /// Every period in a role, in the order they began.
    public let memberships: [Membership]
    /// Its reads.
    public let reads: [Read]
    /// Its exports.
    public let exports: [Export]
    /// How many documents it can read now.
    public let readableNow: Int
}

extension Vault {
    /// Everything the verified ledger says about the document `query`
    /// names (an id, id prefix or name; a deleted document by its full id):
    /// every entry about it with who, when, which generation, and for each
    /// open the role and key version of the wrap that opened it.
    /// Replays the whole ledger, verifying it.
    /// - Throws: ``VaultError/documentNotFound(_:)`` and the ledger's errors.
    public func auditDocument(_ query: String) throws -> DocumentAudit {
        let document: VaultState.Document
        var name: String?
        if let id = try? DocumentID(hex: query.lowercased()), let record = state.documents.record(id), record.deletion != nil {
            document = record
        } else {
            let (found, summary) = try self.document(matching: query)
            document = found
            name = try summary?.name ?? self.summary(of: found).name
        }
        let id = document.id
        var events: [DocumentAudit.Event] = []
        try replayLedger { entry, before in
            guard entry.contents.event.documents.contains(id) else { return }
            let at = moment(of: entry)
            let action = entry.contents.event.action
            func event(generation: UInt32? = nil, role: RoleID? = nil, keyVersion: UInt32? = nil, detail: String? = nil) {
                events.append(.init(
                    at: at, action: action, generation: generation, role: role.map { before.roles[$0]?.name ?? $0.description },
                    keyVersion: keyVersion, detail: detail))
            }
            switch entry.contents.event {
            case .documentSealed(let p), .documentRekeyed(let p), .documentRevised(let p): event(generation: p.generation, detail: "label \(p.label)")
            case .documentOpened(let p):
                event(generation: p.generation, role: p.via, keyVersion: before.documents[id]?.current.wraps[p.via]?.roleVersion)
            case .documentsShared(let p), .roleRewrapped(let p): event(role: p.role, keyVersion: p.version)
            case .documentsUnshared(let p): event(role: p.role, detail: p.rekey ? "re-key due" : nil)
            case .documentRelabeled(let p): event(generation: p.generation, detail: "label \(p.label)")
            case .bundleCreated(let p):
                let generation = p.files.first { $0.document == id }?.generation
                event(generation: generation, detail: "bundle \(p.bundle), \(p.recipientCount ?? p.recipients.count) recipient(s)" + (p.expires.map { ", expires \($0)" } ?? ""))
            case .documentsHeld(let p): event(detail: "hold \(p.hold)")
            case .documentsReleased(let p): event(detail: "hold \(p.hold)")
            default: event()
            }
        }
        let current = state.documents.record(id) ?? document
        return DocumentAudit(
            document: id, name: name, label: current.label, owner: memberSummary(current.owner),
            deleted: current.deletion.map { LedgerMoment(sequence: $0.sequence, time: Timestamp.format($0.time), actor: memberSummary($0.actor)) },
            holds: current.holds, events: events,
            readers: current.deletion == nil ? try access(id.description).readers : [])
    }

    /// What the identity `query` names (as for ``resolveMember(_:)``) could
    /// read (each period in a role, from the verified ledger), read and
    /// exported (at or after `since`), and when its access ended.
    /// Replays the whole ledger, verifying it.
    /// - Throws: ``VaultError/notFound(_:)``, ``VaultError/ambiguous(_:matches:)`` and the ledger's errors.
    public func auditPerson(_ query: String, since: Date? = nil) throws -> PersonAudit {
        let person = try resolveMember(query)
        var open: [RoleID: (from: LedgerMoment, kind: RoleKind, name: String)] = [:]
        var memberships: [PersonAudit.Membership] = []
        var reads: [PersonAudit.Read] = []
        var exports: [PersonAudit.Export] = []
        var revoked: LedgerMoment?
        func end(_ role: RoleID, at: LedgerMoment, how: String) {
            guard let period = open.removeValue(forKey: role) else { return }
            memberships.append(.init(role: period.name, kind: period.kind, from: period.from, until: at, ended: how))
        }
        try replayLedger { entry, before in
            let c = entry.contents
            let at = moment(of: entry)
            let recent = since.map { c.time >= $0 } ?? true
            switch c.event {
            case .vaultCreated where c.actor == person:
                open[Self.adminPeriodKey] = (at, .admin, "admin")
            case .adminAdded(let p) where p.member == person:
                open[Self.adminPeriodKey] = (at, .admin, "admin")
            case .roleMemberAdded(let p) where p.member == person:
                if let role = before.roles[p.role] { open[p.role] = (at, role.kind, role.name) }
            case .roleMemberRemoved(let p) where p.member == person: end(p.role, at: at, how: "removed")
            case .adminRemoved(let p) where p.member == person: end(Self.adminPeriodKey, at: at, how: "removed")
            case .identityRevoked(let p) where p.member == person:
                revoked = at
                for role in open.keys { end(role, at: at, how: "revoked") }
            case .documentOpened(let p) where c.actor == person && recent:
                let document = before.documents[p.document]
                reads.append(.init(
                    at: at, document: p.document, generation: p.generation, label: document?.label ?? "", role: before.roles[p.via]?.name ?? p.via.description,
                    keyVersion: document?.version(p.generation)?.wraps[p.via]?.roleVersion))
            case .bundleCreated(let p) where c.actor == person && recent:
                exports.append(.init(at: at, bundle: p.bundle, documents: p.files.map(\.document), recipients: p.recipientCount ?? p.recipients.count, expires: p.expires))
            default: break
            }
        }
        for (_, period) in open { memberships.append(.init(role: period.name, kind: period.kind, from: period.from, until: nil, ended: nil)) }
        memberships.sort { ($0.from.sequence, $0.role) < ($1.from.sequence, $1.role) }
        return PersonAudit(
            member: memberSummary(person), since: since.map(Timestamp.format), revoked: revoked, memberships: memberships, reads: reads, exports: exports,
            readableNow: state.revoked.contains(person) ? 0 : state.documentsReadable(by: person).count)
    }

    /// Where an administrator's period is kept while it lasts (administrators
    /// join and leave the admin role through `admin.add` and `admin.remove`).
    private static let adminPeriodKey = RoleID(unchecked: [UInt8](repeating: 0, count: 16))

    /// The moment of `entry`.
    private func moment(of entry: LedgerEntry) -> LedgerMoment {
        LedgerMoment(sequence: entry.sequence, time: Timestamp.format(entry.contents.time), actor: memberSummary(entry.contents.actor))
    }

    /// Replays and verifies the whole ledger, calling `body` with each entry
    /// and the state before it (read it there: it is not kept).
    private func replayLedger(_ body: (LedgerEntry, VaultState) throws -> Void) throws {
        var verifier = LedgerVerifier(vaultID: state.vaultID)
        try catalog.forEachLedgerEntry(from: 0, checkingAheadWith: verifier.signingKeys) { entry in
            try body(entry, verifier.state)
            try verifier.append(entry)
        }
    }
}

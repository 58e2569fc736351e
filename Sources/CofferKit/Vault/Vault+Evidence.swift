import Foundation

/// The "reasonable measures" evidence of a vault at one ledger head: what
/// `coffer audit report --html` renders for counsel and auditors, and
/// `coffer audit report --json` gives machines.
public struct EvidenceReport: Codable, Sendable, Equatable {
    /// How many documents carry one label.
    public struct LabelCount: Codable, Sendable, Equatable {
        /// The label.
        public let label: String
        /// Its documents.
        public let documents: Int
    }

    /// One role: who is in it, which labels it may read, its key and policy.
    public struct RoleAccess: Codable, Sendable, Equatable {
        /// Its name (a personal role as `@` and its member's name).
        public let role: String
        /// Admin, personal or shared.
        public let kind: RoleKind
        /// The highest label it may read.
        public let clearance: String
        /// The labels it may read (its clearance and below).
        public let labels: [String]
        /// Its members' names (fingerprints when unnamed).
        public let members: [String]
        /// Documents whose current version is wrapped for it.
        public let documents: Int
        /// Its current key version.
        public let keyVersion: UInt32
        /// When that version was issued (RFC 3339).
        public let keyIssued: String?
        /// How old it is, in whole days.
        public let keyAgeDays: Int?
        /// Its key-age limit in days, if a policy sets one.
        public let maxKeyAgeDays: Int?
        /// The policy that sets it (`role NAME`, `label LABEL`).
        public let policy: String?
        /// Whether its key is older than the limit.
        public let overdue: Bool
        /// Its key versions destroyed so far (`role.key.retire`): older than the current one and gone.
        public let retired: [UInt32]
    }

    /// Reads and exports on one day (UTC).
    public struct DayActivity: Codable, Sendable, Equatable {
        /// The day (`YYYY-MM-DD`).
        public let day: String
        /// `document.open` entries that day.
        public let reads: Int
        /// `bundle.create` entries that day.
        public let exports: Int
    }

    /// One transfer bundle.
    public struct Export: Codable, Sendable, Equatable {
        /// The bundle id.
        public let bundle: String
        /// When it was made (RFC 3339).
        public let time: String
        /// Who made it.
        public let sender: String
        /// Partner names, or recipients when unknown; empty when sealed and the reader is no administrator.
        public let recipients: [String]
        /// How many files it carried.
        public let files: Int
        /// When it expires (RFC 3339), if it does.
        public let expires: String?
        /// Whether it had expired when the report was made.
        public let expired: Bool
    }

    /// When it was made (RFC 3339).
    public let generated: String
    /// The vault.
    public let vault: VaultID
    /// How many ledger entries it was made from.
    public let entries: Int64
    /// The ledger head (hex) it was made from.
    public let head: String
    /// Who made it (and signed it).
    public let author: MemberSummary
    /// Documents by label, lowest label first (deleted documents not counted).
    public let inventory: [LabelCount]
    /// Every role, admin first.
    public let roles: [RoleAccess]
    /// Reads and exports per day, oldest first, over the whole ledger.
    public let activity: [DayActivity]
    /// Every bundle, oldest first.
    public let exports: [Export]
    /// The unusual-access findings for the window of `audit`'s policy.
    public let audit: AuditReportResult
}

extension Vault {
    /// The evidence report at the current ledger head, with the
    /// unusual-access findings of `policy` (see ``Audit/report(vaultAt:policy:now:details:)``).
    /// Replays the ledger twice (findings, then activity) and reads every
    /// document record once (the inventory). An administrator also sees
    /// whom bundles went to (their sealed details).
    public func evidence(policy: AuditPolicy, now: Date = Date()) throws -> EvidenceReport {
        let audit = try Audit.report(vaultAt: path, policy: policy, now: now) { try self.details(of: $0) }
        var counts: [String: Int] = [:]
        for document in state.documents.values { counts[document.label, default: 0] += 1 }
        let inventory = state.labels.map { EvidenceReport.LabelCount(label: $0, documents: counts[$0] ?? 0) }
        let roles = state.roles.values.filter { !($0.kind == .personal && $0.members.isEmpty) }
            .sorted { ($0.kind == .admin ? 0 : 1, $0.name) < ($1.kind == .admin ? 0 : 1, $1.name) }
            .map { roleAccess($0, now: now) }
        var days: [String: (reads: Int, exports: Int)] = [:]
        var exports: [EvidenceReport.Export] = []
        let partners = Dictionary(state.partners.values.map { ($0.recipient, $0.name) }, uniquingKeysWith: { a, _ in a })
        try Audit.log(vaultAt: path, filter: AuditFilter()) { record in
            let c = record.entry.contents
            let day = String(Timestamp.format(c.time).prefix(10))
            switch c.event {
            case .documentOpened: days[day, default: (0, 0)].reads += 1
            case .bundleCreated(let p):
                days[day, default: (0, 0)].exports += 1
                let recipients = (try p.clearDetails ?? details(of: record.entry)?.bundle)?.recipients ?? []
                let expiry = p.expires.flatMap(Timestamp.parse)
                exports.append(.init(
                    bundle: p.bundle, time: Timestamp.format(c.time), sender: record.actorName.nonEmpty ?? c.actor,
                    recipients: recipients.map { partners[$0] ?? $0 }, files: p.files.count, expires: p.expires, expired: expiry.map { $0 < now } ?? false))
            default: break
            }
        }
        return EvidenceReport(
            generated: Timestamp.format(now), vault: state.vaultID, entries: state.entryCount, head: Hex.encode(state.head),
            author: memberSummary(identity.fingerprint), inventory: inventory, roles: roles,
            activity: days.keys.sorted().map { EvidenceReport.DayActivity(day: $0, reads: days[$0]!.reads, exports: days[$0]!.exports) },
            exports: exports, audit: audit)
    }
}

extension Vault {
    /// One row of the evidence report's access matrix and key table.
    private func roleAccess(_ role: VaultState.Role, now: Date) -> EvidenceReport.RoleAccess {
        let rank = state.rank(of: role.clearance) ?? -1
        let limit = state.keyAgeLimit(of: role)
        let age: TimeInterval? = role.keyIssuedAt.map { now.timeIntervalSince($0) }
        let members: [String] = role.members.sorted().map { state.identities[$0]?.name.nonEmpty ?? $0 }
        var overdue = false
        if let age, let limit { overdue = age > TimeInterval(limit.seconds) }
        return EvidenceReport.RoleAccess(
            role: displayName(ofRole: role.name), kind: role.kind, clearance: role.clearance, labels: Array(state.labels.prefix(rank + 1)),
            members: members, documents: state.documentCount(of: role.id), keyVersion: role.currentVersion,
            keyIssued: role.keyIssuedAt.map(Timestamp.format), keyAgeDays: age.map { Int($0 / 86_400) },
            maxKeyAgeDays: limit.map { Int($0.seconds / 86_400) }, policy: limit?.source, overdue: overdue,
            retired: role.currentVersion > 1 ? (1..<role.currentVersion).filter { role.versions[$0] == nil } : [])
    }
}

extension String {
    /// The string, or nil when it is empty.
    var nonEmpty: String? { isEmpty ? nil : self }
}

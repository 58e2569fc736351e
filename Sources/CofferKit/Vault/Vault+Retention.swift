import Foundation

/// A document kept longer than its label's retention period (`coffer retention due`).
public struct RetentionDue: Codable, Sendable, Equatable {
    /// The document.
    public let id: DocumentID
    /// Its name, when this identity can read it.
    public let name: String?
    /// Its label.
    public let label: String
    /// When its first version was sealed (RFC 3339): where its retention starts.
    public let sealed: String
    /// Days since then.
    public let ageDays: Int
    /// The label's period, in days.
    public let periodDays: Int
    /// The legal holds it is under: while there is any, it is kept.
    public let holds: [String]
}

/// What `coffer retention shred` deleted, and what holds kept.
public struct RetentionShredReport: Codable, Sendable, Equatable {
    /// The deletion of the documents past their period and under no hold.
    public let deleted: DeletionReport
    /// Documents past their period that a legal hold keeps.
    public let held: [RetentionDue]
}

/// What `coffer role retire` destroyed, or would.
public struct RetirementReport: Codable, Sendable, Equatable {
    /// The role.
    public let role: String
    /// Whether this is a plan (nothing was changed).
    public let planned: Bool
    /// The key versions destroyed (or to be).
    public let retired: [UInt32]
}

extension Vault {
    /// Sets (or, with `period` nil, removes) the retention period of `label`
    /// in a signed `label.retention` entry (administrators only).
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/unknownLabel(_:known:)``, ``VaultError/invalidRequest(_:)``.
    public func setRetention(label: String, period: TimeInterval?) throws {
        try requireAdministrator("set retention periods")
        guard state.rank(of: label) != nil else { throw VaultError.unknownLabel(label, known: state.labels) }
        let seconds = try Self.policySeconds(period, "a retention period")
        try commit { _ in [.labelRetentionSet(LabelRetentionSet(label: label, period: seconds))] }
    }

    /// The documents whose first version was sealed longer ago at `now` than
    /// their label's retention period, oldest first; names where this
    /// identity can read them.
    public func retentionDue(at now: Date = Date()) -> [RetentionDue] {
        guard !state.labelRetention.isEmpty else { return [] }
        return state.documents.inSealOrder.compactMap { document -> RetentionDue? in
            guard let period = state.labelRetention[document.label] else { return nil }
            let sealed = (document.older.first ?? document.current).sealedAt
            let age = now.timeIntervalSince(sealed)
            guard age > TimeInterval(period) else { return nil }
            return RetentionDue(
                id: document.id, name: canRead(document) ? (try? summary(of: document))?.name : nil, label: document.label,
                sealed: Timestamp.format(sealed), ageDays: Int(age / 86_400), periodDays: Int(period / 86_400), holds: document.holds)
        }
    }

    /// Deletes every document ``retentionDue(at:)`` lists that no legal hold
    /// keeps (administrators only; see ``delete(_:plan:)``), and reports the held ones.
    public func shredDueDocuments(at now: Date = Date(), plan: Bool) throws -> RetentionShredReport {
        try requireAdministrator("delete documents past their retention")
        let due = retentionDue(at: now)
        let free = due.filter(\.holds.isEmpty).map(\.id.description)
        let deleted = free.isEmpty ? DeletionReport(planned: plan) : try delete(free, plan: plan)
        return RetentionShredReport(deleted: deleted, held: due.filter { !$0.holds.isEmpty })
    }

    /// Destroys the key versions of `roleName` older than its current one in
    /// a signed `role.key.retire` entry (administrators only), once no
    /// document's current version is wrapped under them.
    /// - Throws: ``VaultError/conflict(_:)`` listing documents still wrapped
    ///   under those versions (run `coffer rotate role` first), ``VaultError/notPermitted(_:)``, ``VaultError/notFound(_:)``.
    public func retireOlderKeys(ofRole roleName: String, plan: Bool) throws -> RetirementReport {
        try requireAdministrator("retire role keys")
        let role = try self.role(named: roleName)
        let older = role.olderVersions
        guard !older.isEmpty else { return RetirementReport(role: role.name, planned: plan, retired: []) }
        guard !role.rotationDue else { throw VaultError.conflict("\(role.name) lost a member and needs a new key first: run `coffer rotate role \(role.name)`") }
        var blocking: [DocumentID] = []
        var after: DocumentID?
        while blocking.count < 16, let last = try documents(wrappedFor: role.id, after: after, limit: 4096, each: { document in
            if let wrap = document.current.wraps[role.id], wrap.roleVersion < role.currentVersion, blocking.count < 16 { blocking.append(document.id) }
        }) {
            after = last
        }
        guard blocking.isEmpty else {
            throw VaultError.conflict(
                "documents are still wrapped under the older keys of \(role.name) (\(blocking.map(\.description).joined(separator: ", "))\(blocking.count == 16 ? ", …" : "")); `coffer rotate role \(role.name)` rewraps them and retires the versions")
        }
        if !plan { try commit { _ in [.roleKeysRetired(RoleKeysRetired(role: role.id, before: role.currentVersion))] } }
        return RetirementReport(role: role.name, planned: plan, retired: older)
    }
}

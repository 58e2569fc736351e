import Foundation

/// Who can read a document now, and through which roles (`coffer access`).
public struct AccessReport: Codable, Sendable, Equatable {
    /// One role holding a wrap of the document's data key.
    public struct RoleAccess: Codable, Sendable, Equatable {
        /// The role's name.
        public let role: String
        /// Admin, personal or shared.
        public let kind: RoleKind
        /// Its clearance.
        public let clearance: String
        /// The role key version the wrap is under.
        public let keyVersion: UInt32
        /// Its members.
        public let members: [MemberSummary]
    }

    /// One identity that can read the document.
    public struct Reader: Codable, Sendable, Equatable {
        /// Who.
        public let member: MemberSummary
        /// The roles through which it can.
        public let via: [String]
    }

    /// The document.
    public let document: DocumentID
    /// Its name.
    public let name: String
    /// Its label.
    public let label: String
    /// Its owner (who sealed it first).
    public let owner: MemberSummary
    /// Its current generation.
    public let generation: UInt32
    /// The roles holding its data key.
    public let roles: [RoleAccess]
    /// Everyone who can read it.
    public let readers: [Reader]
    /// True while a re-key asked for by an unshare, relabel or revocation has not run yet.
    public let rekeyPending: Bool
}

/// What `share`, `unshare` and `relabel` changed.
public struct SharingReport: Codable, Sendable, Equatable {
    /// The documents whose access changed.
    public var documents: [DocumentID] = []
    /// The role concerned (share/unshare), or roles that lost access (relabel).
    public var roles: [String] = []
    /// Documents re-keyed afterwards.
    public var rekeyed: [DocumentID] = []
    /// Documents that needed nothing (already shared, already unshared).
    public var unchanged: [DocumentID] = []
}

extension Vault {
    /// Wraps each document's data key for `roleName` at its current key.
    /// The role must be cleared for each document's label; the identity must
    /// be an administrator or the document's owner.
    /// - Throws: ``VaultError/notPermitted(_:)`` (not cleared, not owner), ``VaultError/notFound(_:)``.
    public func share(_ queries: some Sequence<String>, withRole roleName: String) throws -> SharingReport {
        // What this call wrapped, kept across planning attempts: a batch committed before another
        // process made it plan again is this call's work, not "unchanged" in the report.
        var wrapped: [DocumentID] = []
        return try replanning {
            var role = try role(named: roleName)
            guard role.kind != .admin else { throw VaultError.invalidRequest("every document is already readable by admin") }
            guard role.kind != .personal || !role.members.isEmpty else { throw VaultError.conflict("\(roleName) belongs to a revoked identity") }
            // Every document is checked before anything is committed; only ids are kept.
            var report = SharingReport(roles: [role.name])
            var pending: [DocumentID] = []
            _ = try resolveDocumentIDs(queries) { document in
                try requireOwnerOrAdministrator(document, "share")
                guard role.clears(rank: state.rank(of: document.label) ?? Int.max, in: state) else {
                    throw VaultError.notPermitted("role \(role.name) is cleared for \(role.clearance) and document \(document.id) is labelled \(document.label)")
                }
                if document.current.wraps[role.id] == nil { pending.append(document.id) } else { report.unchanged.append(document.id) }
            }
            if role.rotationDue || role.hasOlderVersions {
                try requireAdministrator("share with \(role.name) while its rotation is unfinished (an administrator runs `coffer rotate role \(role.name)`)")
                _ = try finishRotation(of: role.id, newKey: false, plan: false)
                role = state.roles[role.id]!
            }
            // One entry and commit per batch, as for rewraps: bounded entries, and
            // bounded memory here and on replay. Each batch reads its documents
            // from the state the previous commit left.
            for start in stride(from: 0, to: pending.count, by: Self.rewrapBatchSize) {
                var records: [PackedWrap] = []
                for id in pending[start..<min(start + Self.rewrapBatchSize, pending.count)] {
                    guard let document = state.documents[id] else { throw VaultError.changedConcurrently("document \(id) was deleted meanwhile") }
                    guard document.current.wraps[role.id] == nil else {
                        report.unchanged.append(id)
                        continue
                    }
                    let (key, _) = try dataKey(of: document, version: document.current)
                    let record = try wrapRecord(key, document: id, generation: document.currentGeneration, label: document.label, role: role)
                    records.append(PackedWrap(document: id, generation: document.currentGeneration, wrapped: Array(record.wrapped)))
                    report.documents.append(id)
                }
                guard !records.isEmpty else { continue }
                try commit { _ in [.documentsShared(WrapBatch(role: role.id, version: role.currentVersion, records: PackedWrap.pack(records)))] }
                wrapped += records.map(\.document)
            }
            if wrapped.count > report.documents.count {
                let earlier = Set(wrapped[..<(wrapped.count - report.documents.count)])
                report.documents = wrapped
                report.unchanged.removeAll { earlier.contains($0) }
            }
            return report
        }
    }

    /// Removes each document's wrap for `roleName` and, because the role's
    /// members may have kept the data keys, re-keys the documents unless
    /// `rekey` is false (the ledger records which). Running it again
    /// finishes a re-key that was interrupted.
    public func unshare(_ queries: some Sequence<String>, fromRole roleName: String, rekey: Bool) throws -> SharingReport {
        return try replanning {
            let role = try role(named: roleName)
            var report = SharingReport(roles: [role.name])
            var removing: [DocumentID] = []
            let ids = try resolveDocumentIDs(queries) { document in
                try requireOwnerOrAdministrator(document, "unshare")
                guard role.kind == .shared || (role.kind == .personal && state.personalRole(of: document.owner)?.id != role.id) else {
                    throw VaultError.invalidRequest("a document always stays readable by its owner and by admin")
                }
                if document.current.wraps[role.id] != nil {
                    removing.append(document.id)
                } else if !document.rekeyDue {
                    report.unchanged.append(document.id)
                }
            }
            if !removing.isEmpty {
                try commit { _ in [.documentsUnshared(DocumentsUnshared(role: role.id, documents: removing, rekey: rekey))] }
            }
            report.documents = removing
            if rekey {
                let due = ids.filter { state.documents[$0]?.rekeyDue == true }
                report.rekeyed = try self.rekey(due, plan: false)
            }
            return report
        }
    }

    /// Moves a document to another label (administrators only): every wrap
    /// is rebound to the new label, and roles not cleared for it lose their
    /// wrap; the document is then re-keyed unless `rekey` is false.
    public func relabel(_ query: String, to label: String, rekey: Bool) throws -> SharingReport {
        return try replanning {
            try requireAdministrator("relabel documents")
            guard let newRank = state.rank(of: label) else { throw VaultError.unknownLabel(label, known: state.labels) }
            let document = try document(matching: query).0
            var report = SharingReport()
            guard document.label != label else {
                // Already relabelled: finish a re-key an interrupted run left pending.
                if document.rekeyDue && rekey { report.rekeyed = try self.rekey([document.id], plan: false) } else { report.unchanged = [document.id] }
                return report
            }
            report.documents = [document.id]
            for roleID in document.current.wraps.keys where state.roles[roleID]!.rotationDue || state.roles[roleID]!.hasOlderVersions {
                _ = try finishRotation(of: roleID, newKey: false, plan: false)
            }
            let current = state.documents[document.id]!
            let (key, _) = try dataKey(of: current, version: current.current)
            let roles = current.current.wraps.keys.map { state.roles[$0]! }
            let kept = roles.filter { $0.clears(rank: newRank, in: state) }.sorted { $0.id < $1.id }
            report.roles = roles.filter { !$0.clears(rank: newRank, in: state) }.map(\.name).sorted()
            let wraps = try kept.map { try wrapRecord(key, document: current.id, generation: current.currentGeneration, label: label, role: $0) }
            let dropsRoles = !report.roles.isEmpty
            try commit { _ in
                [.documentRelabeled(DocumentRelabeled(
                    document: current.id, generation: current.currentGeneration, label: label, wraps: wraps, rekey: rekey && dropsRoles))]
            }
            if rekey && dropsRoles { report.rekeyed = try self.rekey([current.id], plan: false) }
            return report
        }
    }

    /// Who can read a document now, through which roles.
    public func access(_ query: String) throws -> AccessReport {
        let summary = try resolve(query)
        let document = state.documents[summary.id]!
        var via: [String: [String]] = [:]
        let roles = document.current.wraps.compactMap { roleID, wrap -> AccessReport.RoleAccess? in
            guard let role = state.roles[roleID] else { return nil }
            for member in role.members { via[member, default: []].append(role.name) }
            return AccessReport.RoleAccess(
                role: role.name, kind: role.kind, clearance: role.clearance, keyVersion: wrap.roleVersion,
                members: role.members.sorted().map(memberSummary))
        }.sorted { $0.role < $1.role }
        let readers = via.map { AccessReport.Reader(member: memberSummary($0.key), via: $0.value.sorted()) }
            .sorted { ($0.member.name, $0.member.fingerprint) < ($1.member.name, $1.member.fingerprint) }
        return AccessReport(
            document: document.id, name: summary.name, label: document.label, owner: memberSummary(document.owner),
            generation: document.currentGeneration, roles: roles, readers: readers, rekeyPending: document.rekeyDue)
    }

    /// The distinct readable documents `queries` name, as ids in order;
    /// with `folders`, a query ending in `/` names every readable document
    /// under that folder. `check` sees each document once, as it is
    /// resolved, and may throw to refuse it; only the ids are kept, so a
    /// list of a million documents costs 16 bytes a document, not the
    /// documents themselves. `queries` is read once per call (an operation
    /// planned again reads it again).
    func resolveDocumentIDs(
        _ queries: some Sequence<String>, folders: Bool = false, check: (VaultState.Document) throws -> Void = { _ in }
    ) throws -> [DocumentID] {
        var seen = Set<DocumentID>()
        var ids: [DocumentID] = []
        var named = false
        for query in queries {
            named = true
            if folders && query.hasSuffix("/") {
                for summary in try documents(inFolder: query) where seen.insert(summary.id).inserted {
                    guard let document = state.documents[summary.id] else { throw VaultError.documentNotFound(summary.id.description) }
                    try check(document)
                    ids.append(summary.id)
                }
            } else {
                let document = try document(matching: query).0
                guard seen.insert(document.id).inserted else { continue }
                try check(document)
                ids.append(document.id)
            }
        }
        guard named else { throw VaultError.invalidRequest("name at least one document") }
        return ids
    }

    /// The readable documents under `folder` (a name ending in `/`), in seal order.
    /// - Throws: ``VaultError/documentNotFound(_:)`` if there is none.
    func documents(inFolder folder: String) throws -> [DocumentSummary] {
        let documents = try list(folder: folder).documents
        guard !documents.isEmpty else { throw VaultError.documentNotFound(folder) }
        return documents
    }

    /// Throws unless this identity owns `document` or is an administrator.
    func requireOwnerOrAdministrator(_ document: VaultState.Document, _ action: String) throws {
        guard state.admins.contains(identity.fingerprint) || document.owner == identity.fingerprint else {
            throw VaultError.notPermitted("only document \(document.id)'s owner or an administrator may \(action) it")
        }
    }
}

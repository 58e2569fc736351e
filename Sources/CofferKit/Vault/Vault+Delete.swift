import Foundation

/// What `coffer delete` removed, or would remove with `--plan`.
public struct DeletionReport: Codable, Sendable, Equatable {
    /// One document deleted (or to be deleted).
    public struct Document: Codable, Sendable, Equatable {
        /// Its id.
        public let id: DocumentID
        /// Its name.
        public let name: String
        /// Its label.
        public let label: String
        /// Its plaintext size (current version).
        public let size: UInt64
        /// Who sealed it first.
        public let owner: MemberSummary
        /// How many versions it has (all of them go).
        public let versions: Int
        /// The objects of those versions, which the next `coffer gc` deletes.
        public let objects: Int
        /// The roles whose wraps of its data key are removed.
        public let roles: [String]
    }

    /// Whether this is a plan (nothing was changed).
    public var planned: Bool
    /// The documents this command deleted (or would delete).
    public var documents: [Document] = []
    /// Documents named by id that were deleted already (by another command or earlier), untouched.
    public var alreadyDeleted: [DocumentID] = []
}

extension Vault {
    /// Deletes documents for good (their owner or an administrator): each
    /// version's wraps leave the state in a signed `document.delete` entry,
    /// nothing can open, share or export them afterwards, and the next
    /// ``collectGarbage(grace:plan:)`` deletes their objects. The history
    /// (who sealed and read them, and this deletion) stays in the ledger.
    ///
    /// `queries` are ids, id prefixes, exact names, or folders (a name
    /// ending in `/`: every readable document under it). A full id of a
    /// document already deleted is reported in ``DeletionReport/alreadyDeleted``
    /// rather than failing, so that a repeated or concurrent run succeeds.
    /// All documents are checked before anything is deleted; they are
    /// deleted in entries of up to `rewrapBatchSize` documents each.
    /// - Throws: ``VaultError/notPermitted(_:)`` for a document this identity
    ///   neither owns nor administers, ``VaultError/conflict(_:)`` for one under
    ///   a legal hold (nothing is deleted),
    ///   ``VaultError/documentNotFound(_:)``, ``VaultError/ambiguous(_:matches:)``.
    public func delete(_ queries: some Sequence<String>, plan: Bool) throws -> DeletionReport {
        let startedAt = state.entryCount
        var report = DeletionReport(planned: plan)
        var targets: [DocumentID] = []
        var seen = Set<DocumentID>()
        var named = false
        for query in queries {
            named = true
            if let id = try? DocumentID(hex: query.lowercased()), state.documents.record(id)?.deletion != nil {
                if seen.insert(id).inserted { report.alreadyDeleted.append(id) }
                continue
            }
            for summary in try deletionCandidates(query) where seen.insert(summary.id).inserted {
                let document = state.documents[summary.id]!
                try requireOwnerOrAdministrator(document, "delete")
                try requireNotHeld(document)
                report.documents.append(planned(document, summary))
                targets.append(document.id)
            }
        }
        guard named else { throw VaultError.invalidRequest("name at least one document") }
        guard !plan else { return report }
        try replanning {
            // A document another process deleted meanwhile is left out of the entry (and reported below).
            let pending = targets.filter { state.documents[$0] != nil }
            for start in stride(from: 0, to: pending.count, by: Self.rewrapBatchSize) {
                let batch = Array(pending[start..<min(start + Self.rewrapBatchSize, pending.count)])
                try commit { state in
                    let live = batch.filter { state.documents[$0] != nil }
                    // Held meanwhile by an administrator: refused as before the first commit.
                    for id in live { try requireNotHeld(state.documents[id]!) }
                    return live.isEmpty ? [] : [.documentsDeleted(DocumentsDeleted(documents: live))]
                }
            }
        }
        let earlier = Set(targets.filter { (state.documents.record($0)?.deletion?.sequence ?? startedAt) < startedAt })
        report.alreadyDeleted += targets.filter(earlier.contains)
        report.documents.removeAll { earlier.contains($0.id) }
        return report
    }

    /// Throws ``VaultError/conflict(_:)`` if `document` is under a legal hold.
    private func requireNotHeld(_ document: VaultState.Document) throws {
        guard document.holds.isEmpty else {
            throw VaultError.conflict(
                "document \(document.id) is under legal hold \(document.holds.joined(separator: ", ")) and cannot be deleted; an administrator lifts a hold with `coffer release`")
        }
    }

    /// The readable documents `query` names: one, or a folder's.
    private func deletionCandidates(_ query: String) throws -> [DocumentSummary] {
        query.hasSuffix("/") ? try documents(inFolder: query) : [try resolve(query)]
    }

    private func planned(_ document: VaultState.Document, _ summary: DocumentSummary) -> DeletionReport.Document {
        let versions = document.older + [document.current]
        let objects = Set(versions.flatMap { [$0.manifest] + $0.segments })
        return DeletionReport.Document(
            id: document.id, name: summary.name, label: document.label, size: summary.size, owner: memberSummary(document.owner),
            versions: versions.count, objects: objects.count, roles: document.current.wraps.keys.compactMap { state.roles[$0]?.name }.sorted())
    }
}

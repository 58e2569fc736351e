import Foundation

/// What `coffer hold` placed or `coffer release` lifted.
public struct HoldReport: Codable, Sendable, Equatable {
    /// One hold and the documents it changed.
    public struct Hold: Codable, Sendable, Equatable {
        /// The hold's id.
        public let hold: String
        /// The documents placed under it, or released from it.
        public let documents: [DocumentID]
    }

    /// The holds changed (one for `hold`; for `release`, each hold a document was released from).
    public var holds: [Hold] = []
    /// Documents that were not under the hold named (`release`), untouched.
    public var unchanged: [DocumentID] = []
}

extension Vault {
    /// The longest hold reason accepted, in bytes.
    public static let maximumHoldReasonBytes = 1000

    /// Places documents (ids, names, or folders: a name ending in `/`) under
    /// a new legal hold (administrators only), in one
    /// `document.hold` entry: until an administrator releases them, the
    /// ledger refuses their deletion, whoever asks. `reason` (a matter, a
    /// case number) is sealed for the administrators.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/invalidRequest(_:)``
    ///   for an empty or overlong reason, and the errors of naming documents.
    public func hold(_ queries: some Sequence<String>, reason: String) throws -> HoldReport {
        try requireAdministrator("place legal holds")
        guard !reason.isEmpty, reason.utf8.count <= Self.maximumHoldReasonBytes else {
            throw VaultError.invalidRequest("a hold needs a reason of 1 to \(Self.maximumHoldReasonBytes) bytes")
        }
        let documents = try resolveDocumentIDs(queries, folders: true)
        let hold = HoldID.random()
        return try replanning {
            try commit { state in
                for id in documents where state.documents[id] == nil { throw VaultError.documentNotFound(id.description) }
                let details = try sealDetails(HoldDetails(reason: reason), action: "document.hold", subject: hold, state: state)
                return [.documentsHeld(DocumentsHeld(hold: hold, documents: documents, details: details))]
            }
            return HoldReport(holds: [.init(hold: hold, documents: documents)])
        }
    }

    /// Releases documents from the legal hold `hold`, or from every hold they
    /// are under when `hold` is nil (administrators only): one
    /// `document.release` entry per hold. A document not under the hold is
    /// reported as unchanged.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/notFound(_:)`` for an unknown hold.
    public func release(_ queries: some Sequence<String>, hold: String?) throws -> HoldReport {
        try requireAdministrator("release legal holds")
        if let hold, state.holds[hold] == nil { throw VaultError.notFound("no legal hold \(hold.debugDescription) in this vault") }
        let ids = try resolveDocumentIDs(queries, folders: true)
        return try replanning {
            var report = HoldReport()
            var byHold: [String: [DocumentID]] = [:]
            for id in ids {
                let held = state.documents[id]?.holds ?? []
                let releasing = hold.map { held.contains($0) ? [$0] : [] } ?? held
                if releasing.isEmpty { report.unchanged.append(id) }
                for hold in releasing { byHold[hold, default: []].append(id) }
            }
            for (hold, documents) in byHold.sorted(by: { $0.key < $1.key }) {
                try commit { _ in [.documentsReleased(DocumentsReleased(hold: hold, documents: documents))] }
                report.holds.append(.init(hold: hold, documents: documents))
            }
            return report
        }
    }
}

/// Where a ``DocumentTable`` reads the documents it has not changed: one
/// consistent, verified snapshot (an identity's ``StateStore``).
protocol DocumentSource: AnyObject, Sendable {
    /// How many documents the snapshot holds.
    var documentCount: Int { get }
    /// The document `id`, if the snapshot has it.
    func document(_ id: DocumentID) -> VaultState.Document?
    /// Up to `limit` documents whose ids are at least `from` (compared as
    /// bytes, a shorter string before its extensions), in id order.
    func documents(from: [UInt8], limit: Int) -> [VaultState.Document]
    /// Up to `limit` documents after `position` (nil: from the first), in
    /// the order they were first sealed (``VaultState/Document/sealOrder``).
    func documents(sealedAfter position: VaultState.SealPosition?, limit: Int) -> [VaultState.Document]
    /// Up to `limit` documents that the snapshot's role index says are
    /// wrapped for `role` (candidates, to be checked), with ids after
    /// `after`, in id order.
    func documents(heldBy role: RoleID, after: DocumentID?, limit: Int) -> [VaultState.Document]
}

/// The documents of a ``VaultState``: the ones changed since the state was
/// loaded, in memory, over a `DocumentSource` that holds the rest.
///
/// A state replayed from the first entry has no source and holds every
/// document in memory; a state loaded from an identity's `StateStore`
/// reads a document from the store only when it is asked for, so a command
/// that touches one document of a million reads one record. Copies are
/// cheap (the changes are copy-on-write; the source is shared and never
/// changes under a copy).
public struct DocumentTable: Sendable, Equatable, Sequence {
    private var changes: [DocumentID: VaultState.Document] = [:]
    /// Documents in `changes` that the source does not hold.
    private var added: Set<DocumentID> = []
    /// The source's record of each document in `changes` that it holds, as
    /// read when the document was first changed: what a save compares the
    /// change with to know which index rows it must write.
    private var originals: [DocumentID: VaultState.Document] = [:]
    let source: (any DocumentSource)?
    /// How many records there are: documents, deleted ones included.
    public private(set) var count: Int

    /// An empty table, or the documents of `source`.
    init(source: (any DocumentSource)? = nil) {
        self.source = source
        count = source?.documentCount ?? 0
    }

    /// The document `id`, if it exists and was not deleted. Setting a
    /// document adds or replaces it (records are never removed: a deleted
    /// document stays as a record that only ``record(_:)`` returns).
    public subscript(id: DocumentID) -> VaultState.Document? {
        get { record(id).flatMap { $0.deletion == nil ? $0 : nil } }
        set {
            guard let newValue else { return }
            if changes[id] == nil, !added.contains(id) {
                if let original = source?.document(id) {
                    originals[id] = original
                } else {
                    added.insert(id)
                    count += 1
                }
            }
            changes[id] = newValue
        }
    }

    /// The record of document `id`, deleted or not.
    public func record(_ id: DocumentID) -> VaultState.Document? {
        changes[id] ?? source?.document(id)
    }

    /// The documents changed or added since the source's snapshot.
    var changed: Dictionary<DocumentID, VaultState.Document>.Values { changes.values }

    /// How many documents are changed or added since the source's snapshot.
    var changedCount: Int { changes.count }

    /// The source's record of the changed document `id` (nil if the source
    /// does not hold it, or it was not changed).
    func original(of id: DocumentID) -> VaultState.Document? { originals[id] }

    /// Every document not deleted: the source's in id order (a page at a
    /// time, so memory stays flat), each replaced by its changed copy, then the added ones.
    public var values: DocumentTable { self }

    public func makeIterator() -> Iterator { Iterator(table: self, order: .id, includingDeleted: false) }

    /// Every document not deleted, in the order they were first sealed
    /// (oldest first), read a page at a time like ``values``.
    public var inSealOrder: SealOrder { SealOrder(table: self, includingDeleted: false) }

    /// Every record, deleted documents' too, in seal order: what ``count`` counts.
    public var recordsInSealOrder: SealOrder { SealOrder(table: self, includingDeleted: true) }

    /// The documents of a table in the order they were first sealed.
    public struct SealOrder: Sequence {
        let table: DocumentTable
        let includingDeleted: Bool

        public func makeIterator() -> Iterator { Iterator(table: table, order: .sealed, includingDeleted: includingDeleted) }
    }

    /// Walks a ``DocumentTable`` in id order or in seal order.
    public struct Iterator: IteratorProtocol {
        enum Order { case id, sealed }
        private let table: DocumentTable
        private let order: Order
        private var page: [VaultState.Document] = []
        private var pageIndex = 0
        private var lastFromSource: VaultState.Document?
        private var sourceDone: Bool
        private var addedDocuments: [VaultState.Document]?
        private let includingDeleted: Bool

        init(table: DocumentTable, order: Order, includingDeleted: Bool) {
            self.table = table
            self.order = order
            self.includingDeleted = includingDeleted
            sourceDone = table.source == nil
        }

        public mutating func next() -> VaultState.Document? {
            while let record = nextRecord() {
                if includingDeleted || record.deletion == nil { return record }
            }
            return nil
        }

        private mutating func nextRecord() -> VaultState.Document? {
            while !sourceDone {
                if pageIndex == page.count {
                    page = nextPage()
                    pageIndex = 0
                    guard let last = page.last else {
                        sourceDone = true
                        break
                    }
                    lastFromSource = last
                }
                let document = page[pageIndex]
                pageIndex += 1
                return table.changes[document.id] ?? document
            }
            if addedDocuments == nil {
                // Popped from the end: ascending.
                let added = table.added.compactMap { table.changes[$0] }
                addedDocuments = order == .id ? added.sorted { $0.id > $1.id } : added.sorted { $0.sealOrder > $1.sealOrder }
            }
            return addedDocuments?.popLast()
        }

        private func nextPage() -> [VaultState.Document] {
            guard let source = table.source else { return [] }
            switch order {
            // The smallest id after the last one: its bytes and one more.
            case .id: return source.documents(from: lastFromSource.map { $0.id.bytes + [0] } ?? [], limit: 512)
            case .sealed: return source.documents(sealedAfter: lastFromSource?.sealOrder, limit: 512)
            }
        }
    }

    /// Up to `limit` records of the source's documents that its role index
    /// lists for `role`, deleted ones included, with ids after `after`, in
    /// id order, each replaced by its changed copy. Only a table with a
    /// source has a role index (nil otherwise); it does not list the
    /// documents added since the source's snapshot.
    func records(heldBy role: RoleID, after: DocumentID?, limit: Int) -> [VaultState.Document]? {
        source?.documents(heldBy: role, after: after, limit: limit).map { changes[$0.id] ?? $0 }
    }

    /// The documents whose id (in hex) starts with `prefix`, at most
    /// `limit` of them: found through the source's index, not by reading every document.
    func documents(withIDPrefix prefix: String, limit: Int) -> [VaultState.Document] {
        let prefix = prefix.lowercased()
        var found = changes.values.filter { $0.deletion == nil && $0.id.description.hasPrefix(prefix) }
        guard let source, prefix.allSatisfy(\.isHexDigit) else { return Array(found.prefix(limit)) }
        // The prefix's bytes (an odd last digit as the high half of a byte) are the lowest id that can match.
        let digits = prefix.compactMap(\.hexDigitValue).map(UInt8.init)
        var from = stride(from: 0, to: digits.count, by: 2).map { digits[$0] << 4 | (($0 + 1 < digits.count) ? digits[$0 + 1] : 0) }
        while found.count < limit {
            let page = source.documents(from: from, limit: 64)
            for document in page {
                guard document.id.description.hasPrefix(prefix) else { return Array(found.prefix(limit)) }
                if changes[document.id] == nil, document.deletion == nil { found.append(document) }
            }
            guard let last = page.last, page.count == 64 else { break }
            from = last.id.bytes + [0]
        }
        return Array(found.prefix(limit))
    }

    public static func == (a: DocumentTable, b: DocumentTable) -> Bool {
        a.count == b.count && a.recordsInSealOrder.allSatisfy { b.record($0.id) == $0 }
    }
}

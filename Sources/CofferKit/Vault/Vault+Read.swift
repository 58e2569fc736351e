import Foundation

/// One row of `coffer ls`.
public struct DocumentSummary: Codable, Sendable, Equatable {
    /// Document id.
    public let id: DocumentID
    /// Name from the decrypted metadata.
    public let name: String
    /// Plaintext size in bytes.
    public let size: UInt64
    /// Classification label.
    public let label: String
    /// The key generation of the version described (the current one, unless an older revision was asked for).
    public let generation: UInt32
    /// Which revision of the content it describes (from 1; see ``Vault/history(of:)``).
    public let revision: UInt32
    /// When the current version was sealed (RFC 3339).
    public let sealedAt: String
    /// Fingerprint of who sealed it.
    public let sealedBy: String
    /// Display name of who sealed it.
    public let sealedByName: String
}

/// What `coffer ls` shows: the readable documents, and those whose key or
/// metadata failed to open (tampering), so one bad document hides nothing else.
public struct DocumentListing: Sendable {
    /// Documents that opened, in the order they were first sealed.
    public let documents: [DocumentSummary]
    /// Documents this identity should be able to read but could not, with why.
    public let failures: [DocumentFailure]
}

/// A document whose key or metadata did not open.
public struct DocumentFailure: Codable, Sendable, Equatable {
    /// The document.
    public let id: DocumentID
    /// What went wrong (no secret material).
    public let reason: String
    /// The failure's class (integrity for tampering).
    public let kind: String
}

extension Vault {
    /// The documents this identity can read, with decrypted names and sizes,
    /// in the order they were first sealed (see ``list(folder:label:role:each:)``).
    public func list(folder: String? = nil, label: String? = nil, role roleName: String? = nil) throws -> DocumentListing {
        var rows: [DocumentSummary] = []
        let failures = try list(folder: folder, label: label, role: roleName) { rows.append($0) }
        return DocumentListing(documents: rows, failures: failures)
    }

    /// Calls `each` with every document this identity can read, with its
    /// decrypted name and size, as it is read: in the order the documents
    /// were first sealed (oldest first; ``VaultState/Document/sealOrder``),
    /// a page at a time, so the first arrives at once and memory stays flat
    /// however large the vault. A document whose wrap or metadata fails to
    /// open is returned as a failure instead of stopping the listing.
    ///
    /// Filters narrow the listing: `folder` to names under that folder
    /// (`reports` or `reports/`: names starting with `reports/`), `label` to
    /// one label, `role` to documents shared with that role. With a saved
    /// state they are answered from its indexes (label, role holders, and the
    /// keyed name index), so only the matching documents are read and
    /// decrypted; every match is checked against the authenticated record
    /// and the decrypted name.
    /// - Returns: the documents that failed to open, in id order.
    /// - Throws: ``VaultError/integrity(_:)`` if a record of this identity's
    ///   saved state did not authenticate, or an unfiltered listing found
    ///   fewer records than the authenticated count (a record deleted from the store);
    ///   ``VaultError/notFound(_:)`` for an unknown role; ``VaultError/unknownLabel(_:known:)``.
    @discardableResult
    public func list(folder: String? = nil, label: String? = nil, role roleName: String? = nil, each: (DocumentSummary) throws -> Void) throws -> [DocumentFailure] {
        if let label, !state.labels.contains(label) { throw VaultError.unknownLabel(label, known: state.labels) }
        let role = try roleName.map { try self.role(named: $0) }
        let folder = folder.map { $0.hasSuffix("/") ? $0 : $0 + "/" }
        func admits(_ document: VaultState.Document) -> Bool {
            document.deletion == nil && canRead(document) && (label.map { document.label == $0 } ?? true) && (role.map { document.current.wraps[$0.id] != nil } ?? true)
        }
        var failures: [DocumentFailure] = []
        var seen = 0
        for document in try candidates(folder: folder, label: label, role: role?.id) {
            seen += 1
            guard admits(document) else { continue }
            let summary: DocumentSummary
            do {
                summary = try self.summary(of: document)
            } catch {
                let kind = (error as? any CofferFailure)?.kind ?? .general
                failures.append(DocumentFailure(id: document.id, reason: "\(error)", kind: kind.rawValue))
                continue
            }
            if let folder, !summary.name.hasPrefix(folder) { continue }
            try each(summary)
        }
        try store?.requireIntact()
        if folder == nil, label == nil, role == nil, seen != state.documents.count {
            try store?.discard(because: "it lists \(seen) document records where its authenticated core counts \(state.documents.count)")
        }
        return failures.sorted { $0.id < $1.id }
    }

    /// The documents a listing must look at, in seal order: from the saved
    /// state's indexes when there is a filter (the narrowest of them, plus
    /// the documents changed and not yet saved), else every document.
    private func candidates(folder: String?, label: String?, role: RoleID?) throws -> AnySequence<VaultState.Document> {
        // Unfiltered, every record is looked at (deleted ones are not admitted), so that the count can be checked.
        guard let store, folder != nil || label != nil || role != nil else { return AnySequence(state.documents.recordsInSealOrder) }
        var sets: [[DocumentID]] = []
        if let folder {
            try indexNames(in: store)
            sets.append(try store.documents(inFolder: folder))
        }
        if let label { sets.append(try store.documents(labelled: label)) }
        if let role { sets.append(try store.documents(heldBy: role)) }
        var seen = Set<DocumentID>()
        let ids = (sets.min { $0.count < $1.count } ?? []) + state.documents.changed.map(\.id)
        let documents = ids.filter { seen.insert($0).inserted }.compactMap { state.documents[$0] }
        return AnySequence(documents.sorted { $0.sealOrder < $1.sealOrder })
    }

    /// Decrypts a document's metadata into its summary.
    func summary(of document: VaultState.Document) throws -> DocumentSummary {
        let (key, _) = try dataKey(of: document, version: document.current)
        return try summary(of: document, version: document.current, key: key)
    }

    /// Decrypts `version`'s metadata (with its data key `key`) into a summary.
    func summary(of document: VaultState.Document, version: VaultState.Version, key: DataKey) throws -> DocumentSummary {
        let meta = try metadata(of: document, version: version, key: key)
        return DocumentSummary(
            id: document.id, name: meta.name, size: meta.size, label: document.label, generation: version.generation, revision: version.revision,
            sealedAt: Timestamp.format(version.sealedAt), sealedBy: version.sealedBy,
            sealedByName: state.identities[version.sealedBy]?.name ?? "")
    }

    /// Finds a readable document by exact id, unique id prefix (at least 4
    /// hex digits), or exact name. Ids are matched without decrypting
    /// anything; names are matched against the documents that open.
    /// - Throws: ``VaultError/documentNotFound(_:)``, ``VaultError/ambiguous(_:matches:)``,
    ///   ``VaultError/accessDenied(document:)`` for a document this identity cannot read.
    public func resolve(_ query: String) throws -> DocumentSummary {
        let (document, named) = try document(matching: query)
        return try named ?? summary(of: document)
    }

    /// The readable document `query` names (as for ``resolve(_:)``), and its
    /// summary when finding it by name already decrypted it. An id or id
    /// prefix is found without decrypting anything: commands that only need
    /// the document (share, re-key) skip the metadata.
    func document(matching query: String) throws -> (VaultState.Document, DocumentSummary?) {
        let lower = query.lowercased()
        var byID: [VaultState.Document] = []
        if let id = try? DocumentID(hex: lower), let document = state.documents.record(id) {
            if let deletion = document.deletion {
                throw VaultError.documentDeleted(
                    document: id.description, by: displayName(ofMember: deletion.actor), at: Timestamp.format(deletion.time), entry: deletion.sequence)
            }
            byID = [document]
        } else if lower.utf8.count >= 4, lower.allSatisfy(\.isHexDigit) {
            // Two are enough to call the prefix ambiguous; the error lists up to 16.
            byID = state.documents.documents(withIDPrefix: lower, limit: 16)
        }
        if byID.count > 1 { throw VaultError.ambiguous(query, matches: byID.map(\.id.description).sorted()) }
        if let document = byID.first {
            guard canRead(document) else { throw VaultError.accessDenied(document: document.id.description) }
            return (document, nil)
        }
        let named = try documents(named: query)
        if named.count > 1 { throw VaultError.ambiguous(query, matches: named.map { candidateDescription($0.summary) }.sorted()) }
        guard let (document, summary) = named.first else { throw VaultError.documentNotFound(query) }
        return (document, summary)
    }

    /// The readable documents named exactly `name`: through this identity's
    /// name index when it has a saved state (the documents saved since the
    /// last lookup are indexed first), else by decrypting every name.
    /// Every match is checked against the document's own metadata.
    /// - Throws: ``VaultError/integrity(_:)`` if a saved record did not authenticate.
    func documents(named name: String) throws -> [(document: VaultState.Document, summary: DocumentSummary)] {
        guard let store else {
            return try list().documents.filter { $0.name == name }.compactMap { summary in state.documents[summary.id].map { ($0, summary) } }
        }
        try indexNames(in: store)
        var seen = Set<DocumentID>()
        var found: [(document: VaultState.Document, summary: DocumentSummary)] = []
        // Documents changed in this process and not yet saved are not in the index yet.
        for id in try store.documents(named: name) + state.documents.changed.map(\.id) where seen.insert(id).inserted {
            guard let document = state.documents[id], canRead(document), let summary = try? summary(of: document), summary.name == name else { continue }
            found.append((document, summary))
        }
        try store.requireIntact()
        return found
    }

    /// Indexes the names of the documents queued since the last lookup.
    private func indexNames(in store: StateStore) throws {
        while true {
            // A document this state does not know was saved by a newer process of this
            // identity: it stays queued for a lookup made from a state that knows it.
            let queued = try store.unnamedDocuments(limit: 1024).filter { state.documents[$0] != nil }
            guard !queued.isEmpty else { return }
            let named = queued.compactMap { id -> (id: DocumentID, name: String)? in
                guard let document = state.documents[id], canRead(document), let summary = try? summary(of: document) else { return nil }
                return (id, summary.name)
            }
            try store.requireIntact()
            try store.index(named, indexed: queued)
        }
    }

    /// Decrypts a document to `destination` and records the read in the ledger.
    /// Standard output receives authenticated frames as they are checked (a
    /// later failure leaves earlier output written and throws); a file is
    /// written under a temporary name and renamed into place only after the
    /// last frame authenticated (see ``OutputTarget``).
    /// - Parameters:
    ///   - query: a document id, unique id prefix or exact name (see ``resolve(_:)``).
    ///   - revision: an earlier revision to open (see ``history(of:)``); the current one by default.
    ///   - destination: a file or standard output.
    /// - Returns: the document opened (the revision's summary).
    /// - Throws: ``OutputError/exists(path:)`` (nothing written),
    ///   ``VaultError/integrity(_:)`` (tampering; no file is left behind),
    ///   ``VaultError/accessDenied(document:)``, ``VaultError/notFound(_:)`` for a revision it does not keep.
    @discardableResult
    public func open(_ query: String, revision: UInt32? = nil, to destination: OutputTarget) throws -> DocumentSummary {
        try requireWritable()  // the read must be recorded; refused before any plaintext is produced
        return try replanning {
            let read = try reading(query, revision: revision)
            try destination.checkAvailable()
            // The read is in the ledger before any plaintext leaves: before the
            // stream starts, or before the file is renamed into place.
            let writer = try OutputWriter(destination)
            if let file = try writer.cacheBypassingWriter() {
                // Each segment goes to its place in the file from the worker
                // that opened it: writes overlap, and skip the page cache.
                try decrypt(read, placingIn: file)
                try recordRead(read)
                try writer.commit()
            } else {
                try recordRead(read)
                try decrypt(read) { try writer.write($0) }
            }
            return read.summary
        }
    }

    /// Decrypts a document into memory, after recording the read in the
    /// ledger (as ``open(_:revision:to:)``): for documents up to `limit` bytes (1 GiB
    /// by default); a larger one is refused before anything is read (use
    /// ``open(_:revision:to:)`` with a file, which streams in constant memory).
    /// - Returns: the plaintext, authenticated in full.
    /// - Throws: as ``open(_:revision:to:)``; ``VaultError/invalidRequest(_:)`` above `limit`.
    public func contents(of query: String, revision: UInt32? = nil, limit: UInt64 = 1 << 30) throws -> [UInt8] {
        try requireWritable()
        return try replanning {
            let read = try reading(query, revision: revision)
            guard read.summary.size <= limit else {
                throw VaultError.invalidRequest("\(read.summary.name) is \(read.summary.size) bytes, more than the \(limit) this reads into memory; open it to a file")
            }
            var plaintext: [UInt8] = []
            plaintext.reserveCapacity(Int(read.summary.size))
            try decrypt(read) { plaintext += $0 }
            try recordRead(read)
            return plaintext
        }
    }

    /// Records the read of `query` in the ledger, then decrypts it into
    /// `sink` as its frames authenticate (as ``open(_:revision:to:)`` does to
    /// standard output: a later failure throws after earlier chunks).
    func stream(_ query: String, revision: UInt32?, into sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        try requireWritable()
        try replanning {
            let read = try reading(query, revision: revision)
            try recordRead(read)
            try decrypt(read, sink: sink)
        }
    }

    /// What opening one revision of a document needs: the version, its key, the role that opened it, its summary.
    struct Reading {
        let document: VaultState.Document
        let version: VaultState.Version
        let key: DataKey
        let via: RoleID
        let summary: DocumentSummary
    }

    /// Finds the document `query` names and unlocks `revision` of it (the current one if nil).
    func reading(_ query: String, revision: UInt32? = nil) throws -> Reading {
        let (document, named) = try document(matching: query)
        guard let revision, revision != document.current.revision else {
            let (key, via) = try dataKey(of: document, version: document.current)
            let summary = try named ?? summary(of: document, version: document.current, key: key)
            return Reading(document: document, version: document.current, key: key, via: via, summary: summary)
        }
        let (version, key, via) = try self.revision(revision, of: document)
        return Reading(document: document, version: version, key: key, via: via, summary: try summary(of: document, version: version, key: key))
    }

    /// Records in the ledger that this identity read the version of `read` through its role.
    private func recordRead(_ read: Reading) throws {
        try commit { _ in [.documentOpened(DocumentOpened(document: read.document.id, generation: read.version.generation, via: read.via))] }
    }

    /// Decrypts the current version of `document` into `sink` (authenticated
    /// plaintext only, in order) and checks its size against the metadata.
    /// Records nothing: callers record the read (`open`) or the export (bundles).
    /// - Returns: the role whose key opened it.
    func decrypt(_ document: VaultState.Document, summary: DocumentSummary, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> RoleID {
        let (key, via) = try dataKey(of: document, version: document.current)
        try decrypt(Reading(document: document, version: document.current, key: key, via: via, summary: summary), sink: sink)
        return via
    }

    /// Decrypts the version of `read` into `file` (see
    /// ``ContentStream/open(_:key:placingIn:sink:)``), or else into `sink`, and checks its size.
    private func decrypt(_ read: Reading, placingIn file: CacheBypassingWriter? = nil, sink: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws {
        progress?.expect(read.summary.size)
        let size = try ContentStream(store: objects, progress: progress).open(try readManifest(read.version), key: read.key, placingIn: file, sink: sink)
        try checkSize(size, read.summary)
    }

    private func checkSize(_ size: UInt64, _ summary: DocumentSummary) throws {
        guard size == summary.size else {
            throw VaultError.integrity("document \(summary.id) decrypted to \(size) bytes but its metadata says \(summary.size)")
        }
    }

    /// Reads, checks against its name, and parses a version's manifest,
    /// and checks that it lists the segments the ledger recorded.
    func readManifest(_ version: VaultState.Version) throws -> Manifest {
        let bytes = try objects.read(version.manifest)
        guard version.manifest.names(bytes) else { throw ObjectStoreError.corrupt(version.manifest) }
        let manifest = try Manifest(parsing: bytes)
        guard manifest.objectHash == version.manifest.hash, manifest.segments == version.segments, manifest.generation == version.generation else {
            throw VaultError.integrity("manifest \(version.manifest) does not match the ledger")
        }
        return manifest
    }
}

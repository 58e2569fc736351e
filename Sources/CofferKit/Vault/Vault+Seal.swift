#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// One sealed document, as `coffer seal` reports it.
public struct SealedDocument: Codable, Sendable, Equatable {
    /// The document's id.
    public let id: DocumentID
    /// Its name.
    public let name: String
    /// Its plaintext size in bytes.
    public let size: UInt64
    /// Its label.
    public let label: String
    /// The revision this seal made: 1 for a new document, the next one when
    /// the name was already a document's; the current one if `unchanged`.
    public let revision: UInt32
    /// The content was the current revision's already: nothing was added.
    public let unchanged: Bool
}

extension Vault {
    /// Documents sealed in one batch are committed in one transaction.
    static let sealBatchSize = 256

    /// The label used when none is given: `internal` if the vault has it, else the lowest.
    public var defaultLabel: String { state.labels.contains("internal") ? "internal" : state.labels[0] }

    /// Seals files and folders (recursively), one document per regular file,
    /// and returns them in input order: for a few documents. A folder of any
    /// size is sealed in constant memory by
    /// ``seal(paths:name:label:onSealed:)``, which keeps no list.
    ///
    /// - Throws: as ``seal(paths:name:label:onSealed:)``.
    @discardableResult
    public func seal(paths: [String], name: String? = nil, label: String? = nil) throws -> [SealedDocument] {
        var sealed: [SealedDocument] = []
        try seal(paths: paths, name: name, label: label) { sealed.append($0) }
        return sealed
    }

    /// Seals files and folders (recursively), one document per regular file.
    /// Files in a folder are named by their path relative to the folder's
    /// parent (`reports/q3.pdf`). `name` renames a single file. Every name
    /// must pass ``DocumentName/check(_:)``; all are checked before the first
    /// document is sealed, by a first walk of the folders that keeps nothing
    /// (the second walk seals, checking each name again: a file that appears
    /// in between with an unsafe name stops it there). Memory stays flat
    /// whatever the number of files: only the listing of the folder being
    /// walked and one batch are held.
    ///
    /// A name that is already a readable document's seals a new revision of
    /// that document (its owner or an administrator only; it keeps its label
    /// and its roles), unless the content is the current revision's, which
    /// adds nothing. A name several readable documents share is refused.
    ///
    /// - Parameters:
    ///   - paths: files or directories; `-` reads standard input (then `name` is required).
    ///   - name: the document's name, for a single input (default: its path relative to its folder's parent, or its file name).
    ///   - label: the label of new documents (the vault's default if nil); a new revision keeps its document's.
    ///   - onSealed: called for each document, in input order, once its batch is committed;
    ///     an error it throws stops the seal (the batch stays committed).
    /// - Throws: ``VaultError/unknownLabel(_:known:)``, ``VaultError/invalidRequest(_:)``, ``VaultError/unsafeName(_:reason:)``,
    ///   ``VaultError/unsealableInput(path:reason:)``, ``VaultError/ambiguous(_:matches:)``,
    ///   ``VaultError/notPermitted(_:)`` (a revision of another's document), ``VaultError/changedConcurrently(_:)``
    ///   (another process added a revision of the same document meanwhile),
    ///   ``FileError`` for unreadable inputs. Documents of earlier batches stay sealed.
    public func seal(paths: [String], name: String? = nil, label: String? = nil, onSealed: (SealedDocument) throws -> Void) throws {
        let newLabel = try sealLabel(label)
        let vaultDirectory = FileSystem.realPath(path)
        // Every name is checked before anything is sealed.
        var count = 0
        var bytes: UInt64 = 0
        try Self.forEachInput(in: paths, excluding: vaultDirectory) { input in
            try DocumentName.check(name ?? input.name)
            count += 1
            bytes += input.size ?? 0
        }
        progress?.expect(bytes)
        if name != nil, count != 1 {
            throw VaultError.invalidRequest("--name names a single document, but the inputs hold \(count) files")
        }
        var batch: [PreparedDocument] = []
        var batchNames = Set<String>()
        // The batch's objects become durable together, just before its commit.
        let objectBatch = PublishBatch(store: objects)
        let existing = NameLookup(vault: self)
        func flush() throws {
            guard !batch.isEmpty else { return }
            for sealed in try commitSealed(batch, objects: objectBatch) {
                existing.sealed(sealed)
                try onSealed(sealed)
            }
            batch.removeAll()
            batchNames.removeAll()
        }
        try Self.forEachInput(in: paths, excluding: vaultDirectory) { input in
            let documentName = name ?? input.name
            try DocumentName.check(documentName)
            // The same name twice in a batch: the first is committed, and the second is its next revision.
            if !batchNames.insert(documentName).inserted {
                try flush()
                batchNames.insert(documentName)
            }
            let target = try revisionTarget(named: documentName, label: label, existing: existing)
            if input.path == "-" {
                guard name != nil else { throw VaultError.invalidRequest("sealing standard input (-) needs a name (--name)") }
                let prepared = try prepare(
                    source: POSIXFile.standardInput, name: documentName, mode: nil, label: newLabel, origin: "stream", revising: target, into: objectBatch)
                if let unchanged = unchangedResult(prepared, target) { try onSealed(unchanged) } else { batch.append(prepared) }
            } else {
                let file = try POSIXFile.openForReading(input.path)
                let status = try file.status()
                guard (status.st_mode & S_IFMT) == S_IFREG else {
                    throw VaultError.unsealableInput(path: input.path, reason: "not a regular file")
                }
                // Content that may be the current revision's is hashed first, so that nothing is written for it.
                if let target, target.metadata.size == UInt64(status.st_size), try hasContent(of: target, path: input.path),
                   try file.isUnmodified(since: status) {
                    try onSealed(target.unchanged)
                    if batch.count >= Self.sealBatchSize { try flush() }
                    return
                }
                let prepared = try prepare(
                    source: file, name: documentName, mode: UInt32(status.st_mode & 0o7777), label: newLabel, origin: "file", revising: target, into: objectBatch)
                guard try file.isUnmodified(since: status), prepared.metadata.size == UInt64(status.st_size)
                else { throw VaultError.unsealableInput(path: input.path, reason: "it changed while it was being read; try again") }
                if let unchanged = unchangedResult(prepared, target) { try onSealed(unchanged) } else { batch.append(prepared) }
            }
            if batch.count >= Self.sealBatchSize { try flush() }
        }
        try flush()
    }

    /// Seals `bytes` as one document named `name`, from memory: no file is
    /// read or written but the vault's own (its origin is recorded as `memory`).
    /// A name that is a readable document's seals its next revision, as ``seal(paths:name:label:onSealed:)`` does.
    /// - Throws: as ``seal(paths:name:label:onSealed:)``.
    public func seal(bytes: [UInt8], name: String, label: String? = nil) throws -> SealedDocument {
        progress?.expect(UInt64(bytes.count))
        return try seal(source: MemorySource(bytes), name: name, label: label)
    }

    /// Seals what `source` yields as one document named `name`, recorded as
    /// sealed from `memory` (``seal(bytes:name:label:)``, and the async ``seal(_:name:label:)``).
    func seal(source: some ByteSource, name: String, label: String?) throws -> SealedDocument {
        let newLabel = try sealLabel(label)
        try DocumentName.check(name)
        let target = try revisionTarget(named: name, label: label, existing: NameLookup(vault: self))
        let batch = PublishBatch(store: objects)
        let prepared = try prepare(source: source, name: name, mode: nil, label: newLabel, origin: "memory", revising: target, into: batch)
        if let unchanged = unchangedResult(prepared, target) { return unchanged }
        return try commitSealed([prepared], objects: batch)[0]
    }

    /// The label a seal uses: `label`, else the vault's default.
    /// - Throws: ``VaultError/unknownLabel(_:known:)``.
    private func sealLabel(_ label: String?) throws -> String {
        let label = label ?? defaultLabel
        guard state.labels.contains(label) else { throw VaultError.unknownLabel(label, known: state.labels) }
        return label
    }

    /// The current revision of a document a seal adds a revision to.
    struct RevisionTarget {
        let document: VaultState.Document
        /// The current version's data key.
        let key: DataKey
        /// The current version's metadata.
        let metadata: DocumentMetadata

        /// What a seal of the same content reports.
        var unchanged: SealedDocument {
            SealedDocument(
                id: document.id, name: metadata.name, size: metadata.size, label: document.label, revision: document.current.revision, unchanged: true)
        }
    }

    /// The document a seal of `name` adds a revision to: none if no readable
    /// document has that name.
    /// - Throws: ``VaultError/ambiguous(_:matches:)`` if several have it;
    ///   ``VaultError/notPermitted(_:)`` if this identity neither owns nor
    ///   administers it; ``VaultError/invalidRequest(_:)`` if `label` is not its label.
    private func revisionTarget(named name: String, label: String?, existing: NameLookup) throws -> RevisionTarget? {
        let found = try existing.documents(named: name)
        guard let document = found.first else { return nil }
        guard found.count == 1 else {
            throw VaultError.ambiguous(name, matches: try found.map { candidateDescription(try summary(of: $0)) }.sorted())
        }
        if let label, label != document.label {
            throw VaultError.invalidRequest(
                "\(name) is document \(document.id), labelled \(document.label); a new revision keeps its label (change it with `coffer relabel`)")
        }
        return try revisionTarget(of: document)
    }

    /// `document`'s current revision, as the one a seal adds a revision to.
    /// - Throws: ``VaultError/notPermitted(_:)`` if this identity neither owns nor administers it.
    func revisionTarget(of document: VaultState.Document) throws -> RevisionTarget {
        try requireOwnerOrAdministrator(document, "add a revision to")
        let (key, _) = try dataKey(of: document, version: document.current)
        return RevisionTarget(document: document, key: key, metadata: try metadata(of: document, version: document.current, key: key))
    }

    /// How an ambiguity error names a candidate: its id, size, when and by whom it was sealed.
    func candidateDescription(_ summary: DocumentSummary) -> String {
        "\(summary.id) (\(summary.size) bytes, sealed \(summary.sealedAt) by \(displayName(ofMember: summary.sealedBy)))"
    }

    /// The report of a prepared revision whose content is the current one's (nothing to commit), or nil.
    func unchangedResult(_ prepared: PreparedDocument, _ target: RevisionTarget?) -> SealedDocument? {
        guard let target, let digest = target.metadata.contentDigest, digest == prepared.metadata.contentDigest else { return nil }
        return target.unchanged
    }

    /// Whether the file at `path` holds `target`'s content, by the digest its
    /// metadata records (false when it records none).
    func hasContent(of target: RevisionTarget, path: String) throws -> Bool {
        if let digest = target.metadata.contentDigest {
            return try ContentStream(store: objects).contentDigest(of: POSIXFile.openForReading(path)) == digest
        }
        if let digest = target.metadata.digest {
            return try WholeContentDigest.of(POSIXFile.openForReading(path)) == digest
        }
        return false
    }

    /// Makes `batch`'s objects durable, then commits the `document.seal` and
    /// `document.revise` entries of `prepared` and indexes new documents' names.
    func commitSealed(_ prepared: [PreparedDocument], objects batch: PublishBatch) throws -> [SealedDocument] {
        try batch.finish()
        try commit { state in try prepared.map { try self.sealEvent(for: $0, state: state) } }
        // The sealer knows the names: indexed now, not decrypted again at the next lookup.
        let new = prepared.filter { $0.revising == nil }
        try store?.index(new.map { ($0.id, $0.metadata.name) }, indexed: new.map(\.id))
        return prepared.map {
            SealedDocument(
                id: $0.id, name: $0.metadata.name, size: $0.metadata.size, label: $0.label,
                revision: $0.revising.map { $0.document.current.revision + 1 } ?? 1, unchanged: false)
        }
    }

    /// A document whose content is stored (durable once its batch is finished) but not yet committed.
    struct PreparedDocument {
        let id: DocumentID
        let generation: UInt32
        let key: DataKey
        let sealed: ContentStream.Sealed
        let metadata: DocumentMetadata
        let label: String
        /// The document this is the next revision of, as it was when the content was sealed.
        let revising: RevisionTarget?
    }

    func prepare(
        source: some ByteSource, name: String, mode: UInt32?, label: String, origin: String, revising target: RevisionTarget?, into batch: PublishBatch
    ) throws -> PreparedDocument {
        let id = target?.document.id ?? DocumentID.random()
        let generation = target.map { $0.document.currentGeneration + 1 } ?? 1
        let key = DataKey.generate()
        let sealed = try ContentStream(store: objects, progress: progress).seal(from: source, key: key, documentID: id, generation: generation, into: batch)
        let metadata = DocumentMetadata(name: name, size: sealed.size, source: origin, mode: mode, contentDigest: sealed.contentDigest)
        return PreparedDocument(
            id: id, generation: generation, key: key, sealed: sealed, metadata: metadata, label: target?.document.label ?? label, revising: target)
    }

    /// The entry recording `p` in `state`: `document.seal` of a new
    /// document (its data key wrapped for the owner's personal role and
    /// `admin`), or `document.revise` (wrapped for every role the current
    /// version is, and linked to it), under the roles' current key versions.
    /// - Throws: ``VaultError/changedConcurrently(_:)`` if the document got another revision since `p` was sealed.
    func sealEvent(for p: PreparedDocument, state: VaultState) throws -> LedgerEvent {
        if let target = p.revising {
            guard let document = state.documents[p.id], document.currentGeneration + 1 == p.generation else {
                throw VaultError.changedConcurrently("document \(p.id) (\(p.metadata.name)) got a new revision or was deleted while this one was sealed")
            }
            var event = try versionEvent(
                document: p.id, generation: p.generation, key: p.key, sealed: p.sealed, metadata: p.metadata, label: document.label,
                roles: document.current.wraps.keys.sorted().map { state.roles[$0]! })
            event.previousKey = try link(for: document, generation: p.generation, key: p.key, currentKey: target.key, revising: true)
            return .documentRevised(event)
        }
        guard let personal = state.personalRole(of: identity.fingerprint), let admin = state.adminRole else {
            throw IdentityError.notInVault(fingerprint: identity.fingerprint)
        }
        return .documentSealed(try versionEvent(
            document: p.id, generation: 1, key: p.key, sealed: p.sealed, metadata: p.metadata, label: p.label, roles: [personal, admin]))
    }

    /// The payload recording a new document version: its metadata sealed
    /// under `key` and `key` wrapped for each of `roles` at its current version.
    func versionEvent(
        document: DocumentID, generation: UInt32, key: DataKey, sealed: ContentStream.Sealed, metadata: DocumentMetadata, label: String,
        roles: [VaultState.Role]
    ) throws -> DocumentSealed {
        // The entry must describe the content exactly as it was written: a
        // generation or document that differs from the manifest's would make
        // the version unreadable (and `gc` would then collect the last good one).
        guard sealed.manifest.generation == generation, sealed.manifest.documentID == document else {
            throw VaultError.changedConcurrently(
                "document \(document) was sealed as generation \(sealed.manifest.generation) but would be recorded as \(generation)")
        }
        let sealedMetadata = try metadata.sealed(
            with: key,
            associatedData: DocumentMetadata.associatedData(vault: state.vaultID, document: document, generation: generation, manifest: sealed.manifestID))
        let wraps = try roles.map { role in try wrapRecord(key, document: document, generation: generation, label: label, role: role) }
        return DocumentSealed(
            document: document, generation: generation, manifest: sealed.manifestID.description,
            segments: sealed.manifest.segments.map(\.description), label: label,
            commitment: Data(sealed.manifest.commitment), metadata: Data(sealedMetadata), wraps: wraps,
            objectHash: sealed.manifestID.hash.name)
    }

    /// Wraps a data key for `role` at its current version: under the role key
    /// when this identity holds it, else to the role's public key.
    func wrapRecord(_ key: DataKey, document: DocumentID, generation: UInt32, label: String, role: VaultState.Role) throws -> WrapRecord {
        let version = role.currentVersion
        let context = DataKeyWrapContext(
            vaultID: state.vaultID, documentID: document, generation: generation, roleID: role.id, roleVersion: version, label: label)
        let wrapped: [UInt8]
        if let roleKey = try roleKey(role.id, version: version) {
            wrapped = key.wrapped(under: roleKey, context: context)
        } else {
            guard let keys = role.versions[version] else {
                throw VaultError.integrity("role \(role.name) has no key version \(version)")
            }
            wrapped = try key.wrapped(toRole: keys, context: context)
        }
        return WrapRecord(role: role.id, roleVersion: version, wrapped: Data(wrapped))
    }

    /// One input file, the document name it gets, and its size when the
    /// walk saw it (none for standard input).
    struct Input {
        let path: String
        let name: String
        var size: UInt64? = nil
    }

    /// Calls `body` with each regular file to seal, in order: a file is
    /// itself (a symbolic link given by name is followed), a directory is
    /// every regular file below it (sorted, links inside not followed), `-`
    /// is standard input. Nothing inside `vault` (the vault's own directory)
    /// is ever an input, and FIFOs and devices are refused before they are
    /// opened (opening a FIFO would block). Only the listing of the folder
    /// being walked is held.
    static func forEachInput(in paths: [String], excluding vault: String, _ body: (Input) throws -> Void) throws {
        for path in paths {
            if path == "-" {
                try body(Input(path: "-", name: "-"))
                continue
            }
            var st = stat()
            guard stat(path, &st) == 0 else { throw FileError("stat", path: path) }
            if FileSystem.isWithin(path, vault) {
                throw VaultError.invalidRequest("\(path) is inside the vault itself; choose files outside \(vault)")
            }
            let trimmed = path.count > 1 && path.hasSuffix("/") ? String(path.dropLast()) : path
            switch st.st_mode & S_IFMT {
            case S_IFDIR:
                let base = FileSystem.baseName(of: trimmed)
                // `.`, `..` and `/` name no folder of their own: their files are named from inside them.
                try walk(trimmed, relative: [".", "..", "/"].contains(base) ? "" : base, excluding: vault, body)
            case S_IFREG:
                try body(Input(path: path, name: FileSystem.baseName(of: trimmed), size: UInt64(st.st_size)))
            default:
                throw VaultError.unsealableInput(path: path, reason: "not a regular file or folder (use - and a pipe for streams)")
            }
        }
    }

    private static func walk(_ directory: String, relative: String, excluding vault: String, _ body: (Input) throws -> Void) throws {
        for name in try FileSystem.contents(of: directory).sorted() {
            let full = FileSystem.join(directory, name)
            let rel = relative.isEmpty ? name : relative + "/" + name
            var st = stat()
            guard lstat(full, &st) == 0 else { throw FileError("stat", path: full) }
            switch st.st_mode & S_IFMT {
            case S_IFDIR where FileSystem.realPath(full) == vault: continue  // never seal the vault into itself
            case S_IFDIR: try walk(full, relative: rel, excluding: vault, body)
            case S_IFREG: try body(Input(path: full, name: rel, size: UInt64(st.st_size)))
            default: continue  // symbolic links, sockets and devices are not documents
            }
        }
    }
}

/// Finds the readable documents a seal's names already belong to: through
/// the identity's name index when it has a saved state, else through one
/// decryption of every name, kept (with what the seal adds) until it ends.
final class NameLookup {
    private let vault: Vault
    private var byName: [String: [DocumentID]]?

    init(vault: Vault) {
        self.vault = vault
    }

    /// The readable documents named exactly `name`.
    func documents(named name: String) throws -> [VaultState.Document] {
        if vault.store != nil { return try vault.documents(named: name).map(\.document) }
        if byName == nil { byName = Dictionary(grouping: try vault.list().documents, by: \.name).mapValues { $0.map(\.id) } }
        return byName?[name, default: []].compactMap { vault.state.documents[$0] } ?? []
    }

    /// Notes a document the seal committed.
    func sealed(_ document: SealedDocument) {
        guard byName != nil, document.revision == 1, !document.unchanged else { return }
        byName?[document.name, default: []].append(document.id)
    }
}

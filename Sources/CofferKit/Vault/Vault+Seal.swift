#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// One sealed document, as `coffer seal` reports it.
public struct SealedDocument: Codable, Sendable, Equatable {
    /// The new document's id.
    public let id: DocumentID
    /// Its name.
    public let name: String
    /// Its plaintext size in bytes.
    public let size: UInt64
    /// Its label.
    public let label: String
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
    /// - Parameters:
    ///   - paths: files or directories; `-` reads standard input (then `name` is required).
    ///   - onSealed: called for each document, in input order, once its batch is committed;
///     an error it throws stops the seal (the batch stays committed).
    /// - Throws: ``VaultError/unknownLabel(_:known:)``, ``VaultError/invalidRequest(_:)``, ``VaultError/unsafeName(_:reason:)``,
    ///   ``VaultError/unsealableInput(path:reason:)``,
    ///   ``FileError`` for unreadable inputs. Documents of earlier batches stay sealed.
    public func seal(paths: [String], name: String? = nil, label: String? = nil, onSealed: (SealedDocument) throws -> Void) throws {
        let label = try sealLabel(label)
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
        // The batch's objects become durable together, just before its commit.
        let objectBatch = PublishBatch(store: objects)
        func flush() throws {
            guard !batch.isEmpty else { return }
            for sealed in try commitSealed(batch, objects: objectBatch) { try onSealed(sealed) }
            batch.removeAll()
        }
        try Self.forEachInput(in: paths, excluding: vaultDirectory) { input in
            let documentName = name ?? input.name
            try DocumentName.check(documentName)
            if input.path == "-" {
                guard name != nil else { throw VaultError.invalidRequest("sealing standard input (-) needs a name (--name)") }
                batch.append(try prepare(source: POSIXFile.standardInput, name: documentName, mode: nil, label: label, origin: "stream", into: objectBatch))
            } else {
                let file = try POSIXFile.openForReading(input.path)
                let status = try file.status()
                guard (status.st_mode & S_IFMT) == S_IFREG else {
                    throw VaultError.unsealableInput(path: input.path, reason: "not a regular file")
                }
                let prepared = try prepare(source: file, name: documentName, mode: UInt32(status.st_mode & 0o7777), label: label, origin: "file", into: objectBatch)
                let after = try file.status()
                guard after.st_size == status.st_size, after.st_mtim.tv_sec == status.st_mtim.tv_sec,
                      after.st_mtim.tv_nsec == status.st_mtim.tv_nsec, prepared.metadata.size == UInt64(status.st_size)
                else { throw VaultError.unsealableInput(path: input.path, reason: "it changed while it was being read; try again") }
                batch.append(prepared)
            }
            if batch.count >= Self.sealBatchSize { try flush() }
        }
        try flush()
    }

    /// Seals `bytes` as one document named `name`, from memory: no file is
    /// read or written but the vault's own (its origin is recorded as `memory`).
    /// - Throws: ``VaultError/unknownLabel(_:known:)``, ``VaultError/unsafeName(_:reason:)``, and the errors of a commit.
    public func seal(bytes: [UInt8], name: String, label: String? = nil) throws -> SealedDocument {
        let label = try sealLabel(label)
        try DocumentName.check(name)
        progress?.expect(UInt64(bytes.count))
        let batch = PublishBatch(store: objects)
        let prepared = try prepare(source: MemorySource(bytes), name: name, mode: nil, label: label, origin: "memory", into: batch)
        return try commitSealed([prepared], objects: batch)[0]
    }

    /// The label a seal uses: `label`, else the vault's default.
    /// - Throws: ``VaultError/unknownLabel(_:known:)``.
    private func sealLabel(_ label: String?) throws -> String {
        let label = label ?? defaultLabel
        guard state.labels.contains(label) else { throw VaultError.unknownLabel(label, known: state.labels) }
        return label
    }

    /// Makes `batch`'s objects durable, then commits the `document.seal`
    /// entries of `prepared` and indexes their names.
    private func commitSealed(_ prepared: [PreparedDocument], objects batch: PublishBatch) throws -> [SealedDocument] {
        try batch.finish()
        try commit { state in try prepared.map { try self.sealEvent(for: $0, state: state) } }
        // The sealer knows the names: indexed now, not decrypted again at the next lookup.
        try store?.index(prepared.map { ($0.id, $0.metadata.name) }, indexed: prepared.map(\.id))
        return prepared.map { SealedDocument(id: $0.id, name: $0.metadata.name, size: $0.metadata.size, label: $0.label) }
    }

    /// A document whose content is stored (durable once its batch is finished) but not yet committed.
    struct PreparedDocument {
        let id: DocumentID
        let key: DataKey
        let sealed: ContentStream.Sealed
        let metadata: DocumentMetadata
        let label: String
    }

    private func prepare(source: some ByteSource, name: String, mode: UInt32?, label: String, origin: String, into batch: PublishBatch) throws -> PreparedDocument {
        let id = DocumentID.random()
        let key = DataKey.generate()
        let sealed = try ContentStream(store: objects, progress: progress).seal(from: source, key: key, documentID: id, generation: 1, into: batch)
        let metadata = DocumentMetadata(name: name, size: sealed.size, source: origin, mode: mode)
        return PreparedDocument(id: id, key: key, sealed: sealed, metadata: metadata, label: label)
    }

    /// The `document.seal` event: metadata sealed and the data key wrapped for
    /// the owner's personal role and `admin`, under their current key versions
    /// in `state`.
    func sealEvent(for p: PreparedDocument, state: VaultState) throws -> LedgerEvent {
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

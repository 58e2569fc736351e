import Foundation

/// What `coffer open FOLDER/` wrote.
public struct OpenedFolder: Codable, Sendable, Equatable {
    /// The folder of the vault that was opened, ending in `/`.
    public let folder: String
    /// The new folder its documents were written into.
    public let destination: String
    /// How many documents were written.
    public let documents: Int
    /// Their plaintext bytes.
    public let bytes: UInt64
}

extension Vault {
    /// Documents resolved, decrypted side by side, and recorded in one
    /// ledger commit, at a time, when a folder is opened.
    static let folderBatchSize = 256

    /// Opens every readable document whose name starts with `folder`
    /// (`reports/`) into the new folder `destination`, as a tree:
    /// `reports/2026/q3.pdf` becomes `destination/2026/q3.pdf`, with the
    /// permission bits it was sealed with (see `DocumentMetadata/fileMode`),
    /// in folders created 0700: the tree is private to its owner.
    ///
    /// Nothing appears at `destination` until every document has been
    /// decrypted, authenticated and checked against its size, and every read
    /// is in the ledger: the files are written unnamed (or named inside a
    /// private 0700 folder beside `destination`) and the whole tree is
    /// renamed into place at the end. A failure or a kill leaves no
    /// plaintext under a document's name. Small documents are decrypted on
    /// every core side by side, large ones one after another with every core
    /// each; the reads of each batch of `folderBatchSize` are one commit.
    ///
    /// - Returns: what was written.
    /// - Throws: ``OutputError/folderExists(path:)`` (nothing written),
    ///   ``OutputError/noFolder(path:)``, ``VaultError/documentNotFound(_:)``
    ///   when no readable document is under `folder`,
    ///   ``VaultError/ambiguous(_:matches:)`` for two documents of one name,
    ///   ``VaultError/unsafeName(_:reason:)`` for a name that cannot be a path
    ///   below `destination` or that is both a file and a folder,
    ///   ``VaultError/integrity(_:)`` for a document that does not open
    ///   (its key, metadata or content).
    @discardableResult
    public func open(folder: String, to destination: String) throws -> OpenedFolder {
        try requireWritable()  // the reads must be recorded; refused before any plaintext is produced
        let prefix = folder.hasSuffix("/") ? folder : folder + "/"
        let destination = try StagingDirectory.checkDestination(destination)
        let planned = try plan(folder: prefix)
        let staging = StagingDirectory(beside: destination, prefix: ".coffer-open-")
        try staging.create()
        var bytes: UInt64 = 0
        for start in stride(from: 0, to: planned.count, by: Self.folderBatchSize) {
            let batch = planned[start..<min(start + Self.folderBatchSize, planned.count)]
            let opened = try open(batch, into: staging)
            bytes = opened.reduce(bytes) { $0 + $1.metadata.size }
        }
        try staging.publish(as: destination)
        return OpenedFolder(folder: prefix, destination: destination, documents: planned.count, bytes: bytes)
    }

    /// Decrypts one batch into new files of `staging` and records the reads.
    /// A document re-keyed by another process meanwhile (its version read
    /// is gone from the ledger's state, so the read cannot be recorded) is
    /// read again, at its new version, into the same file, as a single
    /// `open` would be planned again.
    /// - Returns: the versions read and recorded.
    private func open(_ planned: ArraySlice<(id: DocumentID, path: String)>, into staging: StagingDirectory) throws -> [FolderDocument] {
        var batch = try planned.map(resolve)
        let files = try write(batch, into: staging)
        var attempt = 0
        while true {
            do {
                try commit { _ in batch.map { .documentOpened(DocumentOpened(document: $0.document, generation: $0.generation, via: $0.via)) } }
                return batch
            } catch VaultError.changedConcurrently(let reason) {
                // The failed commit refreshed `state` with what the others appended.
                attempt += 1
                guard attempt < Self.planningAttempts else { throw VaultError.changedConcurrently(reason) }
                for index in batch.indices where state.documents[batch[index].document]?.current.generation != batch[index].generation {
                    batch[index] = try resolve((batch[index].document, batch[index].path))
                    try files[index].truncate(to: 0)
                    try Self.decrypt(batch[index], with: ContentStream(store: objects), into: files[index])
                }
            }
        }
    }

    /// One document of a folder being opened, ready to decrypt.
    private struct FolderDocument {
        let document: DocumentID
        let generation: UInt32
        let via: RoleID
        let key: DataKey
        let manifest: Manifest
        let metadata: DocumentMetadata
        /// Its path below the destination.
        let path: String
    }

    /// The readable documents under `prefix`, each with its path below the
    /// destination, all checked before anything is written.
    private func plan(folder prefix: String) throws -> [(id: DocumentID, path: String)] {
        var planned: [(id: DocumentID, path: String)] = []
        var bytes: UInt64 = 0
        var names = TreeNames()
        let failures = try list(folder: prefix) { summary in
            guard summary.name.hasPrefix(prefix) else { throw VaultError.integrity("\(summary.id) was listed under \(prefix) but is named \(summary.name)") }
            let path = String(summary.name.dropFirst(prefix.count))
            if let problem = RelativePath.problem(path) { throw VaultError.unsafeName(summary.name, reason: problem) }
            do {
                try names.place(path)
            } catch TreeNames.Clash.twice {
                let same = planned.filter { $0.path == path }.map(\.id.description) + [summary.id.description]
                throw VaultError.ambiguous(summary.name, matches: same.sorted())
            } catch let clash as TreeNames.Clash {
                throw VaultError.unsafeName(summary.name, reason: "\(prefix)\(clash)")
            }
            planned.append((summary.id, path))
            bytes += summary.size
        }
        if let failure = failures.first {
            throw VaultError.integrity("document \(failure.id) under \(prefix) does not open (\(failure.reason)); nothing was written")
        }
        guard !planned.isEmpty else { throw VaultError.documentNotFound(prefix) }
        progress?.expect(bytes)
        return planned
    }

    /// The key, manifest and metadata of the current version of `planned`.
    private func resolve(_ planned: (id: DocumentID, path: String)) throws -> FolderDocument {
        guard let document = state.documents[planned.id] else { throw VaultError.documentNotFound(planned.id.description) }
        let version = document.current
        let (key, via) = try dataKey(of: document, version: version)
        return FolderDocument(
            document: document.id, generation: version.generation, via: via, key: key, manifest: try readManifest(version),
            metadata: try metadata(of: document, version: version, key: key), path: planned.path)
    }

    /// Decrypts `batch` into new files of `staging`, in batch order:
    /// documents of one segment on every core side by side, larger ones
    /// after them one at a time (each on every core).
    private func write(_ batch: [FolderDocument], into staging: StagingDirectory) throws -> [POSIXFile] {
        var files: [POSIXFile?] = Array(repeating: nil, count: batch.count)
        var small = batch.indices.filter { batch[$0].manifest.segments.count == 1 }.makeIterator()
        let objects = self.objects
        let width = ProcessInfo.processInfo.activeProcessorCount + 2
        try OrderedPipeline.run(
            width: width, window: 2 * width,
            next: { try small.next().map { ($0, try staging.createFile(batch[$0].path)) } },
            process: { index, file in
                try Self.decrypt(batch[index], with: ContentStream(store: objects, width: 2), into: file)
                return (index, file)
            },
            consume: { index, file in
                files[index] = file
                self.progress?.advance(batch[index].metadata.size)
            })
        for index in batch.indices where files[index] == nil {
            let file = try staging.createFile(batch[index].path)
            try Self.decrypt(batch[index], with: ContentStream(store: objects, progress: progress), into: file)
            files[index] = file
        }
        return files.map { $0! }
    }

    /// Decrypts `document` into `file` from its start, checks its size, and
    /// gives it the document's permission bits.
    private static func decrypt(_ document: FolderDocument, with stream: ContentStream, into file: POSIXFile) throws {
        var offset = 0
        let size = try stream.open(document.manifest, key: document.key) { chunk in
            try file.write(chunk, at: offset)
            offset += chunk.count
        }
        guard size == document.metadata.size else {
            throw VaultError.integrity("document \(document.document) decrypted to \(size) bytes but its metadata says \(document.metadata.size)")
        }
        try file.setMode(document.metadata.fileMode)
    }
}

extension DocumentMetadata {
    /// The permission bits a file opened from this document gets: the
    /// sealed file's read, write and execute bits (never set-id or sticky),
    /// or 0600 for a document sealed from a stream.
    var fileMode: mode_t { mode_t((mode ?? 0o600) & 0o777) }
}

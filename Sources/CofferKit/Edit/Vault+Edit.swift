#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A document opened for editing by ``Vault/beginEdit(_:into:)``: what
/// ``Vault/finishEdit(_:)`` compares the edited file with.
public struct DocumentEdit: Sendable, Equatable {
    /// The document.
    public let document: DocumentID
    /// Its name.
    public let name: String
    /// The revision that was opened (the current one then).
    public let revision: UInt32
    /// Where its plaintext was written.
    public let path: String
    /// The ``ContentDigest`` of what was written there, lowercase hex.
    let digest: String
}

/// What an edit sealed, as `coffer edit` reports it (in JSON, the fields of
/// ``sealed`` and the two below, side by side).
public struct EditedDocument: Codable, Sendable, Equatable {
    /// The revision the edit sealed; when ``SealedDocument/unchanged``, the
    /// one it opened (nothing was sealed).
    public let sealed: SealedDocument
    /// The revision that was opened for editing.
    public let editedRevision: UInt32
    /// Revisions others sealed while the editor was open: an edit's
    /// revision follows them (they stay in the history), though it was made
    /// from the one before them.
    public let concurrentRevisions: [UInt32]

    private enum CodingKeys: String, CodingKey {
        case editedRevision, concurrentRevisions
    }

    /// Creates the report of an edit.
    public init(sealed: SealedDocument, editedRevision: UInt32, concurrentRevisions: [UInt32]) {
        self.sealed = sealed
        self.editedRevision = editedRevision
        self.concurrentRevisions = concurrentRevisions
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            sealed: try SealedDocument(from: decoder), editedRevision: try container.decode(UInt32.self, forKey: .editedRevision),
            concurrentRevisions: try container.decode([UInt32].self, forKey: .concurrentRevisions))
    }

    public func encode(to encoder: any Encoder) throws {
        try sealed.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(editedRevision, forKey: .editedRevision)
        try container.encode(concurrentRevisions, forKey: .concurrentRevisions)
    }
}

extension Vault {
    /// Opens `query`'s current revision into the new file `path` for
    /// editing (the read is recorded in the ledger, as by ``open(_:revision:to:)``).
    /// Only the document's owner or an administrator may edit it, which is
    /// checked before anything is decrypted. The vault need not stay open
    /// while the file is edited: ``finishEdit(_:)`` may be called on another
    /// ``Vault`` of the same identity.
    /// - Throws: as ``open(_:revision:to:)``; ``VaultError/notPermitted(_:)``.
    public func beginEdit(_ query: String, into path: String) throws -> DocumentEdit {
        let (document, _) = try document(matching: query)
        try requireOwnerOrAdministrator(document, "edit")
        let opened = try open(document.id.description, to: .file(path: path, overwrite: false))
        let digest = try ContentStream(store: objects).contentDigest(of: POSIXFile.openForReading(path))
        return DocumentEdit(document: opened.id, name: opened.name, revision: opened.revision, path: path, digest: digest)
    }

    /// Seals the edited file of `edit` as the document's next revision,
    /// keeping its name, label, roles and mode; a file with the content it
    /// was opened with adds nothing. A revision another process sealed
    /// meanwhile is not lost: the edit's revision follows it, and the
    /// result lists it in ``EditedDocument/concurrentRevisions``.
    /// - Throws: ``VaultError/documentDeleted(document:by:at:entry:)`` if it
    ///   was deleted meanwhile, ``VaultError/notPermitted(_:)`` or
    ///   ``VaultError/accessDenied(document:)`` if this identity lost the
    ///   right to it, ``VaultError/unsealableInput(path:reason:)`` if the
    ///   file is not a regular file or changes while it is sealed,
    ///   ``FileError``. Nothing is sealed then, and the file is left as it is.
    public func finishEdit(_ edit: DocumentEdit) throws -> EditedDocument {
        try requireWritable()
        return try replanning {
            try refresh()
            let (document, _) = try document(matching: edit.document.description)
            let file = try Self.openEdited(edit.path)
            let status = try file.status()
            let concurrent = Array(edit.revision..<document.current.revision).map { $0 + 1 }
            if try ContentStream(store: objects).contentDigest(of: Self.openEdited(edit.path)) == edit.digest, try file.isUnmodified(since: status) {
                let opened = SealedDocument(
                    id: document.id, name: edit.name, size: UInt64(status.st_size), label: document.label, revision: edit.revision, unchanged: true)
                return EditedDocument(sealed: opened, editedRevision: edit.revision, concurrentRevisions: concurrent)
            }
            let target = try revisionTarget(of: document)
            let batch = PublishBatch(store: objects)
            let prepared = try prepare(
                source: file, name: target.metadata.name, mode: target.metadata.mode, label: document.label, origin: "edit", revising: target,
                into: batch)
            guard try file.isUnmodified(since: status), prepared.metadata.size == UInt64(status.st_size) else {
                throw VaultError.unsealableInput(path: edit.path, reason: "it changed while it was being sealed; save it again")
            }
            let sealed: SealedDocument
            if let same = unchangedResult(prepared, target) {
                // The same content as a revision sealed meanwhile: nothing to add.
                sealed = same
            } else {
                sealed = try commitSealed([prepared], objects: batch)[0]
            }
            return EditedDocument(sealed: sealed, editedRevision: edit.revision, concurrentRevisions: concurrent)
        }
    }

    /// Opens the edited file, which must be a regular file (a link is not followed).
    private static func openEdited(_ path: String) throws -> POSIXFile {
        let file = try POSIXFile.open(path, flags: O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        do {
            try file.requireRegularFile()
        } catch {
            throw VaultError.unsealableInput(path: path, reason: "not a regular file")
        }
        return file
    }
}

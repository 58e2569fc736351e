import Foundation

/// One revision of a document, as `coffer history` lists it.
public struct DocumentRevision: Codable, Sendable, Equatable {
    /// Its number, from 1 (the first seal); `coffer open DOC --at N` opens it.
    public let revision: UInt32
    /// The key generation that holds it now (a re-key of the current revision makes a new one).
    public let generation: UInt32
    /// Its size in bytes, from its decrypted metadata.
    public let size: UInt64
    /// Its name, from its decrypted metadata.
    public let name: String
    /// When it was sealed (RFC 3339).
    public let sealedAt: String
    /// Who sealed it: fingerprint and display name.
    public let sealedBy: MemberSummary
    /// Whether it is the current revision.
    public let current: Bool
}

extension Vault {
    /// Every kept revision of the document `query` names, oldest first, each
    /// decrypted through the links from the current version (so the list is
    /// exactly what this identity can open). Reads no content and records nothing.
    /// - Throws: as ``resolve(_:)``; ``VaultError/integrity(_:)`` for a link or metadata that does not open.
    public func history(of query: String) throws -> [DocumentRevision] {
        let (document, _) = try document(matching: query)
        var revisions: [DocumentRevision] = []
        try forEachRevision(of: document) { version, key in
            let meta = try metadata(of: document, version: version, key: key)
            revisions.append(DocumentRevision(
                revision: version.revision, generation: version.generation, size: meta.size, name: meta.name,
                sealedAt: Timestamp.format(version.sealedAt), sealedBy: memberSummary(version.sealedBy),
                current: version.generation == document.currentGeneration))
            return true
        }
        return revisions.reversed()
    }

    /// The version holding revision `revision` of `document`, its data key,
    /// and the role whose wrap on the current version opened the way to it.
    /// - Throws: ``VaultError/notFound(_:)`` for a revision the document does not keep; as ``dataKey(of:version:)``.
    func revision(_ revision: UInt32, of document: VaultState.Document) throws -> (VaultState.Version, DataKey, RoleID) {
        var found: (VaultState.Version, DataKey)?
        let via = try forEachRevision(of: document) { version, key in
            guard version.revision == revision else { return version.revision > revision }
            found = (version, key)
            return false
        }
        guard let (version, key) = found else {
            throw VaultError.notFound("document \(document.id) has revisions 1 to \(document.current.revision); there is no revision \(revision)")
        }
        return (version, key, via)
    }

    /// Calls `body` with each kept revision's version and data key, newest
    /// first, following the links back from the current version while `body`
    /// returns true. Each key is checked against its version's commitment
    /// before it is used.
    /// - Returns: the role whose wrap on the current version opened the way.
    @discardableResult
    func forEachRevision(of document: VaultState.Document, _ body: (VaultState.Version, DataKey) throws -> Bool) throws -> RoleID {
        let revisions = document.revisions
        var version = document.current
        var (key, via) = try dataKey(of: document, version: version)
        while try body(version, key), version.revision > 1 {
            let index = Int(version.revision) - 2
            guard index < revisions.count, revisions[index].revision == version.revision - 1 else {
                throw VaultError.integrity("document \(document.id): revision \(version.revision - 1) is missing from its history")
            }
            (version, key) = try previousRevision(of: document, from: version, key: key, previous: revisions[index])
        }
        return via
    }

    /// Opens `version`'s link to `previous` (the version holding the revision before it) with `version`'s data key.
    /// - Throws: ``VaultError/integrity(_:)`` for a missing link or one that opens to a key `previous` was not sealed with.
    func previousRevision(
        of document: VaultState.Document, from version: VaultState.Version, key: DataKey, previous: VaultState.Version
    ) throws -> (VaultState.Version, DataKey) {
        guard let link = version.previousKey else {
            throw VaultError.integrity("document \(document.id): generation \(version.generation) has no link to the revision before it")
        }
        let context = VersionLink(vaultID: state.vaultID, documentID: document.id, generation: version.generation, previousGeneration: previous.generation)
        let previousKey = try context.unwrap(link, under: key)
        guard Sodium.constantTimeEqual(previousKey.commitment, previous.commitment) else {
            throw VaultError.integrity("document \(document.id): the link to revision \(previous.revision) does not match its key commitment")
        }
        return (previous, previousKey)
    }

    /// The link a new version (generation `generation`, data key `key`) of
    /// `document` carries to the revision before it: to the current version
    /// (`key` of `currentKey`) for a new revision; for a re-key, the current
    /// version's own link, rewrapped (none in revision 1).
    func link(
        for document: VaultState.Document, generation: UInt32, key: DataKey, currentKey: DataKey, revising: Bool
    ) throws -> Data? {
        let current = document.current
        if revising {
            return Data(VersionLink(vaultID: state.vaultID, documentID: document.id, generation: generation, previousGeneration: current.generation)
                .wrap(currentKey, under: key))
        }
        guard current.revision > 1 else { return nil }
        let revisions = document.revisions
        let (previous, previousKey) = try previousRevision(of: document, from: current, key: currentKey, previous: revisions[revisions.count - 2])
        return Data(VersionLink(vaultID: state.vaultID, documentID: document.id, generation: generation, previousGeneration: previous.generation)
            .wrap(previousKey, under: key))
    }
}

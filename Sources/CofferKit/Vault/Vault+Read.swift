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
    /// Current key generation.
    public let generation: UInt32
    /// When the current version was sealed (RFC 3339).
    public let sealedAt: String
    /// Fingerprint of who sealed it.
    public let sealedBy: String
    /// Display name of who sealed it.
    public let sealedByName: String
}

extension Vault {
    /// The documents this identity can read, sorted by name, with decrypted names and sizes.
    /// - Throws: ``CryptoError`` or ``VaultError`` if a wrap or metadata was tampered with.
    public func list() throws -> [DocumentSummary] {
        var rows: [DocumentSummary] = []
        for document in state.documents.values where canRead(document) {
            let version = document.current
            let (key, _) = try dataKey(of: document, version: version)
            let meta = try metadata(of: document, version: version, key: key)
            rows.append(DocumentSummary(
                id: document.id, name: meta.name, size: meta.size, label: document.label, generation: version.generation,
                sealedAt: Timestamp.format(version.sealedAt), sealedBy: version.sealedBy,
                sealedByName: state.identities[version.sealedBy]?.name ?? ""))
        }
        return rows.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
    }

    /// Finds a readable document by exact id, unique id prefix (at least 4
    /// hex digits), or exact name.
    /// - Throws: ``VaultError/documentNotFound(_:)``, ``VaultError/ambiguous(_:matches:)``.
    public func resolve(_ query: String) throws -> DocumentSummary {
        let all = try list()
        if let exact = all.first(where: { $0.id.description == query }) { return exact }
        let lower = query.lowercased()
        if lower.utf8.count >= 4, lower.allSatisfy(\.isHexDigit) {
            let matches = all.filter { $0.id.description.hasPrefix(lower) }
            if matches.count == 1 { return matches[0] }
            if matches.count > 1 { throw VaultError.ambiguous(query, matches: matches.map(\.id.description)) }
        }
        let named = all.filter { $0.name == query }
        if named.count == 1 { return named[0] }
        if named.count > 1 { throw VaultError.ambiguous(query, matches: named.map(\.id.description)) }
        if state.documents.values.contains(where: { $0.id.description == query || (lower.utf8.count >= 4 && $0.id.description.hasPrefix(lower)) }) {
            throw VaultError.accessDenied(document: query)
        }
        throw VaultError.documentNotFound(query)
    }

    /// Where `open` writes.
    public enum Destination {
        /// Standard output: authenticated frames stream out as they are
        /// checked; a later failure leaves earlier output written and throws.
        case standardOutput
        /// A file, written under a temporary name beside it and renamed into
        /// place only after the last frame authenticated.
        case file(path: String, overwrite: Bool)
    }

    /// Decrypts a document to `destination` and records the read in the ledger.
    /// - Returns: the document opened.
    /// - Throws: ``VaultError/outputExists(path:)`` (nothing written),
    ///   ``VaultError/integrity(_:)`` (tampering; no file is left behind),
    ///   ``VaultError/accessDenied(document:)``.
    @discardableResult
    public func open(_ query: String, to destination: Destination) throws -> DocumentSummary {
        let summary = try resolve(query)
        let document = state.documents[summary.id]!
        let version = document.current
        if case .file(let path, let overwrite) = destination, !overwrite, FileSystem.exists(path) {
            throw VaultError.outputExists(path: path)
        }
        let (key, via) = try dataKey(of: document, version: version)
        let manifest = try readManifest(version)
        let stream = ContentStream(store: objects)
        let size: UInt64
        switch destination {
        case .standardOutput:
            let out = POSIXFile.standardOutput
            size = try stream.open(manifest, key: key) { try out.write($0) }
        case .file(let path, let overwrite):
            let file = try AtomicFile(destination: path, mode: 0o600)
            size = try stream.open(manifest, key: key) { try file.write($0) }
            try checkSize(size, summary)
            try file.commit(overwrite: overwrite)
        }
        try checkSize(size, summary)
        try commit { _ in [.documentOpened(DocumentOpened(document: document.id, generation: version.generation, via: via))] }
        return summary
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
        guard bytes.withUnsafeBytes(ObjectID.of) == version.manifest else { throw ObjectStoreError.corrupt(version.manifest) }
        let manifest = try Manifest(parsing: bytes)
        guard manifest.segments == version.segments, manifest.generation == version.generation else {
            throw VaultError.integrity("manifest \(version.manifest) does not match the ledger")
        }
        return manifest
    }
}

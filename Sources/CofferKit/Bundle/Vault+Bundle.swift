import Foundation

/// What `coffer bundle create` is asked to do.
public struct BundleRequest {
    /// Documents (id, unique id prefix, or exact name).
    public var documents: [String]
    /// Partner names, `age1…` recipients or `coffer1…` public identities.
    public var recipients: [String]
    /// Encrypt to this passphrase instead (age's scrypt recipient, alone).
    public var passphrase: SecureBytes?
    /// When the bundle stops being valid.
    public var expires: Date?
    /// A note for the recipients (also in the ledger).
    public var note: String?
    /// Write ASCII armor.
    public var armored: Bool
    /// An administrator approves exporting documents above the export limit.
    public var approve: Bool
    /// Where to write the bundle, and whether an existing file may be replaced.
    public var output: OutputTarget

    /// A request with the given parts (no note, expiry, armor or approval).
    public init(documents: [String], recipients: [String], passphrase: SecureBytes? = nil, output: OutputTarget) {
        self.documents = documents
        self.recipients = recipients
        self.passphrase = passphrase
        self.output = output
        armored = false
        approve = false
    }
}

/// One answer of `coffer bundle trace`: a bundle that held a file.
public struct BundleTrace: Codable, Sendable, Equatable {
    /// The bundle id.
    public let bundle: String
    /// The file's name in the bundle.
    public let name: String
    /// The document it came from.
    public let document: DocumentID
    /// Who sent it (fingerprint).
    public let sender: String
    /// The sender's display name.
    public let senderName: String
    /// When (RFC 3339).
    public let sent: String
    /// To whom.
    public let recipients: [String]
    /// When it expires, if it does.
    public let expires: String?
}

extension Vault {
    // MARK: Partners

    /// Records an external partner's keys (administrators only).
    /// - Parameters:
    ///   - name: the partner's name, by which bundles are sent to it.
    ///   - recipient: `age1…` or a `coffer1…` public identity.
    ///   - minisignKey: the partner's minisign public key (base64 line), if any.
    /// - Throws: ``BundleError/invalidRequest(_:)`` for a bad key or a
    ///   duplicate name; ``BundleError/notPermitted(_:)`` for non-administrators.
    public func addPartner(name: String, recipient: String, minisignKey: String?) throws {
        try replanning {
            guard state.admins.contains(identity.fingerprint) else { throw BundleError.notPermitted("only an administrator may add partners") }
            guard !name.isEmpty, name.utf8.count <= 256, !name.contains("\n") else { throw BundleError.invalidRequest("a partner name is one line of at most 256 bytes") }
            guard state.partners[name] == nil else { throw BundleError.invalidRequest("partner \(name) exists already") }
            let age: String
            do {
                age = try AgeRecipient.partner(recipient).encoded
            } catch let error as AgeError {
                throw BundleError.invalidRequest("\(recipient.prefix(80).debugDescription) is not an age1… or age1pq1… recipient or a coffer1… public identity: \(error.description)")
            }
            let key = try minisignKey.map { try MinisignPublicKey(base64OrPublicIdentity: $0).base64 }
            try commit { _ in [.partnerAdded(PartnerAdded(name: name, recipient: age, minisignKey: key))] }
        }
    }

    /// The vault's partners, by name.
    public var partners: [PartnerAdded] {
        state.partners.values.sorted { $0.name < $1.name }
    }

    /// The minisign public key recorded for partner `name`: what checks a
    /// bundle that partner sends (`coffer bundle open --from NAME`).
    /// - Throws: ``BundleError/invalidRequest(_:)`` if there is no such
    ///   partner, or it was added without `--minisign-key`.
    public func signingKey(ofPartner name: String) throws -> MinisignPublicKey {
        guard let partner = state.partners[name] else {
            throw BundleError.invalidRequest("\(name.debugDescription) is not a minisign key, a key file, or a partner of this vault (see `coffer partner list`)")
        }
        guard let key = partner.minisignKey else {
            throw BundleError.invalidRequest("partner \(name) was added without a minisign key; pass the sender's key to --from instead")
        }
        return try MinisignPublicKey(base64OrPublicIdentity: key)
    }

    // MARK: Bundles

    /// Writes a transfer bundle: an age file (to the recipients or a
    /// passphrase) whose payload is a tar archive of the documents under
    /// their names, `SHA256SUMS`, `MANIFEST.json` and its minisign
    /// signature by this identity. Streams: memory does not grow with size.
    ///
    /// The `bundle.create` ledger entry (sender, recipients, every file's
    /// SHA-256) is committed before the file appears at its destination.
    /// - Returns: the manifest written into the bundle.
    /// - Throws: ``BundleError`` (policy, names, recipients); the errors of
    ///   ``resolve(_:)`` and of decryption; ``OutputError/exists(path:)``.
    @discardableResult
    public func createBundle(_ request: BundleRequest) throws -> BundleManifest {
        try request.output.checkAvailable()
        let documents = try request.documents.map { query -> (VaultState.Document, DocumentSummary) in
            let summary = try resolve(query)
            return (state.documents[summary.id]!, summary)
        }
        guard !documents.isEmpty else { throw BundleError.invalidRequest("name at least one document") }
        try checkBundleNames(documents.map(\.1.name))
        if !request.approve, let (document, summary) = documents.first(where: { state.exportNeedsApproval($0.0.label) }) {
            throw BundleError.approvalRequired(document: summary.name, label: document.label, limit: state.exportLimit)
        }
        if request.approve, !state.admins.contains(identity.fingerprint) {
            throw BundleError.notPermitted("--approve is for administrators")
        }
        let (recipients, recipientNames) = try bundleRecipients(request)

        let id = Hex.encode(Sodium.randomBytes(16))
        let now = Date()
        let writer = try OutputWriter(request.output)
        let encryptor = try AgeEncryptor(recipients: recipients, armored: request.armored, sink: AgeClosureSink(writer.write))
        let tar = TarWriter { try encryptor.write($0) }
        let modified = UInt64(now.timeIntervalSince1970)
        var files: [BundleManifest.File] = []
        var records: [BundleFileRecord] = []
        for (document, summary) in documents {
            try tar.beginFile(name: summary.name, size: summary.size, mode: 0o644, modified: modified)
            let hasher = BackgroundHasher()
            do {
                _ = try decrypt(document, summary: summary) { bytes in
                    hasher.update(bytes)
                    try tar.write(bytes)
                }
            } catch {
                _ = hasher.finalize()  // stop its thread
                throw error
            }
            let sha256 = Hex.encode(hasher.finalize())
            try tar.endFile()
            files.append(BundleManifest.File(name: summary.name, size: summary.size, sha256: sha256))
            records.append(BundleFileRecord(document: document.id, generation: document.current.generation, label: document.label))
        }
        let manifest = BundleManifest(
            format: BundleManifest.formatName, bundle: id,
            sender: .init(name: identity.name, identity: identity.publicIdentity.description, minisignKey: identity.publicIdentity.minisignKey.base64),
            recipients: recipientNames, created: Timestamp.format(now), expires: request.expires.map(Timestamp.format),
            note: request.note, files: files)
        let manifestBytes = try manifest.encoded()
        let signature = try identity.minisignSignature(
            prehash: MinisignPrehash(of: manifestBytes),
            trustedComment: "coffer bundle \(id) from \(identity.name.replacingNewlines()) created \(manifest.created)")
        for (name, bytes) in [(BundleManifest.sumsName, manifest.sums), (BundleManifest.fileName, manifestBytes),
                              (BundleManifest.signatureName, signature.fileContents)] {
            try tar.beginFile(name: name, size: UInt64(bytes.count), mode: 0o644, modified: modified)
            try bytes.withUnsafeBytes { try tar.write($0) }
            try tar.endFile()
        }
        try tar.finish()
        try encryptor.finish()
        // Names, hashes, sizes, note and recipients are sealed for the
        // administrators; the entry's clear part is what replay checks.
        let details = BundleDetails(recipients: recipientNames, note: request.note, files: files)
        let created = BundleCreated(
            bundle: id, recipients: [], recipientCount: recipientNames.count, expires: manifest.expires,
            approvedBy: request.approve ? identity.fingerprint : nil, files: records)
        try commit { state in
            var sealed = created
            sealed.details = try self.sealDetails(details, action: LedgerEvent.bundleCreated(created).action, subject: id, state: state)
            return [.bundleCreated(sealed)]
        }
        try writer.commit()
        return manifest
    }

    /// Every bundle that held a file with this SHA-256 (hex), oldest first.
    /// Bundles whose details are sealed are searched only by an
    /// administrator; see ``untraceableBundles``.
    /// - Throws: ``CryptoError``, ``FormatError`` or ``VaultError/integrity(_:)``
    ///   if a bundle's sealed details were changed.
    public func traceBundles(sha256: String) throws -> [BundleTrace] {
        let wanted = sha256.lowercased()
        return try state.bundles.flatMap { bundle -> [BundleTrace] in
            guard let details = try bundleDetails(bundle.record, sequence: bundle.sequence) else { return [] }
            return zip(bundle.record.files, details.files).filter { $0.1.sha256 == wanted }.map { record, file in
                BundleTrace(
                    bundle: bundle.record.bundle, name: file.name, document: record.document, sender: bundle.sender,
                    senderName: state.identities[bundle.sender]?.name ?? "", sent: Timestamp.format(bundle.time),
                    recipients: details.recipients, expires: bundle.record.expires)
            }
        }
    }

    /// How many bundles ``traceBundles(sha256:)`` cannot search for this
    /// identity: those whose details are sealed for the administrators,
    /// when this identity is not one (0 for an administrator).
    public var untraceableBundles: Int {
        state.admins.contains(identity.fingerprint) ? 0 : state.bundles.filter { $0.record.details != nil }.count
    }

    /// Names must be safe tar paths, distinct, and not Coffer's own files.
    private func checkBundleNames(_ names: [String]) throws {
        let reserved: Set = [BundleManifest.fileName, BundleManifest.signatureName, BundleManifest.sumsName]
        var seen = Set<String>()
        for name in names {
            do {
                try TarPath.check(name)
            } catch {
                throw BundleError.invalidRequest("document name \(name.debugDescription) cannot be a bundle path: \(error)")
            }
            guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
                throw BundleError.invalidRequest("document name \(name.debugDescription) has a control character, which SHA256SUMS cannot hold")
            }
            guard !reserved.contains(name) else { throw BundleError.invalidRequest("a document named \(name) would clash with the bundle's own \(name)") }
            guard seen.insert(name).inserted else { throw BundleError.invalidRequest("two documents are named \(name); a bundle needs distinct names") }
        }
    }

    /// The age recipients of a request, and how the ledger names them.
    private func bundleRecipients(_ request: BundleRequest) throws -> ([AgeRecipient], [String]) {
        if let passphrase = request.passphrase {
            guard request.recipients.isEmpty else {
                throw BundleError.invalidRequest("a passphrase bundle has no other recipients (age allows the passphrase alone)")
            }
            return ([.scrypt(passphrase: passphrase)], ["passphrase"])
        }
        guard !request.recipients.isEmpty else { throw BundleError.invalidRequest("give --to PARTNER or an age1… recipient, or --passphrase") }
        let recipients = try request.recipients.map { name -> AgeRecipient in
            if let partner = state.partners[name] { return try AgeRecipient.partner(partner.recipient).recipient }
            do {
                return try AgeRecipient.partner(name).recipient
            } catch {
                throw BundleError.invalidRequest("\(name.prefix(80).debugDescription) is neither a partner (see `coffer partner list`) nor an age1… or age1pq1… recipient")
            }
        }
        guard !AgeRecipient.mixPostQuantumAndClassic(recipients) else {
            throw BundleError.invalidRequest("\(AgeHybrid.mixedRecipients): send post-quantum and classic partners separate bundles")
        }
        return (recipients, request.recipients)
    }
}

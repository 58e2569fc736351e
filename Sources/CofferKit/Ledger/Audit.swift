import Foundation

/// The result of replaying a ledger from its first entry: what `coffer
/// audit verify` and `coffer audit check-export` report.
public struct AuditVerification: Codable, Sendable, Equatable {
    /// The first entry that failed, and why.
    public struct Failure: Codable, Sendable, Equatable {
        /// Its sequence number.
        public let sequence: Int64
        /// What is wrong with it.
        public let reason: String
    }

    /// The vault.
    public let vault: VaultID
    /// Entries that verified (all of them, if `failure` is nil).
    public let entries: Int64
    /// The hash of the last entry that verified (hex).
    public let head: String
    /// The first bad entry, if any.
    public let failure: Failure?

    /// Whether every entry verified.
    public var isValid: Bool { failure == nil }
}

/// One ledger entry as `coffer audit log` shows it.
public struct AuditRecord: Sendable {
    /// The entry.
    public let entry: LedgerEntry
    /// The actor's display name in the vault.
    public let actorName: String
    /// The vault state right after the entry.
    let state: VaultState

    /// The documents the entry concerns (opened, sealed, shared, exported…), in entry order.
    public var documents: [DocumentID] { entry.contents.event.documents }

    /// A document's label right after the entry.
    func label(of document: DocumentID) -> String? { state.documents[document]?.label }

    /// Whether the entry holds details sealed for the administrators
    /// (`bundle.create`, `vault.backup` written since sealed details, `document.hold`).
    public var hasSealedDetails: Bool {
        switch entry.contents.event {
        case .bundleCreated(let p): p.details != nil
        case .backupStarted(let p): p.details != nil
        case .documentsHeld: true
        default: false
        }
    }

    /// The entry as one JSON object: its signed body's fields, plus `hash`,
    /// `signature` (base64), `actorName`, and `details` when `details` is
    /// given (an administrator's reading of the sealed details).
    public func jsonLine(details: RevealedDetails? = nil) throws -> String {
        guard var object = try JSONSerialization.jsonObject(with: Data(entry.body)) as? [String: Any] else {
            throw FormatError.malformed("ledger entry", "body is not a JSON object")
        }
        object["hash"] = Hex.encode(entry.hash)
        object["signature"] = Base64.encode(entry.signature)
        object["actorName"] = actorName
        if let details {
            object["details"] = try JSONSerialization.jsonObject(with: try LedgerJSON.encoder.encode(details))
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self)
    }
}

/// Which entries `coffer audit log` shows.
public struct AuditFilter: Sendable {
    /// Entries at or after this time.
    public var since: Date?
    /// Entries before this time.
    public var until: Date?
    /// Entries by this actor: its fingerprint, a prefix of at least 8
    /// digits, its display name, or its public identity (`coffer1…`).
    public var actor: String?
    /// Entries that concern this document.
    public var document: DocumentID?
    /// Entries with this action, or with this action prefix followed by a dot (`document` matches `document.open`).
    public var action: String?

    /// No filter.
    public init() {}

    func admits(_ entry: LedgerEntry, actorName: String) -> Bool {
        let c = entry.contents
        if let since, c.time < since { return false }
        if let until, c.time >= until { return false }
        if let actor, !Self.matches(actor, fingerprint: c.actor, name: actorName) { return false }
        if let action, c.event.action != action, !c.event.action.hasPrefix(action + ".") { return false }
        if let document, !c.event.documents.contains(document) { return false }
        return true
    }

    private static func matches(_ query: String, fingerprint: String, name: String) -> Bool {
        if let identity = try? PublicIdentity(query) { return identity.fingerprint == fingerprint }
        return VaultState.fingerprint(fingerprint, matches: query) || name == query
    }
}

/// The vault's ledger as evidence: verification from the first entry, the
/// log, and an export that can be checked with no vault at all.
public enum Audit {
    /// Replays the whole ledger of the vault at `path` (signatures, hash
    /// links, and that every actor was authorised at that point), without
    /// any key, and reports the first bad entry. Every ledger head
    /// remembered in `stateDirectory` (by any identity) must still be in the
    /// ledger: entries deleted from the end are a rollback.
    public static func verify(vaultAt path: String, stateDirectory: StateLocation = .standard) throws -> AuditVerification {
        let (descriptor, catalog, _) = try Vault.openCatalog(at: path, access: .readOnly)
        let remembered = try stateDirectory.path.map { try HeadStore(directory: $0).heads(vault: descriptor.vault) } ?? []
        let verification = try verify(vault: descriptor.vault, descriptor: descriptor) { signingKeys, body in
            try catalog.forEachLedgerEntry(from: 0, checkingAheadWith: signingKeys, body)
            for (_, head) in remembered { try catalog.requireEntry(at: head.sequence, hash: head.hash) }
        }
        // A shared catalog is append-only and read by sequence: nothing to compare.
        guard (catalog as? Catalog)?.unchangedSinceOpened() ?? true else { throw VaultError.changedConcurrently("the catalog was written while it was verified") }
        return verification
    }

    /// Replays entries from `source`, stopping at the first bad one.
    /// `source` is handed the replay's ``SigningKeys`` (to check signatures
    /// ahead, on other threads) and the function each entry goes to.
    static func verify(
        vault: VaultID, descriptor: VaultDescriptor?, source: (SigningKeys, (LedgerEntry) throws -> Void) throws -> Void
    ) throws -> AuditVerification {
        var verifier = LedgerVerifier(vaultID: vault, spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: vault)))
        var failure: AuditVerification.Failure?
        do {
            try source(verifier.signingKeys) { entry in
                try verifier.append(entry)
                if entry.sequence == 0, let descriptor, case .vaultCreated(let genesis) = entry.contents.event,
                   genesis.descriptor != descriptor.bodyHash || genesis.creator != descriptor.creator
                {
                    throw LedgerError.malformed(sequence: 0, reason: "it does not match the vault descriptor")
                }
            }
            if verifier.state.entryCount == 0 { throw LedgerError.missingGenesis }
        } catch let error as LedgerError {
            failure = AuditVerification.Failure(sequence: error.sequence ?? verifier.state.entryCount, reason: error.description)
        }
        return AuditVerification(vault: vault, entries: verifier.state.entryCount, head: Hex.encode(verifier.state.head), failure: failure)
    }

    /// The verified entries of the vault at `path` that `filter` admits, in
    /// order. Stops with the ledger's error at the first bad entry.
    public static func log(vaultAt path: String, filter: AuditFilter, _ body: (AuditRecord) throws -> Void) throws {
        let (descriptor, catalog, _) = try Vault.openCatalog(at: path, access: .readOnly)
        var verifier = LedgerVerifier(vaultID: descriptor.vault)
        try catalog.forEachLedgerEntry(from: 0, checkingAheadWith: verifier.signingKeys) { entry in
            try verifier.append(entry)
            let name = verifier.state.identities[entry.contents.actor]?.name ?? ""
            guard filter.admits(entry, actorName: name) else { return }
            try body(AuditRecord(entry: entry, actorName: name, state: verifier.state))
        }
    }
}

extension LedgerError {
    /// The entry the error names, if it names one.
    var sequence: Int64? {
        switch self {
        case .malformed(let s, _), .brokenChain(let s), .badSignature(let s), .unauthorized(let s, _), .wrongVault(let s), .forked(let s): s
        case .rolledBack(let s, _): s
        case .missingGenesis: 0
        }
    }
}

extension LedgerEvent {
    /// The documents the entry concerns.
    var documents: [DocumentID] {
        switch self {
        case .documentSealed(let p), .documentRekeyed(let p), .documentRevised(let p): [p.document]
        case .documentOpened(let p): [p.document]
        case .documentRelabeled(let p): [p.document]
        case .documentsUnshared(let p): p.documents
        case .documentsDeleted(let p): p.documents
        case .documentsHeld(let p): p.documents
        case .documentsReleased(let p): p.documents
        case .documentsShared(let p), .roleRewrapped(let p): (try? PackedWrap.unpack(p.records).map(\.document)) ?? []
        case .bundleCreated(let p): p.files.map(\.document)
        default: []
        }
    }
}

import Foundation

/// An open vault, used by one identity: the object store, the catalog, and
/// the state replayed from the verified ledger.
///
/// A local vault keeps both in its directory (the SQLite catalog and
/// `objects/`); a shared one keeps them in PostgreSQL and an S3 bucket
/// (``SharedStorage``), its directory holding only the descriptor and
/// where they are. Every method that changes the vault appends signed
/// ledger entries in one compare-and-append, after the objects they
/// reference are durable.
public final class Vault {
    /// The vault directory.
    public let path: String
    /// The identity acting on the vault.
    public let identity: Identity
    /// The signed descriptor.
    public let descriptor: VaultDescriptor
    /// The access structure established by the verified ledger.
    public internal(set) var state: VaultState

    let catalog: any VaultCatalog
    let objects: any ObjectStoring
    /// Where a shared vault's catalog and objects are (nil for a local vault).
    public let shared: SharedStorage?
    /// Told of the bytes a long command (seal, open, backup) has ahead and
    /// has done, to show progress; nil shows none.
    public var progress: (any ProgressListener)?
    private let heads: HeadStore?
    /// This identity's saved state of the vault (nil: kept only in memory).
    let store: StateStore?
    /// Held shared while the vault is open; `gc` takes it exclusively.
    let lock: VaultLock?
    /// Why nothing may be appended (opened ``VaultAccess/readOnly``, or a
    /// restored copy not yet adopted); nil if the vault is writable.
    var readOnlyReason: String?
    var roleKeyCache: [RoleID: [UInt32: RoleKey]] = [:]

    /// Default classification labels, lowest first.
    public static let defaultLabels = ["public", "internal", "confidential", "secret", "trade-secret"]

    static func catalogPath(_ vault: String) -> String { FileSystem.join(vault, "catalog.sqlite") }
    static func objectsPath(_ vault: String) -> String { FileSystem.join(vault, "objects") }

    private init(
        path: String, identity: Identity, descriptor: VaultDescriptor, state: VaultState, catalog: any VaultCatalog, objects: any ObjectStoring,
        shared: SharedStorage?, heads: HeadStore?, store: StateStore?, lock: VaultLock?, readOnlyReason: String? = nil
    ) {
        self.path = path
        self.identity = identity
        self.descriptor = descriptor
        self.state = state
        self.catalog = catalog
        self.objects = objects
        self.shared = shared
        self.heads = heads
        self.store = store
        self.readOnlyReason = readOnlyReason
        self.lock = lock
    }

    /// Creates a vault in `path` (which must not exist, or be empty). The
    /// creator becomes the first administrator; the vault gets its `admin`
    /// role and the creator's personal role, each with a first key version.
    /// - Parameters:
    ///   - path: the directory to create the vault in.
    ///   - creator: the first administrator.
    ///   - labels: classification labels, lowest first.
    ///   - exportLimit: the highest label that may leave in a bundle without
    ///     an administrator's approval (nil: `secret`, or the second-highest label).
    ///   - location: where this identity remembers ledger heads (default: the user's).
    ///   - storage: ``VaultStorage/local`` (the default), or a shared vault's
    ///     PostgreSQL database and S3 bucket, both reachable now.
    /// - Throws: ``VaultError/directoryNotEmpty(path:)``, ``VaultError/unknownLabel(_:known:)``, ``FileError``, ``DatabaseError``;
    ///   for a shared vault, ``PostgresError`` and ``S3Error`` too.
    public static func create(
        at path: String, creator: Identity, labels: [String] = defaultLabels, exportLimit: String? = nil, stateDirectory location: StateLocation = .standard,
        storage: VaultStorage = .local
    ) throws -> Vault {
        let stateDirectory = location.path
        guard !labels.isEmpty, Set(labels).count == labels.count, labels.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 64 }) else {
            throw VaultError.unknownLabel(labels.joined(separator: ","), known: ["non-empty, distinct labels of at most 64 bytes"])
        }
        if let exportLimit, !labels.contains(exportLimit) { throw VaultError.unknownLabel(exportLimit, known: labels) }
        try makeEmptyDirectory(path)
        let vaultID = VaultID.random()
        let now = Date()
        let (descriptor, descriptorFile) = try VaultDescriptor.make(vault: vaultID, creator: creator, time: now)
        let catalog: any VaultCatalog
        let objects: any ObjectStoring
        var shared: SharedStorage?
        switch storage {
        case .local:
            objects = try ObjectStore.create(at: objectsPath(path))
            catalog = try Catalog.create(at: catalogPath(path), vaultID: vaultID)
        case .shared(let catalogLocation, let objectsLocation):
            let sharedStorage = try SharedStorage(catalog: catalogLocation, schema: SharedStorage.schema(for: vaultID), objects: objectsLocation)
            let bucket = try sharedStorage.connectObjects()
            try bucket.requireUsableBucket()
            let database = try sharedStorage.connectCatalog()
            try database.create(vault: vaultID, descriptor: descriptorFile)
            try database.holdShared()
            (catalog, objects, shared) = (database, bucket, sharedStorage)
        }

        var verifier = LedgerVerifier(vaultID: vaultID)
        var pending: [LedgerEntry] = []
        func record(_ event: LedgerEvent) throws {
            let entry = try LedgerEntry.make(
                event: event, vault: vaultID, sequence: verifier.state.entryCount, previous: verifier.state.head, time: now, actor: creator)
            try verifier.append(entry)
            pending.append(entry)
        }
        try record(.vaultCreated(VaultCreated(
            creator: creator.publicIdentity.description, name: creator.name, labels: labels, descriptor: descriptor.bodyHash,
            exportLimit: exportLimit)))
        let adminRole = RoleID.random()
        let adminKey = RoleKey.generate()
        try record(.roleCreated(RoleCreated(role: adminRole, name: "admin", kind: .admin, clearance: labels.last!)))
        try record(.roleKeyIssued(try adminKey.issued(as: 1, of: adminRole, sealedTo: [creator.publicIdentity], vault: vaultID, admin: nil)))
        for event in try personalRoleEvents(for: creator.publicIdentity, state: verifier.state, adminKey: adminKey, adminVersion: 1, labels: labels) {
            try record(event)
        }
        try catalog.append(planning: { pending })
        if let shared { try AtomicFile.write(try shared.encoded(), to: FileSystem.join(path, SharedStorage.fileName), mode: 0o600, overwrite: false) }
        // The descriptor is written last: a directory without it is not a vault,
        // so a crash during init leaves nothing that could be mistaken for one.
        try AtomicFile.write(descriptorFile, to: FileSystem.join(path, VaultDescriptor.fileName), mode: 0o600, overwrite: false)
        let heads = stateDirectory.map { HeadStore(directory: $0) }
        try heads?.pin(fingerprint: creator.fingerprint, vaultPath: path, vault: descriptor.vault)
        let vault = Vault(
            path: path, identity: creator, descriptor: descriptor, state: verifier.state, catalog: catalog,
            objects: objects, shared: shared, heads: heads,
            store: try heads?.stateStore(of: creator, vault: vaultID), lock: try VaultLock.shared(for: path))
        try vault.saveState()
        try vault.rememberHead()
        return vault
    }

    /// Creates `path`, or checks that it is an empty directory: one that
    /// holds nothing but Coffer's own temporary files (left by a first run
    /// killed while it wrote, and removed here).
    /// - Throws: ``VaultError/directoryNotEmpty(path:)``, ``FileError``.
    static func makeEmptyDirectory(_ path: String) throws {
        if FileSystem.exists(path) {
            // A temporary file of Coffer's own (a killed first run's half-written file, never
            // renamed into place) does not make the directory taken: it is removed.
            guard FileSystem.isDirectory(path) else { throw VaultError.directoryNotEmpty(path: path) }
            let entries = try FileSystem.contents(of: path)
            guard entries.allSatisfy(FileSystem.isTemporaryName) else { throw VaultError.directoryNotEmpty(path: path) }
            for entry in entries { FileSystem.remove(FileSystem.join(path, entry)) }
        } else {
            try FileSystem.createDirectories(path)
        }
    }

    /// The events that give `member` its personal role with a first key.
    static func personalRoleEvents(
        for member: PublicIdentity, state: VaultState, adminKey: RoleKey, adminVersion: UInt32, labels: [String]
    ) throws -> [LedgerEvent] {
        let role = RoleID.random()
        return [
            .roleCreated(RoleCreated(role: role, name: "@" + member.fingerprint, kind: .personal, clearance: labels.last!)),
            .roleMemberAdded(RoleMemberChange(role: role, member: member.fingerprint)),
            .roleKeyIssued(try RoleKey.generate().issued(
                as: 1, of: role, sealedTo: [member], vault: state.vaultID, admin: (adminKey, adminVersion))),
        ]
    }

    /// Opens an existing vault: checks the descriptor, replays and verifies
    /// the whole ledger, and compares it with the head this identity
    /// remembers for the vault.
    ///
    /// A restored copy that was not adopted (``RestoredCopy``) is checked
    /// against the remembered head like any vault, but is read-only and
    /// changes nothing in the state directory: a restore drill cannot fork
    /// this identity's record of the live vault.
    /// - Parameters:
    ///   - path: the vault's directory.
    ///   - identity: who opens it.
    ///   - stateDirectory: where this identity remembers ledger heads (default: the user's).
    ///   - access: `.readOnly` for auditing: nothing in the vault
    ///     directory changes, and nothing can be appended.
    /// - Throws: ``VaultError/notAVault(path:)``, ``VaultError/headConflict(_:)``
    ///   (rollback or fork), ``LedgerError`` (tampering), ``IdentityError/notInVault(fingerprint:)``.
    public static func open(at path: String, identity: Identity, stateDirectory: StateLocation = .standard, access: VaultAccess = .readWrite) throws -> Vault {
        try open(at: path, identity: identity, stateDirectory: stateDirectory.path, access: access, objects: objectsPath(path))
    }

    /// ``open(at:identity:stateDirectory:access:)`` with the object store at
    /// `objects` instead of `VAULT/objects`: a backup snapshot's objects
    /// live in the backup's shared store, which the snapshot's own
    /// `objects` link (never followed) names.
    static func open(at path: String, identity: Identity, stateDirectory: String?, access: VaultAccess = .readWrite, objects: String) throws -> Vault {
        let (descriptor, catalog, shared) = try openCatalog(at: path, access: access)
        // A shared vault's lock spans every client (an advisory lock in its database); taken before the ledger is read, as below.
        try (catalog as? PostgresLedger)?.holdShared()
        // Taken before the ledger is read: `gc` (which takes it exclusively)
        // then cannot delete a generation the state about to be replayed
        // still references, between that replay and this process's reads.
        let lock = try VaultLock.shared(for: path, create: access == .readWrite)
        let restored = try RestoredCopy.read(in: path)
        let heads = stateDirectory.map { HeadStore(directory: $0) }
        let pinned = try heads?.checkPin(fingerprint: identity.fingerprint, vaultPath: path, vault: descriptor.vault) ?? true
        let remembered = try heads?.head(fingerprint: identity.fingerprint, vault: descriptor.vault)
        // A restored copy not yet adopted leaves this identity's record of the vault alone.
        let tracked = restored == nil ? heads : nil
        let store = try tracked?.stateStore(of: identity, vault: descriptor.vault)
        let saved = try store?.load()
        let state: VaultState
        do {
            state = try replay(
                catalog: catalog, descriptor: descriptor, trustedThrough: remembered, from: saved,
                spillingTo: store.map { LedgerVerifier.Spill(store: $0, reader: identity.fingerprint) })
        } catch let error as LedgerError {
            throw try HeadConflict.explaining(error, vaultPath: path, remembered: remembered, catalog: catalog) ?? error
        }
        guard state.identities[identity.fingerprint] != nil else {
            throw IdentityError.notInVault(fingerprint: identity.fingerprint)
        }

        // First meeting: pin the vault only once its ledger verified and admitted us.
        if !pinned { try tracked?.pin(fingerprint: identity.fingerprint, vaultPath: path, vault: descriptor.vault) }
        let vault = Vault(
            path: path, identity: identity, descriptor: descriptor, state: state, catalog: catalog,
            objects: try shared?.connectObjects() ?? ObjectStore(root: objects), shared: shared, heads: tracked, store: store, lock: lock,
            readOnlyReason: restored.map { $0.refusal(path: path) } ?? (access == .readOnly ? "\(path) was opened read-only" : nil))
        guard !state.revoked.contains(identity.fingerprint) else {
            // The attempt is evidence: it goes into the ledger, signed by the revoked identity itself
            // (opened read-only, through a writable open if the directory allows one).
            try? vault.commit { _ in [.accessRefused(AccessRefused(attempted: "open the vault"))] }
            if access == .readOnly, restored == nil { _ = try? open(at: path, identity: identity, stateDirectory: stateDirectory, objects: objects) }
            throw VaultError.revoked(fingerprint: identity.fingerprint)
        }
        if state.entryCount != saved?.entryCount { try vault.saveState() }
        try vault.rememberHead()
        return vault
    }

    /// Reads and checks the descriptor and connects to the catalog, local
    /// (``openStorage(at:access:toleratingForeignSchema:)``) or shared
    /// (``SharedStorage``): for commands that work on both.
    /// - Returns: the descriptor, the catalog, and where a shared vault's storage is (nil if local).
    static func openCatalog(at path: String, access: VaultAccess = .readWrite) throws -> (VaultDescriptor, any VaultCatalog, SharedStorage?) {
        let descriptor = try readDescriptor(at: path)
        guard let shared = try SharedStorage.read(inVault: path) else {
            let (descriptor, catalog) = try openStorage(at: path, access: access)
            return (descriptor, catalog, nil)
        }
        let catalog = try shared.connectCatalog()
        try requireSameVault(catalog, descriptor)
        return (descriptor, catalog, shared)
    }

    /// The vault directory's descriptor, read and its signature checked.
    /// - Throws: ``VaultError/notAVault(path:)``, ``VaultError/badDescriptor(_:)``, ``FormatError``.
    static func readDescriptor(at path: String) throws -> VaultDescriptor {
        let descriptorPath = FileSystem.join(path, VaultDescriptor.fileName)
        guard FileSystem.isDirectory(path), FileSystem.exists(descriptorPath) else { throw VaultError.notAVault(path: path) }
        return try VaultDescriptor.parse(try VaultDescriptor.readFile(inVault: path))
    }

    /// Throws unless the catalog's `meta` names the descriptor's vault.
    static func requireSameVault(_ catalog: any VaultCatalog, _ descriptor: VaultDescriptor) throws {
        guard try catalog.meta("vault_id") == descriptor.vault.description else {
            throw VaultError.integrity("the catalog belongs to another vault than the descriptor")
        }
    }

    /// Reads and checks the descriptor and opens a local vault's catalog (see
    /// ``Catalog/open(at:access:toleratingForeignSchema:)``). With `access`
    /// `.readOnly`, nothing in the directory is created or changed (``Catalog/openReadOnly(at:)``).
    /// - Throws: ``VaultError/notPermitted(_:)`` for a shared vault (the
    ///   commands that call this read the local files themselves).
    static func openStorage(at path: String, access: VaultAccess = .readWrite, toleratingForeignSchema: Bool = false) throws -> (VaultDescriptor, Catalog) {
        let descriptor = try readDescriptor(at: path)
        if try SharedStorage.read(inVault: path) != nil {
            throw VaultError.notPermitted("\(path) is a shared vault (PostgreSQL and S3); this command works only on a local vault so far (docs/SHARED.md)")
        }
        let catalog = access == .readOnly
            ? try Catalog.openReadOnly(at: catalogPath(path), toleratingForeignSchema: toleratingForeignSchema)
            : try Catalog.open(at: catalogPath(path), toleratingForeignSchema: toleratingForeignSchema)
        try requireSameVault(catalog, descriptor)
        return (descriptor, catalog)
    }

    /// Replays the ledger into a state, verifying every entry (signatures of
    /// entries at or before `trustedThrough` were checked on an earlier run and
    /// are skipped; their hash chain is still recomputed).
    ///
    /// From a `checkpoint` (a state this identity verified and saved in its
    /// ``StateStore``), only the entries after it are replayed: the entry it ends with
    /// must still be in the ledger with the same hash, or the vault was
    /// rolled back or forked. Edits to entries before it are left to
    /// `coffer verify`, which always replays everything.
    ///
    /// With a `spill`, what is verified is saved as it goes (see
    /// ``LedgerVerifier/Spill``); the caller saves the rest.
    static func replay(
        catalog: any VaultCatalog, descriptor: VaultDescriptor, trustedThrough remembered: HeadStore.Head?, from checkpoint: VaultState? = nil,
        spillingTo spill: LedgerVerifier.Spill? = nil
    ) throws -> VaultState {
        var verifier = LedgerVerifier(vaultID: descriptor.vault, spillingTo: spill)
        var rememberedMatched = remembered == nil
        if let checkpoint, checkpoint.entryCount > 0 {
            let last = checkpoint.entryCount - 1
            try catalog.requireEntry(at: last, hash: checkpoint.head)
            verifier = LedgerVerifier(state: checkpoint, spillingTo: spill)
            // The remembered head was checked when the checkpoint was made, if it is not newer.
            if let remembered, remembered.sequence <= last { rememberedMatched = true }
        }
        var genesis: VaultCreated?
        if checkpoint != nil, let first = try catalog.ledgerEntry(at: 0), case .vaultCreated(let created) = first.contents.event { genesis = created }
        try catalog.forEachLedgerEntry(from: verifier.state.entryCount, checkingAheadWith: verifier.signingKeys) { entry in
            let trusted = remembered.map { entry.sequence <= $0.sequence } ?? false
            try verifier.append(entry, checkSignature: !trusted)
            if entry.sequence == 0, case .vaultCreated(let created) = entry.contents.event { genesis = created }
            if let remembered, entry.sequence == remembered.sequence {
                guard verifier.state.head == remembered.hash else { throw LedgerError.forked(sequence: entry.sequence) }
                rememberedMatched = true
            }
        }
        if let remembered, !rememberedMatched {
            throw LedgerError.rolledBack(seenSequence: remembered.sequence, currentCount: verifier.state.entryCount)
        }
        guard verifier.state.entryCount > 0 else { throw LedgerError.missingGenesis }
        guard let genesis, genesis.descriptor == descriptor.bodyHash, genesis.creator == descriptor.creator
        else { throw VaultError.badDescriptor("it does not match the ledger's first entry") }
        return verifier.state
    }

    /// Saves the state in this identity's store, which writes only the
    /// documents changed since it was loaded or last saved. A newer state
    /// that another process of this identity saved meanwhile is taken
    /// instead, once its head is found in the ledger.
    func saveState() throws {
        guard let store else { return }
        let saved = try store.save(state, reader: identity.fingerprint)
        if saved.entryCount != state.entryCount || saved.head != state.head {
            try catalog.requireEntry(at: saved.entryCount - 1, hash: saved.head)
        }
        state = saved
    }

    private func rememberHead() throws {
        guard let heads, state.entryCount > 0 else { return }
        try heads.remember(
            HeadStore.Head(sequence: state.entryCount - 1, hash: state.head, seenAt: FileSystem.realPath(path)), fingerprint: identity.fingerprint, vault: state.vaultID)
    }

    /// Verifies and applies entries other processes appended since this
    /// vault was opened (or last refreshed).
    func refresh() throws {
        var verifier = LedgerVerifier(state: state)
        try catalog.forEachLedgerEntry(from: state.entryCount) { try verifier.append($0) }
        state = verifier.state
    }

    /// Signs `events` as this identity and commits them in one transaction
    /// (see ``commit(upgradingSchema:building:)``).
    func commit(_ events: (VaultState) throws -> [LedgerEvent]) throws {
        try commit(building: { draft in
            for event in try events(draft.state) { try draft.append(event) }
        })
    }

    /// Commits the entries `build` appends to a draft, in one transaction:
    /// a compare-and-append against the head the caller planned with.
    ///
    /// The caller planned against ``state``. Inside the write transaction,
    /// entries another process appended meanwhile are verified and applied
    /// first, and `build` works from that fresher state, so concurrent
    /// writers never fork the chain. `build` re-validates whatever its plan assumed and throws
    /// ``VaultError/changedConcurrently(_:)`` when that no longer holds.
    /// Each appended event is verified and applied at once, so later events
    /// are built from the state earlier ones produce. After the commit, the
    /// entries are read back: success is reported only for what the ledger holds.
    ///
    /// A refusal of this identity's own entry is never reported as an
    /// integrity failure: if the head moved it is a race
    /// (``VaultError/changedConcurrently(_:)``, which ``replanning(_:)``
    /// retries), if this identity was revoked meanwhile it is
    /// ``VaultError/revoked(fingerprint:)``, and otherwise the rules refuse
    /// the request (``VaultError/notPermitted(_:)``).
    ///
    /// With `upgradingSchema`, a catalog of an earlier schema is upgraded in
    /// the same transaction (``Catalog/upgradeSchema()``), and a signed
    /// `vault.upgrade` entry precedes what `build` appends; without it, such
    /// a catalog refuses the commit (``VaultError/upgradeRequired(path:schema:)``).
    /// - Returns: the entries appended.
    @discardableResult
    func commit(upgradingSchema: Bool = false, building build: (LedgerDraft) throws -> Void) throws -> [LedgerEntry] {
        if let readOnlyReason { throw VaultError.notPermitted(readOnlyReason) }
        if !upgradingSchema { try requireCurrentSchema() }
        try store?.requireIntact()
        let planned = state.entryCount
        let wasRevoked = state.revoked.contains(identity.fingerprint)
        var appended: [LedgerEntry] = []
        var committed: VaultState?
        var planning = false
        do {
            try catalog.append(planning: {
                // A shared catalog plans again after another client appended first:
                // keys generated for the refused plan's versions must not be reused.
                if planning { roleKeyCache.removeAll() }
                planning = true
                try refresh()
                let headMoved = state.entryCount != planned
                let draft = LedgerDraft(verifier: LedgerVerifier(state: state), identity: identity, time: Date())
                do {
                    if upgradingSchema, let from = try catalog.upgradeSchema() {
                        try draft.append(.vaultUpgraded(VaultUpgraded(fromSchema: from, toSchema: Catalog.schemaVersion)))
                    } else {
                        // Another process may have upgraded, or not yet: decided inside the transaction.
                        try requireCurrentSchema()
                    }
                    try publishPostQuantumKey(in: draft)
                    try build(draft)
                } catch LedgerError.unauthorized(_, let reason) {
                    if !wasRevoked, state.revoked.contains(identity.fingerprint) { throw VaultError.revoked(fingerprint: identity.fingerprint) }
                    if headMoved { throw VaultError.changedConcurrently(reason) }
                    throw VaultError.notPermitted(reason)
                }
                // Never append what was planned from a saved record that did not authenticate.
                try store?.requireIntact()
                (appended, committed) = (draft.entries, draft.state)
                return draft.entries
            })
        } catch {
            // Keys generated for versions that were never committed must not shadow later ones.
            roleKeyCache.removeAll()
            throw error
        }
        if let committed { state = committed }
        try catalog.requireAppended(appended)
        try saveState()
        try rememberHead()
        return appended
    }

    /// Appends `identity.publish` when the ledger does not yet know this
    /// identity's X-Wing key (an identity that joined before identities
    /// had one): its first commit with this version of Coffer publishes it,
    /// so the next rotation of each of its roles seals to it post-quantum.
    private func publishPostQuantumKey(in draft: LedgerDraft) throws {
        try draft.publishPostQuantumKey(of: identity.publicIdentity)
    }

    /// How many times an operation is planned again when another process
    /// changed what it planned against (``VaultError/changedConcurrently(_:)``).
    static let planningAttempts = 8

    /// Runs `operation`, planning it again from the fresher state when a
    /// commit found that another process changed what it planned against.
    /// Operations wrapped here are idempotent up to their commits: each
    /// attempt re-reads the state, so steps already committed are not
    /// repeated (a rotation continues where it stopped).
    /// - Throws: ``VaultError/changedConcurrently(_:)`` after ``planningAttempts``.
    func replanning<R>(_ operation: () throws -> R) throws -> R {
        var attempt = 0
        while true {
            do {
                return try operation()
            } catch VaultError.changedConcurrently(let reason) {
                attempt += 1
                guard attempt < Self.planningAttempts else { throw VaultError.changedConcurrently(reason) }
                // Let the other writer finish its run of commits; jitter keeps two retriers apart.
                usleep(UInt32.random(in: 1_000...(20_000 * UInt32(attempt))))
                try refresh()
            }
        }
    }
}

/// Ledger entries being prepared for one commit: each event is signed,
/// verified and applied as it is appended.
final class LedgerDraft {
    private var verifier: LedgerVerifier
    private let identity: Identity
    private let time: Date
    /// The signed entries, in order.
    private(set) var entries: [LedgerEntry] = []

    init(verifier: LedgerVerifier, identity: Identity, time: Date) {
        self.verifier = verifier
        self.identity = identity
        self.time = time
    }

    /// The state with every appended entry applied.
    var state: VaultState { verifier.state }

    /// Appends `identity.publish` for `identity` if it carries an X-Wing key
    /// and the ledger knows the identity, not revoked, without one.
    func publishPostQuantumKey(of identity: PublicIdentity) throws {
        let fingerprint = identity.fingerprint
        guard identity.postQuantum != nil, let known = state.identities[fingerprint], known.identity.postQuantum == nil,
              !state.revoked.contains(fingerprint)
        else { return }
        try append(.identityPublished(IdentityPublished(identity: identity.description)))
    }

    /// Signs `event` as the next entry and applies it.
    /// - Throws: ``LedgerError/unauthorized(sequence:reason:)`` if the ledger's rules refuse it.
    func append(_ event: LedgerEvent) throws {
        let entry = try LedgerEntry.make(
            event: event, vault: state.vaultID, sequence: state.entryCount, previous: state.head, time: time, actor: identity)
        try verifier.append(entry)
        entries.append(entry)
    }
}

import Foundation

/// The outcome of `coffer verify`: what was checked, and every finding.
public struct VerificationReport: Codable, Sendable {
    /// One problem found.
    public struct Finding: Codable, Sendable, Equatable {
        /// What kind of check failed: `tree` (a symbolic link or special file in the vault directory), `descriptor`, `vault` (another vault at a known path), `state`
        /// (a damaged remembered head), `ledger`, `catalog`, `object`, `manifest`, `document`.
        public let check: String
        /// What it concerns (an entry, a row, an object id, a document id).
        public let subject: String
        /// What is wrong, in words.
        public let message: String
    }

    /// Counts of what was checked.
    public struct Counts: Codable, Sendable, Equatable {
        /// Ledger entries replayed.
        public var ledgerEntries: Int64 = 0
        /// Objects re-hashed.
        public var objectsHashed = 0
        /// Bytes re-hashed.
        public var bytesHashed: UInt64 = 0
        /// Referenced objects checked for presence.
        public var objectsReferenced = 0
        /// Objects present that nothing references (left by an interrupted seal; `gc` removes them).
        public var objectsUnreferenced = 0
        /// Documents whose current objects are still named by BLAKE2b-256
        /// (made before schema 4; `coffer vault upgrade` re-keys them).
        public var documentsNamedByBlake2b = 0
        /// Documents decrypted (with `--deep`).
        public var documentsDecrypted = 0
        /// Documents the identity could not read (with `--deep`).
        public var documentsSkipped = 0
    }

    /// What was counted.
    public var counts = Counts()
    /// Every problem, in the order found.
    public var findings: [Finding] = []
    /// Whether documents were decrypted.
    public var deep = false
    /// The part of the objects re-hashed (`PART/PARTS`; nil: all of them).
    public var subset: String?
    /// The catalog's schema version (2: readable, upgraded by `coffer vault upgrade`).
    public var catalogSchema: Int?

    /// True when nothing was found.
    public var isClean: Bool { findings.isEmpty }

    mutating func add(_ check: String, _ subject: String, _ message: String) {
        findings.append(Finding(check: check, subject: subject, message: message))
    }
}

/// Checks a vault without keys (and, given an identity, by decrypting what it can read).
public enum VaultVerifier {
    /// Verifies the vault at `path`.
    /// - Parameters:
    ///   - path: the vault's directory.
    ///   - identity: needed only for `deep`.
    ///   - stateDirectory: where identities remember ledger heads and vault
    ///     locations; every identity's record there is checked, keylessly.
    ///   - deep: decrypt every document the identity can read and check it end to end.
    ///   - subset: re-hash only this part of the objects (every other check stays complete).
    /// - Returns: the report; the vault is clean if it has no findings.
    /// - Throws: only when the vault cannot be read at all (not a vault,
    ///   unreadable catalog), and ``VaultError/changedConcurrently(_:)`` if
    ///   the catalog file was written while it was read, three times running.
    ///
    /// Nothing in the vault directory is created, changed or deleted: it
    /// works on read-only media (`Catalog/openReadOnly(at:)`).
    public static func verify(
        at path: String, identity: Identity?, stateDirectory: StateLocation = .standard, deep: Bool, subset: ObjectSubset? = nil
    ) throws -> VerificationReport {
        var state: VaultState?
        return try verify(at: path, identity: identity, stateDirectory: stateDirectory.path, deep: deep, subset: subset, objects: nil, replayed: &state)
    }

    /// ``verify(at:identity:stateDirectory:deep:)``, also handing back the
    /// state the ledger replay produced (nil if the ledger did not verify).
    /// A catalog written while it was read (``VaultError/changedConcurrently(_:)``)
    /// is read again, up to three times in all.
    /// - Parameter objects: the object store, when it is not `path/objects`
    ///   (a backup snapshot, whose `objects` is Coffer's own link to the
    ///   backup's shared store: that one link is expected, never followed,
    ///   and the shared store is checked for links instead).
    static func verify(
        at path: String, identity: Identity?, stateDirectory: String?, deep: Bool, subset: ObjectSubset? = nil, objects: String?,
        replayed verifiedState: inout VaultState?
    ) throws -> VerificationReport {
        for attempt in 1... {
            do {
                return try verifyOnce(
                    at: path, identity: identity, stateDirectory: stateDirectory, deep: deep, subset: subset, objects: objects, replayed: &verifiedState)
            } catch VaultError.changedConcurrently(_) where attempt < 3 {
                continue
            }
        }
        preconditionFailure("unreachable")
    }

    private static func verifyOnce(
        at path: String, identity: Identity?, stateDirectory: String?, deep: Bool, subset: ObjectSubset?, objects: String?,
        replayed verifiedState: inout VaultState?
    ) throws -> VerificationReport {
        var report = VerificationReport()
        report.deep = deep
        report.subset = subset?.description
        if FileSystem.isDirectory(path), try SharedStorage.read(inVault: path) != nil {
            return try verifyShared(at: path, identity: identity, stateDirectory: stateDirectory, deep: deep, subset: subset, report: report, replayed: &verifiedState)
        }
        // 0. The tree: only regular files and directories, and no link, anywhere below the vault.
        var special = (try? Directory.open(path).specialEntries()) ?? []
        let objectsPath = objects ?? Vault.objectsPath(path)
        if let objects {
            special.removeAll { $0 == (Vault.objectsPath(path), .symbolicLink) }
            do {
                special += try Directory.open(objects, followingLink: false).specialEntries()
            } catch let error as UnsafeEntryError {
                special.append((objects, error.found))
            } catch {}  // missing: every referenced object is reported missing below
        }
        for (entry, kind) in special {
            report.add("tree", entry, UnsafeEntryError(path: entry, found: kind, expected: .regular).description)
        }
        // A catalog that is not a regular file is not opened (a FIFO would block).
        let catalogPath = Vault.catalogPath(path)
        if special.contains(where: { Catalog.files(at: catalogPath).contains($0.path) }) { return report }
        let descriptor: VaultDescriptor
        let catalog: Catalog
        // Held shared for the whole check: `gc` cannot delete a generation
        // the snapshot below still references while objects are checked.
        // Only where the vault has its lock file: verify creates nothing (a
        // lock file that is a link or a FIFO is a `tree` finding above).
        let lock = try? VaultLock.shared(for: path, create: false)
        defer { withExtendedLifetime(lock) {} }
        do {
            (descriptor, catalog) = try Vault.openStorage(at: path, access: .readOnly, toleratingForeignSchema: true)
        } catch let error as UnsafeEntryError {
            report.add("descriptor", VaultDescriptor.fileName, error.description)
            return report
        } catch let error as VaultError where error.kind == .integrity {
            report.add("descriptor", VaultDescriptor.fileName, error.description)
            return report
        } catch let error as FormatError {
            report.add("descriptor", VaultDescriptor.fileName, error.description)
            return report
        }

        // 0. The catalog's schema: anything that is not Coffer's own is a
        // finding (it never runs: triggers and views are disabled).
        for deviation in try catalog.schemaDeviations() {
            report.add("catalog", "schema", deviation)
        }

        // The ledger is read as one snapshot of the catalog.
        var state: VaultState?
        try catalog.database.reading {
            report.catalogSchema = (try? catalog.storedSchema()) ?? nil
            state = try checkLedger(of: catalog, descriptor: descriptor, path: path, stateDirectory: stateDirectory, into: &report)
        }

        // The catalog has been read: if it was opened immutable and a writer
        // checkpointed into it meanwhile, what was read may mix two states.
        guard catalog.unchangedSinceOpened() else {
            throw VaultError.changedConcurrently("the catalog was written while it was verified")
        }

        // 3. Objects. First the documents: each current version's manifest
        // must match the ledger, and the objects it references are noted (in
        // a temporary file, not in memory). Then the store, one fan-out
        // directory at a time: every object hashes to its name (only the
        // subset's part, if one is given), every referenced one is present.
        // Memory holds one directory's worth, a 256th of the objects.
        let store = ObjectStore(root: objectsPath)
        let references = try state.map { try noteReferences(of: $0, checkingManifestsIn: store, into: &report) }
        try store.forEachFanOut { leadingByte, entries in
            let present = entries.compactMap(\.id).sorted()
            let referenced = try references?.inFanOut(leadingByte) ?? [:]
            report.counts.objectsReferenced += referenced.count
            // A referenced object is checked with the function its referrer names it by.
            let named = present.map { id in referenced.index(forKey: id).map { referenced[$0].key } ?? id }
            try hash(subset.map { part in named.filter(part.contains) } ?? named, referenced: referenced, in: store, into: &report)
            guard references != nil else { return }
            let presentSet = Set(present)
            for (id, referrer) in referenced.sorted(by: { $0.key < $1.key }) where !presentSet.contains(id) {
                // Present but not a regular file: a directory or special file in its place.
                let what = store.contains(id) ? "is not a regular file" : "is missing"
                report.add("object", id.description, "object referenced by \(referrer) \(what)")
            }
            report.counts.objectsUnreferenced += present.count { referenced[$0] == nil }
        }

        // 4. Deep: decrypt everything the identity can read.
        if deep, let identity, let state, report.findings.isEmpty {
            try decryptEverything(at: path, identity: identity, stateDirectory: stateDirectory, objects: objectsPath, replayed: state, into: &report)
        }
        verifiedState = state
        return report
    }

    /// 1. Ledger: chain, signatures, authorisation, replayed from the first
    /// entry with every signature checked now; plus every head remembered in
    /// `stateDirectory` (any identity's: no key is needed to detect a rollback).
    /// - Returns: the replayed state, or nil (with findings) if the ledger did not verify.
    private static func checkLedger(
        of catalog: any VaultCatalog, descriptor: VaultDescriptor, path: String, stateDirectory: String?, into report: inout VerificationReport
    ) throws -> VaultState? {
        do {
            let heads = stateDirectory.map { HeadStore(directory: $0) }
            let remembered = try heads?.heads(vault: descriptor.vault) ?? []
            try heads?.checkAllPins(vaultPath: path, vault: descriptor.vault)
            // Re-check every signature: verify trusts nothing it has not checked now.
            let replayed = try Vault.replay(
                catalog: catalog, descriptor: descriptor, trustedThrough: nil, spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: descriptor.vault)))
            for (_, head) in remembered {
                do {
                    try catalog.requireEntry(at: head.sequence, hash: head.hash)
                } catch let error as LedgerError {
                    throw try HeadConflict.explaining(error, vaultPath: path, remembered: head, catalog: catalog) ?? error
                }
            }
            report.counts.ledgerEntries = replayed.entryCount
            return replayed
        } catch let error as LedgerError {
            report.add("ledger", ledgerSubject(error), error.description)
        } catch let error as VaultError {
            switch error {
            case .replaced: report.add("vault", path, error.description)
            case .headConflict(let conflict): report.add("ledger", "entry \(conflict.seenSequence)", error.description)
            case .integrity: report.add("state", stateDirectory ?? "", error.description)
            default: report.add("descriptor", VaultDescriptor.fileName, error.description)
            }
        }
        return nil
    }

    /// 4. Deep: opens the vault as `identity` and decrypts every document it
    /// can read, end to end; its saved state must equal the replay's.
    private static func decryptEverything(
        at path: String, identity: Identity, stateDirectory: String?, objects: String, replayed: VaultState, into report: inout VerificationReport
    ) throws {
        let vault = try Vault.open(at: path, identity: identity, stateDirectory: stateDirectory, access: .readOnly, objects: objects)
        // The identity's saved state must be exactly what the ledger replays to (a
        // record put back from an older copy of its store authenticates, and is found here).
        if vault.state.entryCount == replayed.entryCount {
            let differing = vault.state.fieldsDiffering(from: replayed)
            if !differing.isEmpty {
                report.add("state", identity.fingerprint, "the saved state in the state directory differs from the ledger in: \(differing.joined(separator: ", ")); remove it with `coffer state reset`")
            }
        }
        // A page at a time from the identity's saved state, in id order.
        for document in vault.state.documents.values {
            guard vault.canRead(document) else {
                report.counts.documentsSkipped += 1
                continue
            }
            do {
                // Every kept revision, through the links from the current one.
                try vault.forEachRevision(of: document) { version, key in
                    let meta = try vault.metadata(of: document, version: version, key: key)
                    let size = try ContentStream(store: vault.objects).open(try vault.readManifest(version), key: key) { _ in }
                    if size != meta.size { throw VaultError.integrity("revision \(version.revision) decrypted \(size) bytes, metadata says \(meta.size)") }
                    return true
                }
                report.counts.documentsDecrypted += 1
            } catch let error as any CofferFailure {
                report.add("document", document.id.description, error.description)
            }
        }
    }

    /// ``verifyOnce`` for a shared vault (``SharedStorage``): the ledger from
    /// PostgreSQL, then every object the current versions reference, without
    /// listing the bucket: each must be there (`HEAD`), and those in
    /// `subset` (all, without one) are read and re-hashed. Unreferenced
    /// objects are `gc`'s concern and are not counted.
    private static func verifyShared(
        at path: String, identity: Identity?, stateDirectory: String?, deep: Bool, subset: ObjectSubset?, report start: VerificationReport,
        replayed verifiedState: inout VaultState?
    ) throws -> VerificationReport {
        var report = start
        let descriptor: VaultDescriptor
        let catalog: any VaultCatalog
        let store: any ObjectStoring
        do {
            let shared: SharedStorage?
            (descriptor, catalog, shared) = try Vault.openCatalog(at: path, access: .readOnly)
            store = try shared?.connectObjects() ?? ObjectStore(root: Vault.objectsPath(path))
        } catch let error as any CofferFailure where error is UnsafeEntryError || error is FormatError || error.kind == .integrity {
            report.add("descriptor", VaultDescriptor.fileName, error.description)
            return report
        }
        // Held for the whole check, as a local vault's lock file: `gc` cannot delete
        // a generation the replay below still references while objects are checked.
        try (catalog as? PostgresLedger)?.holdShared()
        report.catalogSchema = (try? catalog.storedSchema()) ?? nil
        let state = try checkLedger(of: catalog, descriptor: descriptor, path: path, stateDirectory: stateDirectory, into: &report)
        if let state { try checkReferencedObjects(of: state, in: store, subset: subset, into: &report) }
        if deep, let identity, let state, report.findings.isEmpty {
            try decryptEverything(at: path, identity: identity, stateDirectory: stateDirectory, objects: Vault.objectsPath(path), replayed: state, into: &report)
        }
        verifiedState = state
        return report
    }

    /// Every object `state`'s current versions reference, without listing
    /// the store: each manifest checked against the ledger, each object in
    /// `subset` (all, without one) read and re-hashed, the others' presence checked.
    private static func checkReferencedObjects(
        of state: VaultState, in store: any ObjectStoring, subset: ObjectSubset?, into report: inout VerificationReport
    ) throws {
        let references = try noteReferences(of: state, checkingManifestsIn: store, into: &report)
        for leadingByte in UInt8.min...UInt8.max {
            let referenced = try references.inFanOut(leadingByte)
            report.counts.objectsReferenced += referenced.count
            let ids = referenced.keys.sorted()
            let rehashed = subset.map { part in ids.filter(part.contains) } ?? ids
            try hash(rehashed, referenced: referenced, in: store, into: &report)
            let others = subset.map { part in ids.filter { !part.contains($0) } } ?? []
            let present = try ParallelMap.run(others) { id in try store.contains(id) }
            for (id, there) in zip(others, present) where !there {
                report.add("object", id.description, "object referenced by \(referenced[id] ?? "?") is missing")
            }
        }
    }

    /// Verifies a copy of a vault (``Vault/copy(from:to:storage:progress:)``)
    /// before its descriptor is written: its whole ledger replayed with every
    /// signature checked, ending where the source's did (`expected`), and
    /// every object its current versions reference read back and re-hashed.
    static func verifyCopy(
        catalog: any VaultCatalog, objects: any ObjectStoring, descriptor: VaultDescriptor, expecting expected: VaultState
    ) throws -> VerificationReport {
        var report = VerificationReport()
        guard let state = try checkLedger(of: catalog, descriptor: descriptor, path: "the copy", stateDirectory: nil, into: &report) else { return report }
        if state.entryCount != expected.entryCount || state.head != expected.head {
            report.add("ledger", "entry \(state.entryCount - 1)", "the copy's ledger does not end where the source's did (entry \(expected.entryCount - 1))")
        }
        try checkReferencedObjects(of: state, in: objects, subset: nil, into: &report)
        return report
    }

    /// Checks the manifest of each kept revision of every document against
    /// what the ledger recorded, and notes every object it references (a
    /// re-key leaves the re-keyed generation's objects to `gc`). Documents
    /// are read a page at a time from the replay's store.
    private static func noteReferences(
        of state: VaultState, checkingManifestsIn store: any ObjectStoring, into report: inout VerificationReport
    ) throws -> ObjectReferences {
        let references = try ObjectReferences()
        for document in state.documents.values {
            for version in document.revisions {
                let referrer = "document \(document.id) (generation \(version.generation))"
                if version.manifest.hash != .current { report.counts.documentsNamedByBlake2b += 1 }
                for id in [version.manifest] + version.segments { try references.insert(id, referencedBy: referrer) }
                do {
                    let manifest = try Manifest(parsing: try store.read(version.manifest))
                    if manifest.objectHash != version.manifest.hash || manifest.segments != version.segments || manifest.documentID != document.id
                        || manifest.generation != version.generation || manifest.commitment != version.commitment {
                        report.add("manifest", version.manifest.description, "manifest does not match what the ledger recorded for document \(document.id)")
                    }
                } catch ObjectStoreError.missing(_) {
                    // Reported by the walk of the store, with every other missing object.
                } catch is UnsafeEntryError {
                    // Not a regular file: reported by the walk of the store too.
                } catch let error as any CofferFailure {
                    report.add("manifest", version.manifest.description, error.description)
                }
            }
        }
        return references
    }

    /// Re-hashes `ids` on every core; findings are reported in id order.
    /// An object nothing references may be named by either hash function
    /// (a vault upgrade leaves the BLAKE2b-named originals to `gc`).
    private static func hash(
        _ ids: [ObjectID], referenced: [ObjectID: String], in store: any ObjectStoring, into report: inout VerificationReport
    ) throws {
        let checked = try ParallelMap.run(ids) { id -> (hashedBytes: Int?, problem: String?) in
            do {
                let bytes = try store.read(id)
                let named = id.names(bytes) || (referenced[id] == nil && ObjectHash.allCases.contains { id.computed(with: $0).names(bytes) })
                return (bytes.count, named ? nil : ObjectStoreError.corrupt(id).description)
            } catch let error as any CofferFailure {
                return (nil, error.description)
            }
        }
        for (id, result) in zip(ids, checked) {
            if let size = result.hashedBytes {
                report.counts.objectsHashed += 1
                report.counts.bytesHashed += UInt64(size)
            }
            if let problem = result.problem { report.add("object", id.description, problem) }
        }
    }

    private static func ledgerSubject(_ error: LedgerError) -> String {
        "entry \(error.sequence ?? 0)"
    }
}

extension Vault {
    /// Records in the ledger that `verify --subset` re-hashed `subset` of the
    /// objects, with what it found (`vault.check`, signed by this identity):
    /// the evidence `coffer audit report` reads to say when every object was last checked.
    /// - Throws: ``VaultError/notPermitted(_:)`` on a read-only vault, and what a commit throws.
    public func recordCheck(of subset: ObjectSubset, report: VerificationReport) throws {
        try replanning {
            try commit { _ in
                [.vaultChecked(VaultChecked(
                    part: subset.part, parts: subset.parts, objects: report.counts.objectsHashed, bytes: report.counts.bytesHashed,
                    findings: report.findings.count))]
            }
        }
    }
}

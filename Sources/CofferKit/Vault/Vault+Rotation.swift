import Foundation

/// What a rotation, removal, revocation or re-key did, or with `--plan`
/// would do.
public struct RotationReport: Codable, Sendable, Equatable {
    /// One membership ended.
    public struct Removal: Codable, Sendable, Equatable {
        /// The member's fingerprint.
        public let member: String
        /// The role it left.
        public let role: String
    }

    /// What happened to one role's keys.
    public struct RoleRotation: Codable, Sendable, Equatable {
        /// The role's name.
        public let role: String
        /// Whether a new key version was (or would be) issued.
        public var newKey: Bool
        /// The key version this run issued when `newKey` is true, else the
        /// version data keys ended under.
        public var keyVersion: UInt32
        /// Data keys rewrapped under it.
        public var rewrapped = 0
        /// Role keys rewrapped for the administrators (admin role only).
        public var roleKeysRewrapped = 0
        /// Older key versions destroyed.
        public var retired: [UInt32] = []
    }

    /// True if nothing was changed (`--plan`).
    public var planned: Bool
    /// Memberships ended.
    public var removed: [Removal] = []
    /// Roles rotated.
    public var roles: [RoleRotation] = []
    /// Documents re-keyed (content re-encrypted under new data keys).
    public var rekeyed: [DocumentID] = []
    /// Wall-clock seconds.
    public var seconds: Double = 0

    /// An empty report.
    public init(planned: Bool) {
        self.planned = planned
    }

    /// Data keys rewrapped across all roles.
    public var totalRewrapped: Int { roles.reduce(0) { $0 + $1.rewrapped } }
}

extension Vault {
    /// Wraps in one `role.rewrap` entry and transaction (about 0.65 MB of
    /// ledger per entry); `COFFER_REWRAP_BATCH_SIZE` changes it (smaller
    /// entries, more commits). Measured over 100,000 documents, 5,000 per
    /// batch took the least CPU time, and 14 MiB less memory than 10,000
    /// (docs/PERFORMANCE.md).
    static var rewrapBatchSize: Int {
        ProcessInfo.processInfo.environment["COFFER_REWRAP_BATCH_SIZE"].flatMap(Int.init).map { Swift.max(1, $0) } ?? 5_000
    }
    /// Documents re-keyed per commit.
    static let rekeyBatchSize = 64

    /// Rotates a role: a new key version sealed to its current members (and
    /// wrapped for `admin`), every data key under an older version rewrapped
    /// under it, then the older versions destroyed. No content is read or
    /// written. If an earlier rotation of the role was interrupted, this
    /// finishes it instead of starting another.
    public func rotateRole(named name: String, plan: Bool) throws -> RotationReport {
        let started = Date()
        // Planned once. A key version issued after this command started, by
        // an earlier attempt of its own or by another administrator, is the
        // new key it asked for: a re-plan after a concurrent change finishes
        // the rotation under the newest key and never issues a second one.
        let initial = try role(named: name)
        let wantsKey = !initial.hasOlderVersions
        var issued: [UInt32] = []
        return try replanning {
            try requireAdministrator("rotate role keys")
            let role = try role(named: name)
            var report = RotationReport(planned: plan)
            let newKey = wantsKey && role.currentVersion == initial.currentVersion
            var rotation = try finishRotation(of: role.id, newKey: newKey, plan: plan) { issued.append($0) }
            if !plan {
                // Reported as issued by this run: the version it signed in any
                // attempt (another administrator may have issued a newer one since).
                rotation.newKey = !issued.isEmpty
                if let last = issued.last { rotation.keyVersion = last }
            }
            report.roles.append(rotation)
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
    }

    /// Rotates every role that holds a classic-only key version (one a
    /// quantum computer could recover from a recorded copy: see
    /// ``VaultState/KeyVersion/isClassicOnly``), `admin` first so that the
    /// others' new keys are wrapped under its new key: how a vault made
    /// before post-quantum keys moves over. A role with a member whose
    /// X-Wing key is not yet published is still sealed to it classically,
    /// and stays listed by `coffer audit report` until that member has run a
    /// command and the role is rotated again.
    public func rotateClassicOnlyRoles(plan: Bool) throws -> RotationReport {
        let names = state.roles.values.filter { role in role.versions.values.contains(where: \.isClassicOnly) }
            .sorted { ($0.kind == .admin ? 0 : 1, $0.name) < ($1.kind == .admin ? 0 : 1, $1.name) }.map(\.name)
        return try rotateRoles(named: names, plan: plan)
    }

    /// Rotates the roles `names`, in that order, into one report.
    func rotateRoles(named names: [String], plan: Bool) throws -> RotationReport {
        let started = Date()
        var report = RotationReport(planned: plan)
        for name in names { report.roles += try rotateRole(named: name, plan: plan).roles }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Brings a role to a single, settled key version: issues a new key when
    /// `newKey` is true or a removal left the role due one, rewraps every
    /// data key (and, for `admin`, every role key) still under an older
    /// version, and retires the older versions. Every step is its own
    /// commit, so an interrupted run leaves a consistent vault and the next
    /// run continues where it stopped.
    /// - Parameter issued: called with each key version this call commits,
    ///   as soon as it is committed (a later step may still fail).
    func finishRotation(
        of roleID: RoleID, newKey: Bool, plan: Bool, issued: (UInt32) -> Void = { _ in }
    ) throws -> RotationReport.RoleRotation {
        guard let role = state.roles[roleID] else { throw VaultError.notFound("unknown role \(roleID)") }
        let issue = newKey || role.rotationDue
        var result = RotationReport.RoleRotation(role: role.name, newKey: issue, keyVersion: role.currentVersion + (issue ? 1 : 0))
        if plan {
            var after: DocumentID?
            while let last = try documents(wrappedFor: roleID, after: after, limit: 4096, each: { document in
                guard let wrap = document.current.wraps[roleID], issue || wrap.roleVersion < role.currentVersion else { return }
                result.rewrapped += 1
            }) {
                after = last
            }
            result.retired = Array(role.versions.keys.filter { $0 < result.keyVersion }).sorted()
            if role.kind == .admin { result.roleKeysRewrapped = staleAdminWraps(below: result.keyVersion).count }
            return result
        }
        var issuedVersion: UInt32?
        if issue {
            // Built from the state inside the commit: the version is the one after the newest committed.
            var version: UInt32 = 0
            try commit(building: { draft in
                let role = draft.state.roles[roleID]!
                version = role.currentVersion + 1
                try draft.append(try self.newKeyEvent(for: role, in: draft.state))
            })
            issued(version)
            issuedVersion = version
        }
        result.rewrapped = try rewrapDocuments(of: roleID)
        if role.kind == .admin { result.roleKeysRewrapped = try rewrapRoleKeys() }
        let settled = state.roles[roleID]!
        // The version this call issued, else the one data keys ended under.
        result.keyVersion = issuedVersion ?? settled.currentVersion
        result.retired = settled.olderVersions
        if !result.retired.isEmpty {
            try commit { _ in [.roleKeysRetired(RoleKeysRetired(role: roleID, before: settled.currentVersion))] }
        }
        return result
    }

    /// Rewraps every data key wrapped for `roleID` under an older version,
    /// in batches of ``rewrapBatchSize`` (one entry and transaction each),
    /// unwrapping and wrapping on every core. The documents are found a
    /// batch at a time, in id order, through the saved state's role index:
    /// memory holds one batch, whatever the vault's size.
    private func rewrapDocuments(of roleID: RoleID) throws -> Int {
        let role = state.roles[roleID]!
        let version = role.currentVersion
        let newKey = try roleKey(roleID, version: version).orThrow(role.name)
        var oldKeys: [UInt32: RoleKey] = [:]
        let vaultID = state.vaultID
        let roleName = role.name
        var done = 0
        var after: DocumentID?
        while true {
            // What each rewrap needs, not the documents themselves; a page at a time up to a batch.
            var batch: [StaleWrap] = []
            while batch.count < Self.rewrapBatchSize, let last = try documents(
                wrappedFor: roleID, after: after, limit: min(4096, Self.rewrapBatchSize - batch.count),
                each: { document in
                    guard let wrap = document.current.wraps[roleID], wrap.roleVersion < version else { return }
                    batch.append(StaleWrap(
                        document: document.id, generation: document.currentGeneration, label: document.label, commitment: document.current.commitment,
                        wrap: wrap))
                })
            {
                after = last
            }
            guard !batch.isEmpty else {
                // The role index is a hint: if it missed a wrap (an edited state directory), the
                // store is rebuilt from the ledger and the rotation is finished by running it again.
                if let store, state.wrapCounts[roleID]?.contains(where: { $0.key < version && $0.value > 0 }) == true {
                    try store.discard(because: "its role index misses data keys of \(role.name) under older versions")
                }
                return done
            }
            for old in Set(batch.map(\.wrap.roleVersion)) where oldKeys[old] == nil {
                oldKeys[old] = try roleKey(roleID, version: old).orThrow("\(role.name) v\(old)")
            }
            let keys = oldKeys
            let records = try ParallelMap.run(batch) { item -> PackedWrap in
                var context = DataKeyWrapContext(
                    vaultID: vaultID, documentID: item.document, generation: item.generation, roleID: roleID, roleVersion: item.wrap.roleVersion,
                    label: item.label)
                let dataKey = try DataKey.unwrap(item.wrap.wrapped, with: keys[item.wrap.roleVersion]!, context: context)
                guard Sodium.constantTimeEqual(dataKey.commitment, item.commitment) else {
                    throw VaultError.integrity("document \(item.document): the data key wrapped for \(roleName) does not match its commitment")
                }
                context.roleVersion = version
                return PackedWrap(document: item.document, generation: item.generation, wrapped: dataKey.wrapped(under: newKey, context: context))
            }
            try commit { _ in [.roleRewrapped(WrapBatch(role: roleID, version: role.currentVersion, records: PackedWrap.pack(records)))] }
            done += records.count
        }
    }

    /// Calls `each` for up to `limit` documents wrapped for `roleID` (and
    /// perhaps a few that no longer are: `each` checks), in id order after
    /// `after`, and returns the last id visited (nil: none left). Read through
    /// the saved state's role index when there is one, after saving any
    /// unsaved change so that the index holds it; else from the whole state.
    func documents(wrappedFor roleID: RoleID, after: DocumentID?, limit: Int, each: (VaultState.Document) throws -> Void) throws -> DocumentID? {
        let page: [VaultState.Document]
        if let store {
            if !state.documents.changed.isEmpty { try saveState() }
            page = state.documents.records(heldBy: roleID, after: after, limit: limit) ?? []
            try store.requireIntact()
        } else {
            page = Array(state.documents.values.filter { document in
                document.current.wraps[roleID] != nil && after.map { $0 < document.id } ?? true
            }.sorted { $0.id < $1.id }.prefix(limit))
        }
        for document in page where document.deletion == nil { try each(document) }
        return page.last?.id
    }

    /// One data key wrapped under an older role key version.
    private struct StaleWrap: Sendable {
        let document: DocumentID
        let generation: UInt32
        let label: String
        let commitment: [UInt8]
        let wrap: VaultState.Wrap
    }

    /// The role key versions whose copy for the administrators is under an admin version below `adminVersion`.
    private func staleAdminWraps(below adminVersion: UInt32) -> [(role: VaultState.Role, version: UInt32)] {
        state.roles.values.flatMap { role in
            role.versions.compactMap { version, key in
                (key.adminWrap?.adminVersion ?? adminVersion) < adminVersion ? (role, version) : nil
            }
        }.sorted { ($0.role.id, $0.version) < ($1.role.id, $1.version) }
    }

    /// After the admin role rotated: rewraps every role key the
    /// administrators hold under the new admin key, in one entry.
    private func rewrapRoleKeys() throws -> Int {
        guard let admin = state.adminRole else { return 0 }
        let adminKey = try roleKey(admin.id, version: admin.currentVersion).orThrow("admin")
        let stale = staleAdminWraps(below: admin.currentVersion)
        let details = try rewrappedDetailsKeys()  // sealed ledger details, so older admin versions can retire
        guard !stale.isEmpty || !details.isEmpty else { return 0 }
        let wraps = try stale.map { role, version -> RoleKeyRewrap in
            let key = try roleKey(role.id, version: version).orThrow("\(role.name) v\(version)")
            let context = RoleKeyWrapContext(vaultID: state.vaultID, roleID: role.id, roleVersion: version, adminVersion: admin.currentVersion)
            return RoleKeyRewrap(role: role.id, version: version, wrapped: Data(key.wrapped(under: adminKey, context: context)))
        }
        try commit { _ in [.adminRewrapped(AdminRewrap(adminVersion: admin.currentVersion, wraps: wraps, details: details.isEmpty ? nil : details))] }
        return wraps.count
    }

    /// Re-keys documents: a new data key, the content re-encrypted segment
    /// by segment (plaintext only in memory), new wraps for every role that
    /// had the document; the old generation's objects are left unreferenced
    /// for `gc`. Owners re-key their own documents; administrators any.
    /// - Parameters:
    ///   - queries: ids, unique id prefixes or exact names.
    ///   - plan: only report what would be done; change nothing.
    public func rekey(_ queries: some Sequence<String>, plan: Bool) throws -> RotationReport {
        let started = Date()
        let ids = try queries.map { try document(matching: $0).0.id }
        guard !ids.isEmpty else { throw VaultError.invalidRequest("name at least one document") }
        var report = RotationReport(planned: plan)
        report.rekeyed = try replanning { try rekey(ids, plan: plan) }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Re-keys the documents with these distinct ids (see ``rekey(_:plan:)``).
    func rekey(_ ids: [DocumentID], plan: Bool) throws -> [DocumentID] {
        var seen = Set<DocumentID>()
        let ids = ids.filter { seen.insert($0).inserted }  // a document named twice is re-keyed once
        let admin = state.admins.contains(identity.fingerprint)
        for id in ids where !admin && state.documents[id]?.owner != identity.fingerprint {
            throw VaultError.notPermitted("only the owner or an administrator may re-key document \(id)")
        }
        guard !plan else { return ids }
        _ = try rekeyRetryingRaces(ids)
        return ids
    }

    /// Re-keys `ids` in passes of ``rekeyOnce(_:)`` until no document is
    /// left out by a race, at most ``planningAttempts`` passes.
    /// - Parameter stillNeeded: whether a document still needs this re-key,
    ///   asked of the state before every pass: one another process re-keyed
    ///   meanwhile is re-keyed again from its new generation only if so.
    /// - Returns: how many documents this process re-keyed.
    /// - Throws: ``VaultError/changedConcurrently(_:)`` if every pass lost a race.
    func rekeyRetryingRaces(_ ids: [DocumentID], stillNeeded: (VaultState.Document) -> Bool = { _ in true }) throws -> Int {
        var pending = ids
        var rekeyed = 0
        for attempt in 1... {
            pending = pending.filter { state.documents[$0].map(stillNeeded) ?? true }  // a missing one fails in rekeyOnce
            if pending.isEmpty { break }
            guard attempt <= Self.planningAttempts else {
                throw VaultError.changedConcurrently("\(pending.count) documents were re-keyed by another process on every attempt")
            }
            let raced = try rekeyOnce(pending)
            rekeyed += pending.count - raced.count
            pending = raced
        }
        return rekeyed
    }

    /// One pass of ``rekey(_:plan:)`` over `ids`, in batches: each batch's
    /// content is re-encrypted as the generation after the one read, and its
    /// commit records exactly that generation. A document another process
    /// re-keyed in between is left out of the commit (its new content is not
    /// this pass's to record) and returned, to be re-keyed again from its
    /// new generation.
    /// - Returns: the documents left out.
    private func rekeyOnce(_ ids: [DocumentID]) throws -> [DocumentID] {
        var raced: [DocumentID] = []
        for start in stride(from: 0, to: ids.count, by: Self.rekeyBatchSize) {
            let batch = PublishBatch(store: objects)
            var prepared: [(from: VaultState.Version, oldKey: DataKey, key: DataKey, sealed: ContentStream.Sealed, metadata: DocumentMetadata)] = []
            for id in ids[start..<min(start + Self.rekeyBatchSize, ids.count)] {
                guard let document = state.documents[id] else { throw VaultError.documentNotFound(id.description) }
                let version = document.current
                let (oldKey, _) = try dataKey(of: document, version: version)
                let metadata = try metadata(of: document, version: version, key: oldKey)
                let newKey = DataKey.generate()
                let sealed = try ContentStream(store: objects).reseal(
                    try readManifest(version), from: oldKey, to: newKey, generation: version.generation + 1, into: batch)
                prepared.append((version, oldKey, newKey, sealed, metadata))
            }
            try batch.finish()
            var racedInBatch: [DocumentID] = []
            try commit(building: { draft in
                racedInBatch = []  // the closure runs again if the ledger moved
                for item in prepared {
                    let id = item.sealed.manifest.documentID
                    let document = draft.state.documents[id]!
                    guard document.current.manifest == item.from.manifest else {
                        racedInBatch.append(id)
                        continue
                    }
                    let roles = document.current.wraps.keys.sorted().map { draft.state.roles[$0]! }
                    var event = try self.versionEvent(
                        document: id, generation: item.from.generation + 1, key: item.key, sealed: item.sealed, metadata: item.metadata,
                        label: document.label, roles: roles)
                    // Earlier revisions stay reachable: the current one's link, rewrapped under the new key.
                    event.previousKey = try self.link(for: document, generation: event.generation, key: item.key, currentKey: item.oldKey, revising: false)
                    try draft.append(.documentRekeyed(event))
                }
            })
            raced += racedInBatch
        }
        return raced
    }

    /// Revokes an identity: out of every role and of admin in one commit
    /// that also issues every role it held a new key (every role, if it was
    /// an administrator); then every data key and role key under the old
    /// versions is rewrapped and the old versions destroyed; with `rekey`,
    /// every document it could read is re-keyed. Running it again finishes
    /// an interrupted revocation; run again with `rekey` after a revocation
    /// without it, it re-keys every document the identity could read when
    /// it was revoked and that has not been re-keyed since.
    public func revoke(_ member: String, rekey: Bool, plan: Bool) throws -> RotationReport {
        return try replanning {
            try requireAdministrator("revoke identities")
            let started = Date()
            let fingerprint = try resolveMember(member)
            guard fingerprint != identity.fingerprint else { throw VaultError.invalidRequest("you cannot revoke yourself; ask another administrator") }
            var removal: Removal?
            // Documents to re-key that the state does not mark due (yet).
            var readable: [DocumentID] = []
            if state.revoked.contains(fingerprint) {
                if rekey { readable = try documentsStillReadable(byRevoked: fingerprint) }
            } else {
                let wasAdmin = state.admins.contains(fingerprint)
                if wasAdmin, state.admins.count == 1 {
                    throw VaultError.conflict("\(fingerprint) is the last administrator and cannot be revoked")
                }
                let held = state.roles(of: fingerprint)
                let heldIDs = Set(held.map(\.id))
                removal = Removal(
                    event: .identityRevoked(IdentityRevoked(member: fingerprint, rekey: rekey)), member: fingerprint, roles: held,
                    due: wasAdmin ? Set(state.roles.keys) : heldIDs)
                // Committing the revocation marks them due; a plan commits nothing.
                if plan && rekey { readable = state.documentsReadable(by: fingerprint).map(\.id) }
            }
            var report = try removeAndRotate(removal, plan: plan)
            let due = Set(state.documents.values.filter(\.rekeyDue).map(\.id))
            report.rekeyed = try self.rekey(Array(due.union(readable)).sorted(), plan: plan)
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
    }

    /// The documents a revoked identity could read just before its
    /// revocation that are still at the generation they had then (not
    /// re-keyed since). The state keeps no history, so the ledger is
    /// replayed, and verified, up to the revocation.
    private func documentsStillReadable(byRevoked member: String) throws -> [DocumentID] {
        struct Reached: Error {
            let readable: [DocumentID: UInt32]
        }
        var verifier = LedgerVerifier(vaultID: descriptor.vault)
        var then: [DocumentID: UInt32] = [:]
        do {
            try catalog.forEachLedgerEntry(from: 0, checkingAheadWith: verifier.signingKeys) { entry in
                if case .identityRevoked(let revocation) = entry.contents.event, revocation.member == member {
                    throw Reached(readable: Dictionary(uniqueKeysWithValues: verifier.state.documentsReadable(by: member)
                        .map { ($0.id, $0.currentGeneration) }))
                }
                try verifier.append(entry)
            }
        } catch let reached as Reached {
            then = reached.readable
        }
        return then.filter { id, generation in state.documents[id]?.currentGeneration == generation }.map(\.key)
    }
}

import Foundation

/// One identity as role and access reports show it.
public struct MemberSummary: Codable, Sendable, Equatable {
    /// Its fingerprint.
    public let fingerprint: String
    /// Its display name.
    public let name: String
    /// Whether it is an administrator.
    public let admin: Bool
}

/// A role as `coffer role list|show` reports it.
public struct RoleSummary: Codable, Sendable, Equatable {
    /// The role's id.
    public let id: RoleID
    /// Its name (`admin`, `@<fingerprint>` for a personal role, or a chosen name).
    public let name: String
    /// Admin, personal or shared.
    public let kind: RoleKind
    /// The highest label it may read.
    public let clearance: String
    /// Its members, by name.
    public let members: [MemberSummary]
    /// The current key version.
    public let keyVersion: UInt32
    /// Older key versions still alive: a rotation that has not finished
    /// (run the same command again, or `coffer rotate role`).
    public let olderKeyVersions: [UInt32]
    /// How many documents are wrapped for it.
    public let documents: Int
}

extension Vault {
    /// Every role, sorted by name; personal roles only with `includePersonal`.
    public func roleSummaries(includePersonal: Bool) -> [RoleSummary] {
        state.roles.values.filter { includePersonal || $0.kind != .personal }.map(summary(of:)).sorted { $0.name < $1.name }
    }

    /// The role called `name`.
    /// - Throws: ``VaultError/notFound(_:)``.
    public func roleSummary(named name: String) throws -> RoleSummary {
        summary(of: try role(named: name))
    }

    /// Creates a shared role with its first key (sealed to nobody yet,
    /// wrapped for `admin`). Administrators only.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/conflict(_:)``, ``VaultError/unknownLabel(_:known:)``.
    @discardableResult
    public func createRole(named name: String, clearance: String?) throws -> RoleSummary {
        return try replanning {
            try requireAdministrator("create roles")
            guard !name.isEmpty, name.utf8.count <= 64, !name.hasPrefix("@"), name != "admin",
                  name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) })
            else {
                throw VaultError.invalidRequest("a role name is 1 to 64 letters, digits, '-', '_' or '.', and not admin or @…")
            }
            guard state.role(named: name) == nil else { throw VaultError.conflict("role \(name) exists already") }
            let clearance = clearance ?? defaultLabel
            guard state.labels.contains(clearance) else { throw VaultError.unknownLabel(clearance, known: state.labels) }
            let id = RoleID.random()
            try commit(building: { draft in
                try draft.append(.roleCreated(RoleCreated(role: id, name: name, kind: .shared, clearance: clearance)))
                try draft.append(try self.newKeyEvent(for: draft.state.roles[id]!, in: draft.state))
            })
            return try roleSummary(named: name)
        }
    }

    /// Adds `identity` to a shared role and seals the role's current key to
    /// it. An identity new to the vault is registered first (with its own
    /// personal role). An unfinished rotation of the role is finished
    /// first, so the newcomer never needs an older key.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/notFound(_:)``, ``VaultError/conflict(_:)``.
    @discardableResult
    public func addMember(_ identity: PublicIdentity, name: String?, toRole roleName: String) throws -> RoleSummary {
        return try replanning {
            try requireAdministrator("change role membership")
            let role = try role(named: roleName)
            guard role.kind == .shared else { throw VaultError.invalidRequest("members join admin with `coffer admin add`; personal roles have one member") }
            try requireNotRevoked(identity.fingerprint)
            guard !role.members.contains(identity.fingerprint) else { throw VaultError.conflict("\(identity.fingerprint) is already a member of \(roleName)") }
            if role.rotationDue || role.hasOlderVersions { _ = try finishRotation(of: role.id, newKey: false, plan: false) }
            try commit(building: { draft in
                try self.register(identity, name: name, in: draft)
                let current = draft.state.roles[role.id]!
                let key = try self.roleKey(role.id, version: current.currentVersion).orThrow(role.name)
                let member = draft.state.identities[identity.fingerprint]!.identity
                try draft.append(.roleMemberAdded(RoleMemberChange(
                    role: role.id, member: identity.fingerprint,
                    seal: try key.sealed(to: member, role: role.id, version: current.currentVersion, vault: draft.state.vaultID))))
            })
            return try roleSummary(named: roleName)
        }
    }

    /// Removes a member from a shared role and rotates the role in the same
    /// command (see ``rotateRole(named:plan:)``).
    /// - Parameters:
    ///   - member: a public identity, fingerprint (or a prefix of at least 8 digits) or unique name.
    ///   - roleName: the role.
    ///   - plan: only report what would be done; change nothing.
    public func removeMember(_ member: String, fromRole roleName: String, plan: Bool) throws -> RotationReport {
        return try replanning {
            try requireAdministrator("change role membership")
            let role = try role(named: roleName)
            guard role.kind == .shared else { throw VaultError.invalidRequest("administrators leave with `coffer admin remove`; personal roles end with `coffer revoke`") }
            let fingerprint = try resolveMember(member)
            guard role.members.contains(fingerprint) || role.rotationDue || role.hasOlderVersions else {
                throw VaultError.notFound("\(fingerprint) is not a member of \(role.name)")
            }
            let removal = role.members.contains(fingerprint)
                ? Removal(event: .roleMemberRemoved(RoleMemberChange(role: role.id, member: fingerprint, seal: nil)), member: fingerprint, roles: [role], due: [role.id])
                : nil
            return try removeAndRotate(removal, plan: plan)
        }
    }

    /// Makes `identity` an administrator and seals the admin key to it.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/conflict(_:)``.
    public func addAdministrator(_ identity: PublicIdentity, name: String?) throws {
        try replanning {
            try requireAdministrator("add administrators")
            try requireNotRevoked(identity.fingerprint)
            guard !state.admins.contains(identity.fingerprint) else { throw VaultError.conflict("\(identity.fingerprint) is already an administrator") }
            guard let admin = state.adminRole else { throw VaultError.integrity("the vault has no admin role") }
            if admin.rotationDue || admin.hasOlderVersions { _ = try finishRotation(of: admin.id, newKey: false, plan: false) }
            try commit(building: { draft in
                try self.register(identity, name: name, in: draft)
                let current = draft.state.adminRole!
                let key = try self.roleKey(current.id, version: current.currentVersion).orThrow("admin")
                let member = draft.state.identities[identity.fingerprint]!.identity
                try draft.append(.adminAdded(MemberChange(
                    member: identity.fingerprint,
                    seal: try key.sealed(to: member, role: current.id, version: current.currentVersion, vault: draft.state.vaultID))))
            })
        }
    }

    /// Removes an administrator (never the last one, never oneself). Every
    /// role rotates: an administrator could unwrap every role's key.
    public func removeAdministrator(_ member: String, plan: Bool) throws -> RotationReport {
        return try replanning {
            try requireAdministrator("remove administrators")
            let fingerprint = try resolveMember(member)
            guard fingerprint != identity.fingerprint else {
                throw VaultError.invalidRequest("you cannot remove yourself as an administrator; ask another administrator")
            }
            guard let admin = state.adminRole else { throw VaultError.integrity("the vault has no admin role") }
            var removal: Removal?
            if state.admins.contains(fingerprint) {
                guard state.admins.count > 1 else { throw VaultError.conflict("\(fingerprint) is the last administrator and cannot be removed") }
                removal = Removal(
                    event: .adminRemoved(MemberChange(member: fingerprint, seal: nil)), member: fingerprint, roles: [admin],
                    due: Set(state.roles.keys))
            } else if !state.roles.values.contains(where: { $0.rotationDue || $0.hasOlderVersions }) {
                throw VaultError.notFound("\(fingerprint) is not an administrator")
            }
            return try removeAndRotate(removal, plan: plan)
        }
    }

    /// The fingerprint of a known identity, from its public identity
    /// (`coffer1…`), its fingerprint, a unique prefix of at least 8 digits,
    /// or its unique display name.
    /// - Throws: ``VaultError/notFound(_:)``, ``VaultError/ambiguous(_:matches:)``.
    public func resolveMember(_ query: String) throws -> String {
        if let identity = try? PublicIdentity(query) {
            guard state.identities[identity.fingerprint] != nil else { throw VaultError.notFound("\(identity.fingerprint) is not known to this vault") }
            return identity.fingerprint
        }
        var matches = state.identities.keys.filter { VaultState.fingerprint($0, matches: query) }
        if matches.isEmpty { matches = state.identities.filter { $0.value.name == query }.map(\.key) }
        guard !matches.isEmpty else { throw VaultError.notFound("no identity in this vault matches \(query.debugDescription)") }
        guard matches.count == 1 else { throw VaultError.ambiguous(query, matches: matches.sorted()) }
        return matches[0]
    }

    // MARK: Shared helpers

    /// How people see a role's name: a personal role (named after its
    /// member's fingerprint) as `@` and the member's display name, when it has one.
    public func displayName(ofRole name: String) -> String {
        // The member's fingerprint is the role's name: also after a revocation left the role empty.
        guard let role = state.role(named: name), role.kind == .personal, let shown = state.identities[String(name.dropFirst())]?.name, !shown.isEmpty
        else { return name }
        return "@" + shown
    }

    /// An identity's display name in this vault followed by its fingerprint
    /// (`bob (fc804dec…)`), or the fingerprint alone when it has no name.
    public func displayName(ofMember fingerprint: String) -> String {
        guard let shown = state.identities[fingerprint]?.name, !shown.isEmpty else { return fingerprint }
        return "\(shown) (\(fingerprint))"
    }

    /// The role called `name`. - Throws: ``VaultError/notFound(_:)``.
    func role(named name: String) throws -> VaultState.Role {
        guard let role = state.role(named: name) else {
            let known = state.roles.values.filter { $0.kind != .personal }.map(\.name).sorted().joined(separator: ", ")
            throw VaultError.notFound("no role named \(name.debugDescription); roles: \(known)")
        }
        return role
    }

    func requireAdministrator(_ action: String) throws {
        guard state.admins.contains(identity.fingerprint) else { throw VaultError.notPermitted("only an administrator may \(action)") }
    }

    private func requireNotRevoked(_ fingerprint: String) throws {
        guard !state.revoked.contains(fingerprint) else { throw VaultError.conflict("\(fingerprint) was revoked and cannot come back") }
    }

    /// Appends what makes `identity` known to the vault, unless it is:
    /// `identity.add`, then its personal role with a first key. A known
    /// identity given with an X-Wing key the ledger lacks has it published.
    private func register(_ identity: PublicIdentity, name: String?, in draft: LedgerDraft) throws {
        guard draft.state.identities[identity.fingerprint] == nil else { return try draft.publishPostQuantumKey(of: identity) }
        let name = name ?? String(identity.fingerprint.prefix(12))
        guard !name.isEmpty, name.utf8.count <= 256 else { throw IdentityError.invalidName("a name is 1 to 256 bytes") }
        try draft.append(.identityAdded(IdentityAdded(identity: identity.description, name: name)))
        let admin = draft.state.adminRole!
        let adminKey = try roleKey(admin.id, version: admin.currentVersion).orThrow("admin")
        for event in try Self.personalRoleEvents(
            for: identity, state: draft.state, adminKey: adminKey, adminVersion: admin.currentVersion, labels: draft.state.labels)
        {
            try draft.append(event)
        }
    }

    /// A `role.key` event for the next version of `role`: a fresh key sealed
    /// to its members in `state` and wrapped under the current admin key
    /// (which this identity must hold). The key is remembered for the rest
    /// of this session so later entries of the same commit can use it.
    func newKeyEvent(for role: VaultState.Role, in state: VaultState) throws -> LedgerEvent {
        let key = RoleKey.generate()
        let version = role.currentVersion + 1
        let members = try role.members.map { member in
            guard let identity = state.identities[member]?.identity else { throw VaultError.integrity("member \(member) of \(role.name) is unknown") }
            return identity
        }
        var admin: (key: RoleKey, version: UInt32)?
        if role.kind != .admin {
            guard let adminRole = state.adminRole else { throw VaultError.integrity("the vault has no admin role") }
            admin = (try roleKey(adminRole.id, version: adminRole.currentVersion).orThrow("admin"), adminRole.currentVersion)
        }
        let event = try key.issued(as: version, of: role.id, sealedTo: members, vault: state.vaultID, admin: admin)
        roleKeyCache[role.id, default: [:]][version] = key
        return .roleKeyIssued(event)
    }

    private func summary(of role: VaultState.Role) -> RoleSummary {
        RoleSummary(
            id: role.id, name: role.name, kind: role.kind, clearance: role.clearance,
            members: role.members.map(memberSummary).sorted { ($0.name, $0.fingerprint) < ($1.name, $1.fingerprint) },
            keyVersion: role.currentVersion, olderKeyVersions: role.olderVersions,
            documents: state.documentCount(of: role.id))
    }

    /// A change that takes someone out of roles, with the roles it leaves needing a new key.
    struct Removal {
        /// The ledger event (`role.member.remove`, `admin.remove` or `identity.revoke`).
        let event: LedgerEvent
        /// Who leaves.
        let member: String
        /// The roles they leave.
        let roles: [VaultState.Role]
        /// The roles that need a new key afterwards.
        let due: Set<RoleID>
    }

    /// Commits `removal` (if any) together with a new key for every role it
    /// leaves due one (admin first: the others' new keys are wrapped under
    /// it), then finishes every unfinished rotation in the vault. With
    /// `plan`, reports the same and commits nothing.
    func removeAndRotate(_ removal: Removal?, plan: Bool) throws -> RotationReport {
        let started = Date()
        var report = RotationReport(planned: plan)
        report.removed = (removal?.roles ?? []).map { RotationReport.Removal(member: removal!.member, role: $0.name) }
        // The key version each role got in the removal's commit (0 in a plan).
        var issued: [RoleID: UInt32] = [:]
        if let removal {
            if plan {
                for role in removal.due { issued[role] = 0 }
            } else {
                try commit(building: { draft in
                    issued = [:]  // built again if the commit is re-planned
                    try draft.append(removal.event)
                    for role in draft.state.roles.values.filter(\.rotationDue).sorted(by: Self.adminFirst) {
                        try draft.append(try self.newKeyEvent(for: role, in: draft.state))
                        issued[role.id] = role.currentVersion + 1
                    }
                })
            }
        }
        let unfinished = state.roles.values.filter { issued[$0.id] != nil || $0.rotationDue || $0.hasOlderVersions }
        for role in unfinished.sorted(by: Self.adminFirst) {
            var rotation = try finishRotation(of: role.id, newKey: plan && issued[role.id] != nil, plan: plan)
            // Reported as issued by this command: the version its removal commit signed (unless the
            // rotation issued a newer one itself), not one another administrator issued meanwhile.
            if let version = issued[role.id] {
                if !plan, !rotation.newKey { rotation.keyVersion = version }
                rotation.newKey = true
            }
            report.roles.append(rotation)
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }

    /// Orders the admin role first, then by name.
    static func adminFirst(_ a: VaultState.Role, _ b: VaultState.Role) -> Bool {
        a.kind == .admin && b.kind != .admin || (a.kind == .admin) == (b.kind == .admin) && a.name < b.name
    }

    func memberSummary(_ fingerprint: String) -> MemberSummary {
        MemberSummary(fingerprint: fingerprint, name: state.identities[fingerprint]?.name ?? "", admin: state.admins.contains(fingerprint))
    }
}

extension Optional where Wrapped == RoleKey {
    /// The key, or an integrity error naming the role whose key this identity should hold but cannot obtain.
    func orThrow(_ role: String) throws -> RoleKey {
        guard let self else { throw VaultError.integrity("you should hold the key of role \(role) but it cannot be obtained from the ledger") }
        return self
    }
}

import Foundation

/// A role whose key is older than its policy allows (`coffer rotate due`).
public struct RotationDue: Codable, Sendable, Equatable {
    /// The role's name.
    public let role: String
    /// Its current key version.
    public let keyVersion: UInt32
    /// When that version was issued (RFC 3339).
    public let issued: String
    /// How old it is, in seconds.
    public let ageSeconds: Int64
    /// The most it may be, in seconds.
    public let maxKeyAgeSeconds: Int64
    /// The policy that sets it: `role NAME` or `label LABEL`.
    public let policy: String
}

extension Vault {
    /// Sets (or, with `maxKeyAge` nil, removes) the key-age policy of the
    /// role `roleName` or of the label `label` (exactly one), in a signed
    /// `role.policy` entry (administrators only). A label's policy applies
    /// to every role cleared for the label.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/notFound(_:)``,
    ///   ``VaultError/unknownLabel(_:known:)``, ``VaultError/invalidRequest(_:)``.
    public func setKeyAgePolicy(role roleName: String?, label: String?, maxKeyAge: TimeInterval?) throws {
        try requireAdministrator("set key-age policies")
        guard (roleName == nil) != (label == nil) else { throw VaultError.invalidRequest("name a role or a label") }
        let seconds = try Self.policySeconds(maxKeyAge, "a maximum key age")
        let roleID = try roleName.map { try role(named: $0).id }
        if let label, state.rank(of: label) == nil { throw VaultError.unknownLabel(label, known: state.labels) }
        try commit { _ in [.rolePolicySet(RolePolicySet(role: roleID, label: label, maxKeyAge: seconds))] }
    }

    /// `interval` in whole seconds, checked against what the ledger accepts
    /// for a key age or retention period (`what`); nil stays nil (a removal).
    /// - Throws: ``VaultError/invalidRequest(_:)`` outside 1 second to 100 years.
    static func policySeconds(_ interval: TimeInterval?, _ what: String) throws -> Int64? {
        try interval.map { interval in
            guard interval >= 1, interval <= TimeInterval(RolePolicySet.longestMaxKeyAge) else {
                throw VaultError.invalidRequest("\(what) is 1 second to 100 years")
            }
            return Int64(interval)
        }
    }

    /// The roles whose current key is older at `now` than their policy
    /// allows (``VaultState/keyAgeLimit(of:)``), admin first, then by name.
    /// A revoked identity's personal role, which nobody holds, is never due.
    public func rotationsDue(at now: Date = Date()) -> [RotationDue] {
        state.roles.values.sorted { ($0.kind == .admin ? 0 : 1, $0.name) < ($1.kind == .admin ? 0 : 1, $1.name) }.compactMap { role in
            guard !(role.kind == .personal && role.members.isEmpty), role.currentVersion > 0, let issued = role.keyIssuedAt,
                  let limit = state.keyAgeLimit(of: role)
            else { return nil }
            let age = Int64(now.timeIntervalSince(issued))
            guard age > limit.seconds else { return nil }
            return RotationDue(
                role: role.name, keyVersion: role.currentVersion, issued: Timestamp.format(issued), ageSeconds: age, maxKeyAgeSeconds: limit.seconds,
                policy: limit.source)
        }
    }

    /// Rotates every role ``rotationsDue(at:)`` lists, admin first (see
    /// ``rotateRole(named:plan:)``); with `plan`, says what it would do.
    public func rotateDueRoles(at now: Date = Date(), plan: Bool) throws -> RotationReport {
        try rotateRoles(named: rotationsDue(at: now).map(\.role), plan: plan)
    }
}

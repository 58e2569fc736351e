import Foundation

/// What `coffer audit report` flags, and with which thresholds.
public struct AuditPolicy: Codable, Sendable, Equatable {
    /// The window reported on starts here (default: 7 days ago).
    public var since: Date
    /// An identity is flagged when it opened more than `rateFactor` times
    /// its usual daily rate (over the history before the window) in the
    /// window, scaled to the window's length…
    public var rateFactor: Double = 5
    /// …and at least this many documents (a quiet identity opening a few is not unusual).
    public var minimumOpens = 20
    /// A bundle with at least this many files is a bulk export…
    public var bulkFiles = 20
    /// …and so is one of at least this many bytes.
    public var bulkBytes: UInt64 = 1 << 30
    /// Roles whose current key is older than this are overdue for rotation (nil: not checked).
    public var maxKeyAge: TimeInterval?

    /// The default policy for a window starting at `since`.
    public init(since: Date) {
        self.since = since
    }
}

/// One unusual event.
public struct AuditFinding: Codable, Sendable, Equatable {
    /// `open-rate`, `first-label-access`, `bulk-export`, `refused-after-revocation` or `rotation-overdue`.
    public let kind: String
    /// Who (fingerprint), when it concerns an identity.
    public let actor: String?
    /// Their display name.
    public let actorName: String?
    /// The entry that shows it (the latest one, for a rate).
    public let sequence: Int64?
    /// When (RFC 3339).
    public let time: String?
    /// What, in words.
    public let detail: String
}

/// When the objects were last re-hashed by `coffer verify --subset`
/// (its `vault.check` entries), for the division into parts used last.
public struct ObjectCheckCoverage: Codable, Sendable, Equatable {
    /// Into how many parts the latest check divided the objects.
    public let parts: Int
    /// When each part was last checked (RFC 3339; the first is part 1), nil for a part never checked.
    public let lastChecked: [String?]
    /// Since when every object has been re-hashed at least once: the oldest of
    /// the parts' last checks (nil while a part was never checked).
    public let everyObjectCheckedSince: String?
    /// Recorded checks that reported findings.
    public let checksWithFindings: Int
}

/// A role key version that a storage attacker with a quantum computer could
/// recover from a recorded copy of the vault (see THREAT-MODEL.md, "Quantum
/// adversary"): the next `coffer rotate role` replaces it.
public struct ClassicOnlyKey: Codable, Sendable, Equatable {
    /// The role's name.
    public let role: String
    /// The key version.
    public let version: UInt32
    /// The version records no X-Wing key (it was issued before role keys had one).
    public let withoutPostQuantumKey: Bool
    /// Members (fingerprints) it is sealed to with X25519 only.
    public let sealedClassicallyTo: [String]
    /// Those members whose X-Wing key the ledger still does not know: until
    /// they run a command (which publishes it), a rotation seals to them
    /// classically again.
    public let withoutKnownPostQuantumKey: [String]
}

/// The unusual-access report (`coffer audit report`).
public struct AuditReportResult: Codable, Sendable, Equatable {
    /// The policy applied.
    public let policy: AuditPolicy
    /// Entries read.
    public let entries: Int64
    /// The findings, in ledger order (overdue rotations last).
    public let findings: [AuditFinding]
    /// When the objects were last checked (nil: no `verify --subset` was ever recorded).
    public let objectChecks: ObjectCheckCoverage?
    /// Role key versions that are still classic-only, by role name and version.
    public let classicOnlyKeys: [ClassicOnlyKey]
}

extension Audit {
    /// Reads the verified ledger of the vault at `path` and reports, for the
    /// window from `policy.since`: identities opening far more documents than
    /// their usual rate, an identity's first access to a label, bulk bundle
    /// exports, attempts by revoked identities (their `access.refused`
    /// entries), and, with `maxKeyAge`, roles whose key is overdue for rotation.
    /// - Parameters:
    ///   - path: the vault.
    ///   - policy: the window and the thresholds.
    ///   - now: the end of the window.
    ///   - details: reads an entry's sealed details (an
    ///     administrator's ``Vault/details(of:)``), so that bulk exports are
    ///     also judged by size and name their recipients; by default none are
    ///     read, and a bundle with sealed details is judged by its file count.
    public static func report(
        vaultAt path: String, policy: AuditPolicy, now: Date = Date(), details: (LedgerEntry) throws -> RevealedDetails? = { _ in nil }
    ) throws -> AuditReportResult {
        var findings: [AuditFinding] = []
        var labelsRead: [String: Set<String>] = [:]  // actor → labels opened before
        var opensBefore: [String: Int] = [:]
        var opensInWindow: [String: (count: Int, last: LedgerEntry)] = [:]
        var firstTime: Date?
        var keyIssued: [RoleID: Date] = [:]
        var entries: Int64 = 0
        var names: [String: String] = [:]
        var state: VaultState?
        var checked: [Int: [Int: Date]] = [:]  // parts → part → last check
        var latestParts: Int?
        var checksWithFindings = 0
        try log(vaultAt: path, filter: AuditFilter()) { record in
            let entry = record.entry
            let c = entry.contents
            entries += 1
            firstTime = firstTime ?? c.time
            names[c.actor] = record.actorName
            let inWindow = c.time >= policy.since
            func flag(_ kind: String, _ detail: String) {
                findings.append(AuditFinding(
                    kind: kind, actor: c.actor, actorName: record.actorName, sequence: entry.sequence, time: Timestamp.format(c.time), detail: detail))
            }
            switch c.event {
            case .documentOpened(let p):
                if inWindow {
                    opensInWindow[c.actor] = ((opensInWindow[c.actor]?.count ?? 0) + 1, entry)
                } else {
                    opensBefore[c.actor, default: 0] += 1
                }
                if let label = record.label(of: p.document) {
                    if inWindow, !(labelsRead[c.actor]?.contains(label) ?? false) {
                        flag("first-label-access", "first time \(record.actorName.isEmpty ? c.actor : record.actorName) opened a document labelled \(label) (\(p.document))")
                    }
                    labelsRead[c.actor, default: []].insert(label)
                }
            case .bundleCreated(let p) where inWindow:
                // Sizes and recipients: in clear in entries written before sealed details, else only for an administrator.
                if let known = try p.clearDetails ?? details(entry)?.bundle {
                    let bytes = known.files.reduce(UInt64(0)) { $0 + $1.size }
                    if p.files.count >= policy.bulkFiles || bytes >= policy.bulkBytes {
                        flag("bulk-export", "bundle \(p.bundle) to \(known.recipients.joined(separator: ", ")): \(p.files.count) files, \(bytes) bytes")
                    }
                } else if p.files.count >= policy.bulkFiles {
                    flag("bulk-export", "bundle \(p.bundle) to \(p.recipientCount ?? 0) recipient(s): \(p.files.count) files (sealed details)")
                }
            case .accessRefused(let p) where inWindow:
                flag("refused-after-revocation", "revoked identity tried to \(p.attempted)")
            case .roleKeyIssued(let p):
                keyIssued[p.role] = c.time
            case .vaultChecked(let p):
                checked[p.parts, default: [:]][p.part] = c.time
                latestParts = p.parts
                if p.findings > 0 { checksWithFindings += 1 }
            default:
                break
            }
            state = record.state
        }
        let windowDays = max(1.0 / 24, now.timeIntervalSince(policy.since) / 86_400)
        let historyDays = max(1.0, policy.since.timeIntervalSince(firstTime ?? policy.since) / 86_400)
        for (actor, window) in opensInWindow.sorted(by: { $0.value.last.sequence < $1.value.last.sequence }) {
            let usual = Double(opensBefore[actor] ?? 0) / historyDays * windowDays
            guard window.count >= policy.minimumOpens, Double(window.count) > policy.rateFactor * usual else { continue }
            findings.append(AuditFinding(
                kind: "open-rate", actor: actor, actorName: names[actor], sequence: window.last.sequence,
                time: Timestamp.format(window.last.contents.time),
                detail: String(format: "%d documents opened since %@, against a usual %.1f for that long", window.count, Timestamp.format(policy.since), usual)))
        }
        if let maxKeyAge = policy.maxKeyAge, let state {
            for role in state.roles.values.sorted(by: { $0.name < $1.name }) where !(role.kind == .personal && role.members.isEmpty) {
                guard let issued = keyIssued[role.id], now.timeIntervalSince(issued) > maxKeyAge else { continue }
                findings.append(AuditFinding(
                    kind: "rotation-overdue", actor: nil, actorName: nil, sequence: nil, time: Timestamp.format(issued),
                    detail: "role \(role.name): key v\(role.currentVersion) issued \(Timestamp.format(issued)), older than the policy allows"))
            }
        }
        findings.sort { ($0.sequence ?? Int64.max) < ($1.sequence ?? Int64.max) }
        let coverage = latestParts.map { parts in
            let last = (1...parts).map { checked[parts]?[$0] }
            return ObjectCheckCoverage(
                parts: parts, lastChecked: last.map { $0.map(Timestamp.format) },
                everyObjectCheckedSince: last.contains(nil) ? nil : last.compactMap { $0 }.min().map(Timestamp.format),
                checksWithFindings: checksWithFindings)
        }
        return AuditReportResult(
            policy: policy, entries: entries, findings: findings, objectChecks: coverage, classicOnlyKeys: state.map(classicOnlyKeys) ?? [])
    }

    /// Every role key version in `state` that is classic-only.
    static func classicOnlyKeys(in state: VaultState) -> [ClassicOnlyKey] {
        state.roles.values.sorted { $0.name < $1.name }.flatMap { role in
            role.versions.sorted { $0.key < $1.key }.compactMap { number, version -> ClassicOnlyKey? in
                guard version.isClassicOnly else { return nil }
                let classic = version.classicSeals
                return ClassicOnlyKey(
                    role: role.name, version: number, withoutPostQuantumKey: version.postQuantumKey == nil, sealedClassicallyTo: classic,
                    withoutKnownPostQuantumKey: classic.filter { state.identities[$0]?.identity.postQuantum == nil })
            }
        }
    }
}

import CofferTestSupport
import Foundation
import Testing

/// Issue 11: several identities, each in its own process with its own state
/// directory, change one vault at once through the real `coffer` binary.
///
/// The randomised test runs for `COFFER_STRESS_SECONDS` if set, else 60 s
/// (`COFFER_TEST_LEVEL=ci` and the default level), 15 s (`quick`) or 600 s
/// (`full`). Its schedule comes from `COFFER_STRESS_SEED` (random if unset,
/// always printed); its checks do not depend on the schedule.
/// `COFFER_STRESS_OPERATIONS=seal,open,...` narrows the mix to those
/// operations (`Stress.Operation`), to find which ones a failure needs.
/// `COFFER_STRESS_LOG=FILE` keeps the journal of every command it ran; a
/// failing run keeps it in the temporary directory and names it.
/// Every process is killed after `COFFER_STRESS_COMMAND_TIMEOUT` seconds
/// (default 180), which fails the test naming the command.
/// `scripts/tsan` runs this suite against a thread-sanitized `coffer`.
@Suite("Concurrency", .serialized)
struct ConcurrencyTests {
    static var seconds: Double {
        let environment = ProcessInfo.processInfo.environment
        if let seconds = environment["COFFER_STRESS_SECONDS"].flatMap(Double.init) { return seconds }
        switch environment["COFFER_TEST_LEVEL"] {
        case "quick": return 15
        case "full": return 600
        default: return 60
        }
    }

    static var seed: UInt64 {
        if let seed = ProcessInfo.processInfo.environment["COFFER_STRESS_SEED"].flatMap(UInt64.init) { return seed }
        return UInt64.random(in: 0...UInt64(UInt32.max))
    }

    @Test("4 identities (2 administrators) seal, share, unshare, add and remove members, rotate, re-key, revoke, gc, back up and open at once: nothing lost, nothing unrecorded, never exit 5")
    func randomisedMix() throws {
        try runMix(named: "randomisedMix", seconds: Self.seconds, cast: try Cast())
    }

    @Test("issue 13: 4 identities on 4 clients of one shared vault (PostgreSQL and S3) seal, share, unshare, add and remove members, rotate, re-key, revoke, gc and open at once: nothing lost, nothing unrecorded, never exit 5")
    func randomisedMixShared() throws {
        try runMix(named: "randomisedMixShared", seconds: Self.seconds / 2, cast: try Cast(servers: try SharedServers.test()), excluding: [.backup])
    }

    /// The randomised mix on `cast`'s vault for `seconds`, then every check.
    private func runMix(named name: String, seconds: Double, cast: Cast, excluding excluded: Set<Stress.Operation> = []) throws {
        let seed = Self.seed
        print("ConcurrencyTests.\(name): COFFER_STRESS_SEED=\(seed), \(seconds) s")
        let alice = try cast.creator("alice")
        let dave = try cast.person("dave", admin: true)
        let bob = try cast.person("bob"), carol = try cast.person("carol")
        // Identities that exist only to be revoked (with --rekey) during the run.
        let leavers = try (0..<12).map { try cast.person("leaver\($0)") }
        try cast.ok(alice, ["role", "create", "eng", "--clearance", "confidential"])
        try cast.ok(alice, ["role", "create", "ops", "--clearance", "confidential"])
        for (role, member) in [("eng", bob), ("eng", carol), ("ops", carol)] + leavers.enumerated().map({ ($0.offset.isMultiple(of: 2) ? "eng" : "ops", $0.element) }) {
            try cast.ok(alice, ["role", "add", role, member.publicIdentity, "--name", member.name])
        }
        let stress = Stress(cast: cast, seed: seed, leavers: leavers, members: [bob, carol], excluding: excluded)
        for (index, owner) in [alice, dave, bob, carol].enumerated() {
            var generator = SplitMix64(seed: seed &+ 1_000 &+ UInt64(index))
            for _ in 0..<5 {
                let id = try #require(stress.seal(as: owner, worker: -1, using: &generator), "seeding as \(owner.name), seed \(seed)")
                try cast.ok(owner, ["share", id, "--role", owner.name == "carol" ? "ops" : "eng"])
            }
        }

        let workers = [(alice, true), (dave, true), (bob, false), (carol, false)]
        let deadline = Date().addingTimeInterval(seconds)
        BoundedRunner.concurrently(workers.count) { index in
            var generator = SplitMix64(seed: seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15)
            stress.work(as: workers[index].0, administrator: workers[index].1, worker: index, until: deadline, using: &generator)
        }
        print("ConcurrencyTests.\(name): seed \(seed): \(stress.summary)")
        stress.checkAfterwards(as: alice)
        stress.keepJournal()
    }

    @Test("finding 1: two `rotate doc` over the same 50 documents at once: every document opens, verify is clean, gc keeps them")
    func concurrentDocumentRekeys() throws {
        let cast = try Cast()
        let alice = try cast.creator("alice")
        let dave = try cast.person("dave", admin: true)
        for i in 0..<50 { try cast.cli.write("docs/d\(i).bin", pattern(40_000 + i * 1_000, seed: UInt64(i + 1))) }
        let expected = try Self.sealFolder(cast.cli.path("docs"), as: alice, in: cast)
        #expect(expected.count == 50)
        let ids = expected.keys.sorted()
        var reportedRekeys: [String: Int] = [:]
        for round in 0..<3 {
            let outcomes = try cast.race([(alice, ["rotate", "doc", "--json"] + ids), (dave, ["rotate", "doc", "--json"] + ids)])
            for (actor, outcome) in zip(["alice", "dave"], outcomes) {
                #expect(outcome.status == Exit.ok || outcome.status == Exit.concurrentChange,
                        "round \(round): \(actor)'s rotate doc exited \(outcome.exit): \(outcome.stderr)")
                if outcome.status == Exit.ok {
                    for id in (try? outcome.json() as? [String: Any])?["rekeyed"] as? [String] ?? [] { reportedRekeys[id, default: 0] += 1 }
                }
            }
            // verify --deep decrypts every document (checked against its key
            // commitment); once documents are lost, later rounds only repeat it.
            guard Self.expectVerifies(cast: cast, as: alice, deep: true, "round \(round), after two concurrent rotate doc") else { break }
        }
        Self.expectIntact(expected, cast: cast, as: alice, "after 3 rounds of two concurrent rotate doc")
        // Fewer than 64 documents are one commit, so a run that reported
        // success re-keyed each once and one that exited 9 committed nothing.
        let listed = try Self.listing(cast: cast, as: alice, "after 3 rounds")
        for id in ids {
            let generation = listed[id]?["generation"] as? Int
            #expect(generation == 1 + reportedRekeys[id, default: 0],
                    "\(id): generation \(generation.map(String.init) ?? "none") after \(reportedRekeys[id, default: 0]) reported re-keys")
        }
        try cast.ok(alice, ["gc", "--grace", "0m"])
        Self.expectIntact(expected, cast: cast, as: alice, "after gc", deep: true)
    }

    @Test("finding 3: two `rotate role` of the same role at once never exit 5; every new key is in the report of the run that issued it; members still read")
    func concurrentRoleRotations() throws {
        let cast = try Cast()
        cast.cli.environment["COFFER_REWRAP_BATCH_SIZE"] = "3"  // more commits, more interleavings
        let alice = try cast.creator("alice")
        let dave = try cast.person("dave", admin: true)
        let bob = try cast.person("bob")
        try cast.ok(alice, ["role", "create", "eng"])
        try cast.ok(alice, ["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        for i in 0..<30 { try cast.cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        let expected = try Self.sealFolder(cast.cli.path("docs"), as: alice, in: cast)
        try cast.ok(alice, ["share"] + expected.keys.sorted() + ["--role", "eng"])
        var issued = 0
        for round in 0..<5 {
            let outcomes = try cast.race([(alice, ["rotate", "role", "eng", "--json"]), (dave, ["rotate", "role", "eng", "--json"])])
            for (actor, outcome) in zip(["alice", "dave"], outcomes) {
                #expect(outcome.status == Exit.ok || outcome.status == Exit.concurrentChange,
                        "round \(round): \(actor)'s rotate role exited \(outcome.exit): \(outcome.stderr)")
                let roles = (try? outcome.json() as? [String: Any])?["roles"] as? [[String: Any]]
                if outcome.status == Exit.ok, roles?.first?["newKey"] as? Bool == true { issued += 1 }
            }
            guard Self.expectVerifies(cast: cast, as: alice, deep: false, "round \(round), after two concurrent rotate role") else { break }
        }
        // Every key version was issued by a run whose report says so (JSON
        // `newKey`, docs/CLI.md), and the last rotation is finished.
        let role = try #require(try cast.ok(alice, ["role", "show", "eng", "--json"]).json() as? [String: Any])
        #expect(role["keyVersion"] as? Int == 1 + issued,
                "eng is at key v\(role["keyVersion"] ?? "?"), but the reports account for \(issued) new keys: a run signed a role.key that its report does not mention (`audit log --action role` shows which)")
        #expect((role["olderKeyVersions"] as? [Int])?.isEmpty == true, "unfinished rotation: \(role)")
        Self.expectIntact(expected, cast: cast, as: bob, "bob, after concurrent rotate role", deep: true)
    }

    // MARK: - Checks shared by the tests

    /// Seals a folder as `actor`; returns each document's content by id.
    static func sealFolder(_ folder: String, as actor: Member, in cast: Cast) throws -> [String: Data] {
        let sealed = try #require(try cast.ok(actor, ["seal", folder, "--json"]).json() as? [[String: Any]])
        let parent = (folder as NSString).deletingLastPathComponent
        var contents: [String: Data] = [:]
        for document in sealed {
            let id = try #require(document["id"] as? String), name = try #require(document["name"] as? String)
            contents[id] = try Data(contentsOf: URL(fileURLWithPath: parent + "/" + name))
        }
        return contents
    }

    /// `ls --json` as `actor`, by document id: the documents that opened
    /// (`ls` lists those, and exits 5 if any other did not).
    static func listing(cast: Cast, as actor: Member, _ context: String) throws -> [String: [String: Any]] {
        let listing = try cast.run(actor, ["ls", "--json"])
        #expect(listing.status == Exit.ok, "\(context): ls as \(actor.name) exited \(listing.exit): \(listing.stderr)")
        let listed = (try? listing.json()) as? [[String: Any]] ?? []
        return Dictionary(listed.compactMap { entry in (entry["id"] as? String).map { ($0, entry) } }) { first, _ in first }
    }

    /// Every document of `expected` opens as `actor`, byte-identical, and
    /// `verify` is clean. Returns whether all of it held.
    @discardableResult
    static func expectIntact(_ expected: [String: Data], cast: Cast, as actor: Member, _ context: String, deep: Bool = false) -> Bool {
        var failed: [String] = []
        for (id, content) in expected.sorted(by: { $0.key < $1.key }) {
            do {
                let opened = try cast.run(actor, ["open", id, "-o", "-"])
                if opened.status != Exit.ok || opened.stdout != content {
                    failed.append("open \(id) exited \(opened.exit) with \(opened.stdout.count) bytes of \(content.count)\(opened.stdout == content ? "" : ", not those sealed"): \(opened.stderr)")
                }
            } catch {
                failed.append("open \(id): \(error)")
            }
        }
        let allOpened = failed.isEmpty  // the first few failures say what went wrong; the count, how much
        #expect(allOpened, "\(context): \(failed.count) of \(expected.count) documents did not open byte-identical as \(actor.name), first: \(failed.prefix(3).joined(separator: "; "))")
        return expectVerifies(cast: cast, as: actor, deep: deep, context) && allOpened
    }

    /// `verify --json` (with `--deep`, as `actor`) exits 0 with no findings.
    @discardableResult
    static func expectVerifies(cast: Cast, as actor: Member, deep: Bool, _ context: String) -> Bool {
        let arguments = ["verify", "--json"] + (deep ? ["--deep"] : [])
        guard let verified = try? cast.run(actor, arguments) else {
            Issue.record("\(context): coffer \(arguments.joined(separator: " ")) did not start")
            return false
        }
        let findings = ((try? verified.json() as? [String: Any])?["findings"] as? [Any]) ?? ["(no JSON report)"]
        let clean = verified.status == Exit.ok && findings.isEmpty
        #expect(clean, "\(context): verify\(deep ? " --deep" : "") as \(actor.name) exited \(verified.exit) with \(findings.count) findings, first: \(findings.prefix(3)) \(verified.stderr)")
        return clean
    }
}

// MARK: - The randomised mix

/// One run of the randomised mix: the shared record of what was sealed and
/// what every command reported, and the checks of all of it against the
/// vault afterwards.
final class Stress: @unchecked Sendable {
    /// What a command may exit with while others change the vault under it:
    /// a membership or document gone under it (4, 6), already done (7), or
    /// "run it again" (9). Never 5.
    static let allowed: Set<Int32> = [Exit.ok, Exit.accessDenied, Exit.notFound, Exit.conflict, Exit.concurrentChange]

    enum Operation: String {
        case seal, open, share, unshare, rotateDoc, backup, roleAdd, roleRemove, rotateRole, revoke, gc
    }
    static let memberMix: [(Operation, Int)] = [(.seal, 3), (.open, 4), (.share, 2), (.unshare, 1), (.rotateDoc, 1), (.backup, 1)]
    static let administratorMix: [(Operation, Int)] = [
        (.seal, 3), (.open, 3), (.share, 2), (.unshare, 1), (.rotateDoc, 2), (.backup, 1),
        (.roleAdd, 1), (.roleRemove, 1), (.rotateRole, 2), (.revoke, 1), (.gc, 1),
    ]
    static let sharedRoles = ["eng", "ops"]

    let cast: Cast
    let seed: UInt64
    /// Members whose roles the administrators change.
    let members: [Member]
    let started = Date()
    private let state: Locked<State>

    /// Guarded by `state`'s lock.
    struct State {
        /// Sealed documents, in the order their seal reported them.
        var order: [String] = []
        var documents: [String: (content: Data, owner: String)] = [:]
        /// Identities to revoke; each leaves the list once a revoke reports it.
        var leavers: [Member]
        var seals = 0
        var journal: [String] = []
        var exits: [String: Int] = [:]
        /// Commands that exited with a status not allowed, hung, or printed
        /// something false (an open that released other bytes).
        var failures: [String] = []
        // What successful commands reported, to be found in the ledger.
        var rekeys: [String: Int] = [:]  // document → re-keys reported
        var issuedKeys: [String: [String]] = [:]  // "role vN" → the commands that said they issued it
        var shared: Set<String> = []  // "role document"
        var unshared: Set<String> = []
        var revoked: Set<String> = []  // fingerprints
        var snapshots: Set<String> = []
        var collections = 0  // gc runs that deleted something
        var opens: [String: Int] = [:]  // "fingerprint document"
        var memberAdds: [String: Int] = [:]  // "role fingerprint"
        var memberRemoves: [String: Int] = [:]
    }

    /// Operations left out of the mix (those that do not work on a shared vault yet).
    let excluded: Set<Operation>

    init(cast: Cast, seed: UInt64, leavers: [Member], members: [Member], excluding excluded: Set<Operation> = []) {
        self.cast = cast
        self.seed = seed
        self.members = members
        self.excluded = excluded
        state = Locked(State(leavers: leavers))
    }

    var summary: String {
        state.withLock { "\($0.journal.count) commands, \($0.order.count) documents sealed, exits \($0.exits.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", "))" }
    }

    // MARK: Running commands

    /// Runs one command, journals it (arguments, exit, output), and records a failure if it hung or
    /// exited with a status not allowed. Returns its outcome, or nil if it
    /// did not start.
    @discardableResult
    func command(_ member: Member, worker: Int, _ arguments: [String]) -> BoundedRunner.Outcome? {
        let begun = Date().timeIntervalSince(started)
        let outcome: BoundedRunner.Outcome
        do {
            outcome = try cast.run(member, arguments)
        } catch {
            state.withLock { $0.failures.append("worker \(worker) \(member.name): coffer \(arguments.joined(separator: " ")) did not start: \(error)") }
            return nil
        }
        let line = String(format: "+%8.3fs %6.3fs w%d %-8@ exit %@  coffer %@", begun, outcome.seconds, worker, member.name as NSString,
                          outcome.exit as NSString, arguments.joined(separator: " ") as NSString)
            // What `open` prints is the document: its size says enough.
            + (outcome.stdout.isEmpty ? "" : "\n      stdout: " + (arguments.first == "open" ? "\(outcome.stdout.count) bytes" : String(outcome.text.trimmingCharacters(in: .whitespacesAndNewlines).prefix(4_000))))
            + (outcome.stderr.isEmpty ? "" : "\n      stderr: " + outcome.stderr)
        state.withLock { state in
            state.journal.append(line)
            state.exits[outcome.exit, default: 0] += 1
            if outcome.status.map({ !Self.allowed.contains($0) }) ?? true {
                state.failures.append("worker \(worker) \(member.name): coffer \(arguments.joined(separator: " ")) exited \(outcome.exit) after \(String(format: "%.1f", outcome.seconds)) s: \(outcome.stderr)")
            }
        }
        return outcome
    }

    /// Seals random bytes as `member`; records and returns the id the
    /// command reported.
    func seal(as member: Member, worker: Int, using generator: inout SplitMix64) -> String? {
        let number = state.withLock { state -> Int in
            state.seals += 1
            return state.seals
        }
        // Empty, around one 64 KiB frame, or a few frames.
        let size = [0, Int.random(in: 1...4_096, using: &generator), Int.random(in: 65_530...65_542, using: &generator),
                    Int.random(in: 100_000...300_000, using: &generator)][Int.random(in: 0...3, using: &generator)]
        var bytes = [UInt8](repeating: 0, count: size)
        for index in bytes.indices { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
        let content = Data(bytes)
        let name = "w\(worker)-\(number).bin"
        let input = cast.cli.path("inputs/\(name)")
        do {
            try cast.cli.write("inputs/\(name)", content)
        } catch {
            state.withLock { $0.failures.append("could not write \(input): \(error)") }
            return nil
        }
        defer { try? FileManager.default.removeItem(atPath: input) }
        guard let outcome = command(member, worker: worker, ["seal", input, "--name", name, "--json"]) else { return nil }
        // --json prints what was committed even when the command fails.
        let reported = (try? outcome.json() as? [[String: Any]])?.compactMap { $0["id"] as? String } ?? []
        if outcome.status == Exit.ok && reported.count != 1 {
            state.withLock { $0.failures.append("worker \(worker) \(member.name): seal of \(name) exited 0 but reported \(reported.count) documents: \(outcome.text)") }
        }
        state.withLock { state in
            for id in reported {
                state.order.append(id)
                state.documents[id] = (content, member.name)
            }
        }
        return reported.first
    }

    /// The operations `COFFER_STRESS_OPERATIONS` (comma-separated raw
    /// values, to narrow a failure down) allows; all if unset.
    static let chosen: Set<String>? = ProcessInfo.processInfo.environment["COFFER_STRESS_OPERATIONS"].map {
        Set($0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) })
    }

    /// Runs random operations as `member` until `deadline`.
    func work(as member: Member, administrator: Bool, worker: Int, until deadline: Date, using generator: inout SplitMix64) {
        let mix = (administrator ? Self.administratorMix : Self.memberMix).filter { (Self.chosen?.contains($0.0.rawValue) ?? true) && !excluded.contains($0.0) }
        guard !mix.isEmpty else { return }
        let total = mix.reduce(0) { $0 + $1.1 }
        while Date() < deadline {
            var ticket = Int.random(in: 0..<total, using: &generator)
            let operation = mix.first { ticket -= $0.1; return ticket < 0 }!.0
            perform(operation, as: member, administrator: administrator, worker: worker, using: &generator)
        }
    }

    private func perform(_ operation: Operation, as member: Member, administrator: Bool, worker: Int, using generator: inout SplitMix64) {
        // Members change only their own documents; everyone tries to open any.
        let (known, mine, leavers) = state.withLock { state in
            (state.order, state.order.filter { state.documents[$0]?.owner == member.name }, state.leavers)
        }
        let changeable = administrator ? known : mine
        func some(_ ids: [String], atMost count: Int) -> [String] {
            Array(ids.shuffled(using: &generator).prefix(Int.random(in: 1...max(1, count), using: &generator)))
        }
        let role = Self.sharedRoles.randomElement(using: &generator)!
        switch operation {
        case .seal:
            _ = seal(as: member, worker: worker, using: &generator)
        case .open:
            guard let id = known.randomElement(using: &generator),
                  let outcome = command(member, worker: worker, ["open", id, "-o", "-"]), outcome.status == Exit.ok else { return }
            state.withLock { state in
                state.opens["\(member.fingerprint) \(id)", default: 0] += 1
                if outcome.stdout != state.documents[id]?.content {
                    state.failures.append("worker \(worker) \(member.name): open \(id) exited 0 with \(outcome.stdout.count) bytes that are not the \(state.documents[id]?.content.count ?? 0) sealed")
                }
            }
        case .share, .unshare:
            guard let id = changeable.randomElement(using: &generator),
                  let report = succeeded(command(member, worker: worker, [operation.rawValue, id, "--role", role, "--json"])) else { return }
            note(report, role: role, into: operation == .share ? \.shared : \.unshared)
        case .rotateDoc:
            guard !changeable.isEmpty,
                  let report = succeeded(command(member, worker: worker, ["rotate", "doc", "--json"] + some(changeable, atMost: administrator ? 40 : 8))) else { return }
            note(report)
        case .backup:
            guard let report = succeeded(command(member, worker: worker, ["backup", "create", cast.cli.path("backups/w\(worker)"), "--json"])),
                  let snapshot = (report["snapshot"] as? [String: Any])?["id"] as? String else { return }
            state.withLock { _ = $0.snapshots.insert(snapshot) }
        case .roleAdd:
            let newcomer = (members + leavers).randomElement(using: &generator)!
            guard succeeded(command(member, worker: worker, ["role", "add", role, newcomer.publicIdentity, "--json"])) != nil else { return }
            state.withLock { $0.memberAdds["\(role) \(newcomer.fingerprint)", default: 0] += 1 }
        case .roleRemove:
            let leaving = (members + leavers).randomElement(using: &generator)!
            guard let report = succeeded(command(member, worker: worker, ["role", "remove", role, leaving.fingerprint, "--json"])) else { return }
            note(report)
        case .rotateRole:
            let rotated = ["eng", "eng", "ops", "ops", "admin"].randomElement(using: &generator)!
            guard let report = succeeded(command(member, worker: worker, ["rotate", "role", rotated, "--json"])) else { return }
            note(report)
        case .revoke:
            guard let leaver = leavers.randomElement(using: &generator) else {
                return perform(.open, as: member, administrator: administrator, worker: worker, using: &generator)
            }
            guard let report = succeeded(command(member, worker: worker, ["revoke", leaver.fingerprint, "--rekey", "--json"])) else { return }
            note(report, revocation: true)
            state.withLock { state in
                state.revoked.insert(leaver.fingerprint)
                state.leavers.removeAll { $0.fingerprint == leaver.fingerprint }
            }
        case .gc:
            guard let report = succeeded(command(member, worker: worker, ["gc", "--grace", "0m", "--json"])) else { return }
            if (report["objectsRemoved"] as? Int ?? 0) + (report["temporaryFilesRemoved"] as? Int ?? 0) > 0 {
                state.withLock { $0.collections += 1 }
            }
        }
    }

    /// The JSON object a command printed if it exited 0.
    private func succeeded(_ outcome: BoundedRunner.Outcome?) -> [String: Any]? {
        guard let outcome, outcome.status == Exit.ok else { return nil }
        guard let report = try? outcome.json() as? [String: Any] else {
            state.withLock { $0.failures.append("exit 0 without a JSON report: \(outcome.text)") }
            return nil
        }
        return report
    }

    /// Records what a rotation, removal, revocation or re-key report says
    /// it did. (A revocation's memberships end with its `identity.revoke`
    /// entry, not with `role.member.remove` entries.)
    private func note(_ report: [String: Any], revocation: Bool = false) {
        let command = "\(report)"
        state.withLock { state in
            for id in report["rekeyed"] as? [String] ?? [] { state.rekeys[id, default: 0] += 1 }
            for role in report["roles"] as? [[String: Any]] ?? [] where role["newKey"] as? Bool == true {
                state.issuedKeys["\(role["role"] ?? "?") v\(role["keyVersion"] ?? "?")", default: []].append(command)
            }
            for removed in report["removed"] as? [[String: Any]] ?? [] where !revocation {
                state.memberRemoves["\(removed["role"] ?? "?") \(removed["member"] ?? "?")", default: 0] += 1
            }
        }
    }

    /// Records what `share` or `unshare` reports.
    private func note(_ report: [String: Any], role: String, into field: WritableKeyPath<State, Set<String>>) {
        state.withLock { state in
            for id in report["documents"] as? [String] ?? [] { state[keyPath: field].insert("\(role) \(id)") }
        }
        note(report)
    }

    // MARK: Checks afterwards

    /// Everything the commands reported against the vault, as `administrator`.
    func checkAfterwards(as administrator: Member) {
        let recorded = state.withLock { $0 }
        for failure in recorded.failures.prefix(20) { Issue.record("seed \(seed): \(failure)") }
        let failedCommands = recorded.failures.count
        #expect(failedCommands == 0, "seed \(seed): \(failedCommands) commands failed during the run (the first 20 above)")

        let expected = recorded.documents.mapValues(\.content)
        var intact = ConcurrencyTests.expectIntact(expected, cast: cast, as: administrator, "seed \(seed): after the run", deep: true)
        do {
            try checkLedger(against: recorded, as: administrator)
            guard !excluded.contains(.gc) else { return }
            // Old generations go; every current one stays: verify --deep
            // decrypts them all, and a sample (all, if few) opens byte-identical.
            let collected = try cast.run(administrator, ["gc", "--grace", "0m"])
            #expect(collected.status == Exit.ok, "seed \(seed): gc after the run exited \(collected.exit): \(collected.stderr)")
            var generator = SplitMix64(seed: seed)
            let sample = Dictionary(uniqueKeysWithValues: expected.sorted { $0.key < $1.key }.shuffled(using: &generator).prefix(30).map { ($0.key, $0.value) })
            intact = ConcurrencyTests.expectIntact(sample, cast: cast, as: administrator, "seed \(seed): after gc", deep: true) && intact
            for worker in 0..<4 where FileManager.default.fileExists(atPath: cast.cli.path("backups/w\(worker)/snapshots")) {
                let backup = try cast.run(administrator, ["backup", "verify", cast.cli.path("backups/w\(worker)")])
                #expect(backup.status == Exit.ok, "seed \(seed): backup verify of worker \(worker)'s backups exited \(backup.exit): \(backup.stderr) \(backup.text.prefix(600))")
            }
        } catch {
            Issue.record("seed \(seed): \(error)")
        }
        if !intact { state.withLock { $0.failures.append("the vault was not intact afterwards") } }
    }

    /// No command reported success for something the ledger does not hold.
    private func checkLedger(against recorded: State, as administrator: Member) throws {
        let log = try cast.ok(administrator, ["audit", "log", "--json"])
        let entries = log.text.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
        }
        let roles = try #require(try cast.ok(administrator, ["role", "list", "--all", "--json"]).json() as? [[String: Any]])
        var roleNames: [String: String] = [:]  // id → name
        for role in roles { if let id = role["id"] as? String, let name = role["name"] as? String { roleNames[id] = name } }

        var seals: Set<String> = [], rekeys: [String: Int] = [:], keys: Set<String> = [], shares: Set<String> = [], unshares: Set<String> = []
        var revokes: Set<String> = [], snapshots: Set<String> = [], collections = 0
        var opens: [String: Int] = [:], adds: [String: Int] = [:], removes: [String: Int] = [:]
        for entry in entries {
            let data = entry["data"] as? [String: Any] ?? [:]
            let role = (data["role"] as? String).map { roleNames[$0] ?? "unlisted role \($0)" } ?? "?"
            switch entry["action"] as? String {
            case "document.seal": seals.formUnion([data["document"] as? String ?? ""])
            case "document.rekey": rekeys[data["document"] as? String ?? "", default: 0] += 1
            case "role.key": keys.insert("\(role) v\(data["version"] ?? "?")")
            case "document.share": for id in Self.packedDocuments(data["records"] as? String) { shares.insert("\(role) \(id)") }
            case "document.unshare": for id in data["documents"] as? [String] ?? [] { unshares.insert("\(role) \(id)") }
            case "identity.revoke": revokes.formUnion([data["member"] as? String ?? ""])
            case "vault.backup": snapshots.formUnion([data["snapshot"] as? String ?? ""])
            case "vault.gc": collections += 1
            case "document.open": opens["\(entry["actor"] ?? "?") \(data["document"] ?? "?")", default: 0] += 1
            case "role.member.add": adds["\(role) \(data["member"] ?? "?")", default: 0] += 1
            case "role.member.remove": removes["\(role) \(data["member"] ?? "?")", default: 0] += 1
            default: break
            }
        }
        func expectHeld(_ missing: [String], _ what: String) {
            let unrecorded = missing.count
            #expect(unrecorded == 0, "seed \(seed): \(unrecorded) \(what) reported but not in the ledger, first: \(missing.prefix(5))")
        }
        expectHeld(recorded.order.filter { !seals.contains($0) }, "seals")
        expectHeld(recorded.rekeys.filter { rekeys[$0.key, default: 0] < $0.value }.map { "\($0.key): \($0.value) reported, \(rekeys[$0.key, default: 0]) in the ledger" }, "re-keys")
        expectHeld(recorded.issuedKeys.keys.filter { !keys.contains($0) }.sorted(), "new role keys")
        expectHeld(recorded.shared.subtracting(shares).sorted(), "shares")
        expectHeld(recorded.unshared.subtracting(unshares).sorted(), "unshares")
        expectHeld(recorded.revoked.subtracting(revokes).sorted(), "revocations")
        expectHeld(recorded.snapshots.subtracting(snapshots).sorted(), "backups")
        expectHeld(recorded.collections > collections ? ["\(recorded.collections) gc runs deleted something, \(collections) vault.gc entries"] : [], "gc runs")
        expectHeld(recorded.opens.filter { opens[$0.key, default: 0] < $0.value }.map(\.key).sorted(), "opens")
        expectHeld(recorded.memberAdds.filter { adds[$0.key, default: 0] < $0.value }.map(\.key).sorted(), "member additions")
        expectHeld(recorded.memberRemoves.filter { removes[$0.key, default: 0] < $0.value }.map(\.key).sorted(), "member removals")
        // Two commands that both say they issued the same key version cannot both be right.
        let twice = recorded.issuedKeys.filter { $0.value.count > 1 }.sorted { $0.key < $1.key }
        let claimedTwice = twice.count
        #expect(claimedTwice == 0, "seed \(seed): \(claimedTwice) key versions reported as issued by more than one command, first: \(twice.prefix(3).map { "\($0.key) in the reports \($0.value.joined(separator: " and "))" })")
        // The generation every document is at is the number of its re-keys
        // (a document that does not open is not listed: counted here too).
        let listed = try ConcurrencyTests.listing(cast: cast, as: administrator, "seed \(seed): after the run")
        let skewed = recorded.order.filter { listed[$0]?["generation"] as? Int != 1 + rekeys[$0, default: 0] }
        #expect(skewed.isEmpty, "seed \(seed): \(skewed.count) documents whose generation is not 1 + their document.rekey entries, first: \(skewed.prefix(5))")
    }

    /// The document ids of a `document.share` entry's packed wraps (16-byte
    /// id, u32 generation, u16 length, wrap; big-endian).
    static func packedDocuments(_ records: String?) -> [String] {
        guard let records, let bytes = Data(base64Encoded: records).map(Array.init) else { return [] }
        var ids: [String] = [], offset = 0
        while offset + 22 <= bytes.count {
            ids.append(bytes[offset..<offset + 16].map { String(format: "%02x", $0) }.joined())
            offset += 22 + Int(bytes[offset + 20]) << 8 + Int(bytes[offset + 21])
        }
        return ids
    }

    /// Writes the journal to `COFFER_STRESS_LOG`, or, if anything failed,
    /// to the temporary directory (named in the failure).
    func keepJournal() {
        let (journal, failed) = state.withLock { ($0.journal, !$0.failures.isEmpty) }
        let requested = ProcessInfo.processInfo.environment["COFFER_STRESS_LOG"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = requested ?? (failed ? NSTemporaryDirectory() + "/coffer-stress-\(seed).log" : nil) else { return }
        let text = "seed \(seed)\n" + journal.joined(separator: "\n") + "\n"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
            print("ConcurrencyTests: journal of seed \(seed) in \(path)")
        } catch {
            Issue.record("could not write the journal to \(path): \(error)")
        }
    }
}

// MARK: - The cast: identities, each with its own state directory

/// One identity of the vault, with its own identity file and state directory.
struct Member: Sendable {
    let name: String
    let file: String
    let stateDirectory: String
    /// Its vault directory: the one vault, or for a shared vault its own
    /// client's directory (made by `init` or `attach`).
    let vault: String
    let fingerprint: String
    let publicIdentity: String
}

/// A scratch vault (the `CLIHarness`'s, removed with it) and the people
/// who use it; every process it starts is bounded by `runner`'s timeout.
///
/// A shared cast's vault is in the test PostgreSQL and a new bucket of the
/// test radosgw (``SharedServers``): each person is a client with its own
/// vault directory, attached with the creator's vault id.
final class Cast: @unchecked Sendable {
    let cli: CLIHarness
    let runner: BoundedRunner
    /// The shared vault's catalog and objects (nil: a local vault).
    let shared: (catalog: String, objects: String)?
    private var administrator: Member?
    /// The vault's id, as `init --json` printed it.
    private(set) var vaultID: String?

    /// - Parameter servers: for a shared vault, the servers it is on (in a new bucket).
    init(servers: SharedServers? = nil) throws {
        cli = try CLIHarness()
        let timeout = ProcessInfo.processInfo.environment["COFFER_STRESS_COMMAND_TIMEOUT"].flatMap(Double.init) ?? 180
        runner = BoundedRunner(timeout: timeout, directory: cli.root)
        if let servers {
            cli.environment.merge(servers.settings) { $1 }
            self.shared = (servers.database(), "s3://\(try servers.newBucket())/vault")
        } else {
            self.shared = nil
        }
    }

    /// The environment of `member`'s commands (and `TSAN_OPTIONS`, for
    /// `scripts/tsan`).
    func environment(of member: Member) -> [String: String] {
        var environment = cli.environment.merging(["COFFER_IDENTITY": member.file, "COFFER_STATE_DIR": member.stateDirectory, "COFFER_VAULT": member.vault]) { $1 }
        environment["TSAN_OPTIONS"] = ProcessInfo.processInfo.environment["TSAN_OPTIONS"]
        return environment
    }

    /// A new identity, unencrypted as `CLIHarness` makes them, not yet in the vault.
    private func identity(_ name: String) throws -> Member {
        let file = cli.path("home/\(name).identity")
        let created = try runner.run(["identity", "new", "--out", file, "--name", name, "--no-passphrase", "--json"], environment: cli.environment)
        guard created.status == Exit.ok, let shown = try? created.json() as? [String: Any],
              let fingerprint = shown["fingerprint"] as? String, let identity = shown["identity"] as? String
        else { throw HarnessError("identity new \(name) exited \(created.exit): \(created.stderr)") }
        let vault = shared == nil || administrator == nil ? cli.path("vault") : cli.path("clients/\(name)")
        return Member(name: name, file: file, stateDirectory: cli.path("states/\(name)"), vault: vault, fingerprint: fingerprint, publicIdentity: identity)
    }

    /// The vault's creator, its first administrator.
    func creator(_ name: String) throws -> Member {
        let member = try identity(name)
        let created = try ok(member, ["init", "--json"] + (shared.map { ["--catalog", $0.catalog, "--objects", $0.objects] } ?? []))
        vaultID = (try? created.json() as? [String: Any])?["id"] as? String
        administrator = member
        return member
    }

    /// Another identity: made an administrator by the creator (`admin add`),
    /// or left for `role add` to bring in. For a shared vault, it attaches
    /// its own client directory first.
    func person(_ name: String, admin: Bool = false) throws -> Member {
        let member = try identity(name)
        if let shared, let vaultID {
            try ok(member, ["attach", "--vault", member.vault, "--catalog", shared.catalog, "--objects", shared.objects, "--expect-id", vaultID])
        }
        if admin, let administrator { try ok(administrator, ["admin", "add", member.publicIdentity, "--name", name]) }
        return member
    }

    /// Runs `coffer arguments` as `member`.
    func run(_ member: Member, _ arguments: [String]) throws -> BoundedRunner.Outcome {
        try runner.run(arguments, environment: environment(of: member))
    }

    /// Runs a command that must succeed.
    @discardableResult
    func ok(_ member: Member, _ arguments: [String], sourceLocation: SourceLocation = #_sourceLocation) throws -> BoundedRunner.Outcome {
        let outcome = try run(member, arguments)
        guard outcome.status == Exit.ok else {
            Issue.record("\(member.name): coffer \(arguments.joined(separator: " ")) exited \(outcome.exit): \(outcome.stderr)", sourceLocation: sourceLocation)
            throw HarnessError("\(member.name): coffer \(arguments.joined(separator: " ")) exited \(outcome.exit)")
        }
        return outcome
    }

    /// Starts `coffer arguments` as `member`, its output discarded.
    /// - Parameter input: its standard input (none by default).
    func start(_ member: Member, _ arguments: [String], input: Pipe? = nil) throws -> ChildProcess {
        let process = ChildProcess()
        process.standardInput = input ?? FileHandle.nullDevice
        process.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        process.arguments = arguments
        process.environment = environment(of: member)
        process.currentDirectoryURL = URL(fileURLWithPath: cli.root)
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        return process
    }

    /// Runs `coffer arguments` as `member` once for each of `delays`
    /// (microseconds), SIGKILLing it after that long if it still runs, until
    /// `finished()` says there is nothing left to do; returns how many runs were killed.
    func kill(_ member: Member, _ arguments: [String], after delays: [UInt32], until finished: () -> Bool = { false }) throws -> Int {
        var killed = 0
        for delay in delays where !finished() {
            let process = try start(member, arguments)
            usleep(delay)
            if process.isRunning {
                Glibc.kill(process.processIdentifier, SIGKILL)
                killed += 1
            }
            process.waitUntilExit()
        }
        return killed
    }

    /// Starts every command, then waits for all of them.
    func race(_ commands: [(Member, [String])]) throws -> [BoundedRunner.Outcome] {
        let prepared = commands.map { ($0.1, environment(of: $0.0)) }
        let results = Locked<[Int: Result<BoundedRunner.Outcome, any Error>]>([:])
        let runner = runner
        BoundedRunner.concurrently(prepared.count) { index in
            let result = Result { try runner.run(prepared[index].0, environment: prepared[index].1) }
            results.withLock { $0[index] = result }
        }
        return try results.withLock { finished in try (0..<prepared.count).map { try finished[$0]!.get() } }
    }
}

// MARK: - Processes with a bound on their running time

/// Runs `coffer` (`CLIHarness.binary`, so `COFFER_BINARY` too) in a
/// directory; a process still running after `timeout` seconds is killed
/// and reported as such. Safe to use from several threads at once.
struct BoundedRunner: Sendable {
    let timeout: TimeInterval
    let directory: String

    struct Outcome: Sendable {
        /// The exit status; nil if the process was killed after the timeout.
        let status: Int32?
        let stdout: Data
        /// Standard error, without leading and trailing blank space.
        let stderr: String
        let seconds: TimeInterval
        var text: String { String(decoding: stdout, as: UTF8.self) }
        /// The status, or what happened instead, for messages.
        var exit: String { status.map(String.init) ?? String(format: "nothing: still running after %.1f s, killed (hung?)", seconds) }
        func json() throws -> Any { try JSONSerialization.jsonObject(with: stdout) }
    }

    func run(_ arguments: [String], environment: [String: String]) throws -> Outcome {
        let process = ChildProcess()
        process.executableURL = URL(fileURLWithPath: CLIHarness.binary)
        process.arguments = arguments
        process.environment = environment
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let output = Pipe(), errors = Pipe()
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = output
        process.standardError = errors
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        let started = Date()
        try process.run()
        let stdout = Locked(Data()), stderr = Locked(Data())
        let drained = DispatchGroup()
        for (pipe, sink) in [(output, stdout), (errors, stderr)] {
            drained.enter()
            let reader = pipe.fileHandleForReading
            Thread {
                let data = reader.readDataToEndOfFile()
                sink.withLock { $0 = data }
                drained.leave()
            }.start()
        }
        var killed = false
        if exited.wait(timeout: .now() + timeout) == .timedOut {
            killed = true
            kill(process.processIdentifier, SIGKILL)
            exited.wait()
        }
        drained.wait()
        return Outcome(status: killed ? nil : process.terminationStatus, stdout: stdout.withLock { $0 },
                       stderr: String(decoding: stderr.withLock { $0 }, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines), seconds: Date().timeIntervalSince(started))
    }

    /// Runs `body(0)` … `body(count - 1)` each on its own thread, and waits
    /// for all of them.
    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
        let finished = DispatchGroup()
        for index in 0..<count {
            finished.enter()
            Thread {
                body(index)
                finished.leave()
            }.start()
        }
        finished.wait()
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// A seeded generator (SplitMix64), so a run's choices follow from its seed.
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

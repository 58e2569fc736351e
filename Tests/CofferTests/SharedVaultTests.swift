import CofferTestSupport
import Foundation
import Testing

/// Issue 13 through the real `coffer` binary: a vault whose ledger is in the
/// test PostgreSQL and whose objects are in a bucket of the test radosgw
/// (`scripts/servers`, started by `scripts/test`), used from several client
/// directories; refusals; and the database's and bucket's operators as
/// adversaries. (Many clients at once: `ConcurrencyTests.randomisedMixShared`.)
@Suite("Shared vault")
struct SharedVaultTests {
    @Test("init and attach: two clients share documents; doctor checks the servers; wrong ids, ambiguous databases, passwords on the command line and versioned buckets are refused")
    func attachAndShare() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let shared = try #require(cast.shared)
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob")
        try cast.ok(alice, ["role", "create", "eng"])
        try cast.ok(alice, ["role", "add", "eng", bob.publicIdentity, "--name", "bob"])
        let plan = try cast.cli.write("in/plan.txt", Data("the plan\n".utf8))
        let sealed = try #require(try cast.ok(alice, ["seal", plan, "--json"]).json() as? [[String: Any]])
        let id = try #require(sealed.first?["id"] as? String)
        try cast.ok(alice, ["share", id, "--role", "eng"])
        // bob, on his own client, reads it, and seals one that alice reads as administrator.
        #expect(try cast.ok(bob, ["open", "plan.txt", "-o", "-"]).stdout == Data("the plan\n".utf8))
        let note = try cast.cli.write("in/note.txt", Data("bob's note\n".utf8))
        try cast.ok(bob, ["seal", note])
        #expect(try cast.ok(alice, ["open", "note.txt", "-o", "-"]).stdout == Data("bob's note\n".utf8))
        for member in [alice, bob] { ConcurrencyTests.expectVerifies(cast: cast, as: member, deep: true, "\(member.name)'s client") }
        #expect(try cast.ok(alice, ["audit", "verify"]).text.contains("verified"))
        // The client directory holds only the descriptor and where the storage is, owner-only.
        let files = try FileManager.default.contentsOfDirectory(atPath: bob.vault).sorted()
        #expect(files == ["coffer-shared", "coffer-vault", "lock"], "\(files)")
        let mode = try FileManager.default.attributesOfItem(atPath: bob.vault + "/coffer-shared")[.posixPermissions] as? Int
        #expect(mode == 0o600)

        let carol = cast.cli.path("clients/carol")
        let attach = ["attach", "--vault", carol, "--catalog", shared.catalog, "--objects", shared.objects]
        // An id that is not in the database.
        let unknown = try cast.run(alice, attach + ["--expect-id", String(repeating: "ab", count: 16)])
        #expect(unknown.status == Exit.notFound, "\(unknown.exit): \(unknown.stderr)")
        #expect(!FileManager.default.fileExists(atPath: carol + "/coffer-vault"))
        // A database that holds several vaults needs the id (another test's, or one made here).
        let other = try Cast(servers: servers)
        _ = try other.creator("zed")
        let ambiguous = try cast.run(alice, attach)
        #expect(ambiguous.status == Exit.usage && ambiguous.stderr.contains("--expect-id"), "\(ambiguous.exit): \(ambiguous.stderr)")
        // A password in the connection string is refused, and never repeated.
        let withPassword = shared.catalog.replacingOccurrences(of: "postgresql://coffer@", with: "postgresql://coffer:hunter2@")
        for command in [["attach", "--vault", carol, "--catalog", withPassword, "--objects", shared.objects],
                        ["init", "--vault", cast.cli.path("clients/new"), "--catalog", withPassword, "--objects", shared.objects]] {
            let refused = try cast.run(alice, command)
            #expect(refused.status == Exit.usage && refused.stderr.contains("PGPASSWORD") && !refused.stderr.contains("hunter2"), "\(refused.exit): \(refused.stderr)")
        }
        // Attaching into a directory that is in use.
        let busy = try cast.run(alice, ["attach", "--vault", bob.vault, "--catalog", shared.catalog, "--objects", shared.objects, "--expect-id", try #require(cast.vaultID)])
        #expect(busy.status == Exit.conflict, "\(busy.exit): \(busy.stderr)")
        // doctor checks the servers too; a client whose S3 settings are wrong is told so.
        let doctor = try cast.run(bob, ["doctor"])
        #expect(doctor.status == Exit.ok && doctor.text.contains("database: 127.0.0.1") && doctor.text.contains("reachable, without versioning"), "\(doctor.exit): \(doctor.text)")
        let wrongKey = try cast.cli.run(["doctor"], environment: cast.environment(of: bob).merging(["AWS_SECRET_ACCESS_KEY": "not-the-key"]) { $1 })
        #expect(wrongKey.status != Exit.ok && wrongKey.text.contains("problem") && !wrongKey.text.contains("not-the-key"), "\(wrongKey.status): \(wrongKey.text)")
        // A versioned bucket does not honour If-None-Match: *, so init refuses it.
        let versioned = try servers.newBucket()
        try servers.enableVersioning(versioned)
        let refused = try cast.run(alice, ["init", "--vault", cast.cli.path("clients/versioned"), "--catalog", shared.catalog, "--objects", "s3://\(versioned)/v"])
        #expect(refused.status == Exit.usage && refused.stderr.contains("versioning"), "\(refused.exit): \(refused.stderr)")
    }

    @Test("the database's and the bucket's operators: a changed, truncated or deleted object, a changed, removed or planted ledger row are caught (exit 5), never accepted")
    func hostileOperators() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let shared = try #require(cast.shared)
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob", admin: true)
        let secret = try cast.cli.write("in/secret.txt", Data("trade secret\n".utf8))
        try cast.ok(alice, ["seal", secret])
        #expect(try cast.ok(bob, ["open", "secret.txt", "-o", "-"]).stdout == Data("trade secret\n".utf8))
        let bucket = String(shared.objects.dropFirst(5).prefix { $0 != "/" })
        let objects = try servers.objectKeys(in: bucket)
        #expect(objects.count == 2, "a one-segment document is a segment and a manifest: \(objects)")

        // The bucket's operator overwrites an object (it has the keys; If-None-Match binds only Coffer).
        let forged = try cast.cli.write("forged", Data("not what was sealed".utf8))
        let target = try #require(objects.first)
        #expect(try servers.curl(["-X", "PUT", "--data-binary", "@\(forged)", "\(servers.endpoint())/\(bucket)/\(target)"],
                                       payloadHash: try SharedServers.sha256(ofFile: forged)) == "200")
        let opened = try cast.run(alice, ["open", "secret.txt", "-o", "-"])
        #expect(opened.status == Exit.integrity && opened.stdout.isEmpty, "\(opened.exit): \(opened.stderr)")
        let verified = try cast.run(alice, ["verify", "--json"])
        #expect(verified.status == Exit.integrity && verified.text.contains(String(target.suffix(64))), "\(verified.exit): \(verified.text)")
        // ...or truncates it (written again, cut short).
        let truncated = try cast.cli.write("truncated", Data("trade".utf8))
        #expect(try servers.curl(["-X", "PUT", "--data-binary", "@\(truncated)", "\(servers.endpoint())/\(bucket)/\(target)"],
                                 payloadHash: try SharedServers.sha256(ofFile: truncated)) == "200")
        let cut = try cast.run(bob, ["verify", "--json"])
        #expect(cut.status == Exit.integrity && cut.text.contains(String(target.suffix(64))), "\(cut.exit): \(cut.text)")
        // ...or deletes it.
        #expect(try servers.curl(["-X", "DELETE", "\(servers.endpoint())/\(bucket)/\(target)"]) == "204")
        let missing = try cast.run(bob, ["verify", "--json"])
        #expect(missing.status == Exit.integrity && missing.text.contains("missing"), "\(missing.exit): \(missing.text)")

        // The database's operator edits the ledger.
        let schema = "coffer_" + (try #require(cast.vaultID))
        let last = try servers.psql("SELECT max(seq) FROM \"\(schema)\".ledger")
        try servers.psql("UPDATE \"\(schema)\".ledger SET body = body || '\\x20'::bytea WHERE seq = \(last)")
        let changed = try cast.run(bob, ["ls"])
        #expect(changed.status == Exit.integrity, "a changed row: \(changed.exit): \(changed.stderr)")
        try servers.psql("UPDATE \"\(schema)\".ledger SET body = substring(body from 1 for length(body) - 1) WHERE seq = \(last)")
        #expect(try cast.run(bob, ["ls"]).status == Exit.ok, "the row put back")
        // A removed last row (and the head moved back to match) is a rollback for every client that saw it.
        let saved = try servers.psql("SELECT encode(hash, 'hex') || ' ' || encode(body, 'hex') || ' ' || encode(signature, 'hex') FROM \"\(schema)\".ledger WHERE seq = \(last)")
        try servers.psql("""
            BEGIN; DELETE FROM "\(schema)".ledger WHERE seq = \(last);
            UPDATE "\(schema)".head SET count = \(last), hash = (SELECT hash FROM "\(schema)".ledger WHERE seq = \(last) - 1); COMMIT;
            """)
        for member in [alice, bob] {
            let rolledBack = try cast.run(member, ["ls"])
            #expect(rolledBack.status == Exit.integrity && rolledBack.stderr.contains("entry \(last)"), "\(member.name): \(rolledBack.exit): \(rolledBack.stderr)")
        }
        // The operator puts the row back without the head row.
        let parts = saved.split(separator: " ").map(String.init)
        try servers.psql("""
            INSERT INTO "\(schema)".ledger (seq, hash, body, signature) VALUES (\(last), decode('\(parts[0])', 'hex'), decode('\(parts[1])', 'hex'), decode('\(parts[2])', 'hex'))
            """)
        // The row is back but the head row lags it: every client reads (and verifies) the chain itself, not the head.
        for member in [alice, bob] {
            let listed = try cast.run(member, ["ls"])
            #expect(listed.status == Exit.ok, "the row restored: \(member.name): \(listed.exit): \(listed.stderr)")
        }
        let blocked = try cast.run(alice, ["seal", secret, "--name", "again.txt"])
        #expect(blocked.status == Exit.concurrentChange, "a head row that lags the ledger blocks appends (never forks them): \(blocked.exit): \(blocked.stderr)")
        let entries = try servers.psql("SELECT count(*) FROM \"\(schema)\".ledger")
        #expect(entries == String(Int(last)! + 1), "nothing was appended past the lagging head: \(entries) rows")
    }

    @Test("a client SIGKILLed while sealing leaves no document and nothing half-written in the ledger; the next seal succeeds")
    func killedWhileSealing() throws {
        let cast = try Cast(servers: try SharedServers.test())
        let alice = try cast.creator("alice")
        let big = try cast.cli.write("in/big.bin", pattern(24 << 20, seed: 7))
        let killed = try cast.kill(alice, ["seal", big, "--name", "big.bin"], after: [100_000, 300_000, 600_000])
        #expect(killed > 0, "no seal was still running when killed")
        ConcurrencyTests.expectVerifies(cast: cast, as: alice, deep: true, "after \(killed) killed seals")
        // A seal killed after its commit is a whole document; one killed before it left nothing in the ledger.
        let listed = try #require(try cast.ok(alice, ["ls", "--json"]).json() as? [[String: Any]])
        let log = try cast.ok(alice, ["audit", "log", "--json"]).text.split(separator: "\n")
        let seals = log.filter { $0.contains("\"document.seal\"") }.count
        #expect(seals == listed.count, "\(seals) document.seal entries, \(listed.count) documents listed")
        for document in listed {
            let id = try #require(document["id"] as? String)
            #expect(try cast.ok(alice, ["open", id, "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: big))), "\(id)")
        }
        try cast.ok(alice, ["seal", big, "--name", "big-again.bin"])
        #expect(try cast.ok(alice, ["open", "big-again.bin", "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: big))))
    }

    @Test("gc over the bucket: superseded generations go, the current ones and young objects stay; a seal in flight on another client holds gc off, and keeps its objects; a killed gc is rerun")
    func garbageCollection() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let shared = try #require(cast.shared)
        let bucket = String(shared.objects.dropFirst(5).prefix { $0 != "/" })
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob", admin: true)
        for i in 0..<6 { try cast.cli.write("docs/d\(i).txt", Data("document \(i)\n".utf8)) }
        let expected = try ConcurrencyTests.sealFolder(cast.cli.path("docs"), as: alice, in: cast)
        #expect(try servers.objectKeys(in: bucket).count == 12)
        try cast.ok(bob, ["rotate", "doc"] + expected.keys.sorted())
        #expect(try servers.objectKeys(in: bucket).count == 24)
        // Within the grace period (default one hour) nothing goes.
        let young = try #require(try cast.ok(alice, ["gc", "--json"]).json() as? [String: Any])
        #expect(young["objectsRemoved"] as? Int == 0 && young["objectsKeptRecent"] as? Int == 12, "\(young)")
        let collected = try #require(try cast.ok(alice, ["gc", "--grace", "0m", "--json"]).json() as? [String: Any])
        #expect(collected["objectsRemoved"] as? Int == 12 && collected["objectsReferenced"] as? Int == 12, "\(collected)")
        #expect(try servers.objectKeys(in: bucket).count == 12)
        ConcurrencyTests.expectIntact(expected, cast: cast, as: bob, "after gc", deep: true)

        // bob's client is sealing a document from a pipe, and has uploaded part of it: alice's
        // gc waits for it (it holds the vault's lock in the database from the start), then keeps its objects.
        let big = pattern(12 << 20, seed: 5)
        let pipe = Pipe()
        let upload = try cast.start(bob, ["seal", "-", "--name", "big.bin"], input: pipe)
        pipe.fileHandleForWriting.write(big.prefix(8 << 20))
        usleep(500_000)
        let impatient = try cast.cli.run(["gc", "--grace", "0m"], environment: cast.environment(of: alice).merging(["COFFER_LOCK_TIMEOUT": "0.5"]) { $1 })
        #expect(impatient.status == Exit.concurrentChange && impatient.stderr.contains("shared vault"), "gc while bob seals: \(impatient.status): \(impatient.stderr)")
        let waiting = try cast.start(alice, ["gc", "--grace", "0m"])
        usleep(300_000)
        #expect(waiting.isRunning, "gc did not wait for bob's seal")
        pipe.fileHandleForWriting.write(big.dropFirst(8 << 20))
        try pipe.fileHandleForWriting.close()
        upload.waitUntilExit()
        waiting.waitUntilExit()
        #expect(upload.terminationStatus == Exit.ok && waiting.terminationStatus == Exit.ok, "seal \(upload.terminationStatus), gc \(waiting.terminationStatus)")
        #expect(try cast.ok(alice, ["open", "big.bin", "-o", "-"]).stdout == big)

        // Two administrators' gc at once on two clients take turns (neither waits out the other's shared hold).
        for outcome in try cast.race([(alice, ["gc", "--grace", "0m"]), (bob, ["gc", "--grace", "0m"])]) {
            #expect(outcome.status == Exit.ok, "two gc at once: \(outcome.exit): \(outcome.stderr)")
        }

        // A gc killed at some moment is simply run again.
        try cast.ok(alice, ["rotate", "doc", "big.bin"])
        _ = try cast.kill(alice, ["gc", "--grace", "0m"], after: [UInt32.random(in: 50_000...400_000)])
        try cast.ok(alice, ["gc", "--grace", "0m"])
        ConcurrencyTests.expectVerifies(cast: cast, as: bob, deep: true, "after a killed gc and its rerun")
        #expect(try cast.ok(bob, ["open", "big.bin", "-o", "-"]).stdout == big)
    }

    /// A local vault Alice made, with the test servers' settings in the
    /// cast's environment (for copies into a shared backend).
    static func localVault() throws -> (SharedServers, Cast, Member) {
        let servers = try SharedServers.test()
        let cast = try Cast()
        cast.cli.environment.merge(servers.settings) { $1 }
        return (servers, cast, try cast.creator("alice"))
    }

    @Test("vault copy: local to shared and back, the same vault byte for byte; killed at random moments and rerun; a damaged source object is refused before the copy becomes a vault; two copies into one target at once")
    func copyBetweenBackends() throws {
        let (servers, cast, alice) = try Self.localVault()
        for i in 0..<20 { try cast.cli.write("docs/d\(i).bin", pattern(i == 0 ? 5 << 20 : 1_000 + i, seed: UInt64(i + 1))) }
        let expected = try ConcurrencyTests.sealFolder(cast.cli.path("docs"), as: alice, in: cast)
        try cast.ok(alice, ["rotate", "doc", expected.keys.sorted()[0]])  // a superseded generation, not copied
        let head = try cast.ok(alice, ["audit", "verify", "--json"]).text
        let bucket = try servers.newBucket()
        let sharedCopy = cast.cli.path("copies/shared")
        let toShared = ["vault", "copy", "--from", alice.vault, "--to", sharedCopy, "--catalog", servers.database(), "--objects", "s3://\(bucket)/v", "--json"]

        let verified = try #require(try cast.ok(alice, ["verify", "--json"]).json() as? [String: Any])
        let referenced = try #require((verified["counts"] as? [String: Any])?["objectsReferenced"] as? Int)

        // Killed at random moments, then rerun: it finishes where the killed runs stopped.
        let killed = try cast.kill(alice, Array(toShared.dropLast()), after: [20_000, 150_000, 400_000]) {
            FileManager.default.fileExists(atPath: sharedCopy + "/coffer-vault")
        }
        #expect(killed > 0, "no copy was still running when killed")
        if !FileManager.default.fileExists(atPath: sharedCopy + "/coffer-vault") {
            let report = try #require(try cast.ok(alice, toShared).json() as? [String: Any])
            #expect(report["objects"] as? Int == referenced, "\(report)")
        }
        let copied = alice.using(vault: sharedCopy)
        #expect(try cast.ok(copied, ["audit", "verify", "--json"]).text == head, "the copy's ledger is the source's")
        ConcurrencyTests.expectIntact(expected, cast: cast, as: copied, "the shared copy", deep: true)

        // And back to a local directory, with two copies at once into it.
        let localCopy = cast.cli.path("copies/local")
        let back = ["vault", "copy", "--from", sharedCopy, "--to", localCopy, "--json"]
        let outcomes = try cast.race([(alice, back), (alice, back)])
        #expect(outcomes.contains { $0.status == Exit.ok }, "two copies at once: \(outcomes.map(\.exit)) \(outcomes.map(\.stderr))")
        for outcome in outcomes { #expect(outcome.status != Exit.integrity, "two copies at once: \(outcome.stderr)") }
        let returned = alice.using(vault: localCopy)
        ConcurrencyTests.expectIntact(expected, cast: cast, as: returned, "copied back", deep: true)
        let files = try FileManager.default.subpathsOfDirectory(atPath: localCopy + "/objects").filter { $0.count == 67 }
        #expect(files.count == referenced, "only the current versions' objects are copied: \(files.count) of \(referenced)")

        // A damaged object in the source stops the copy before the target becomes a vault: one that
        // a current version references (the copy holds only those), not the superseded generation's.
        let object = alice.vault + "/objects/" + (try #require(files.sorted().first))
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: object)
        try Data("damaged".utf8).write(to: URL(fileURLWithPath: object))
        let refused = try cast.run(alice, ["vault", "copy", "--from", alice.vault, "--to", cast.cli.path("copies/third")])
        #expect(refused.status == Exit.integrity && !FileManager.default.fileExists(atPath: cast.cli.path("copies/third/coffer-vault")), "\(refused.exit): \(refused.stderr)")
    }

    @Test("a shared vault seals in 8 MiB objects; a file sealed again there is unchanged, also one first sealed in 4 MiB objects in a local vault and copied in")
    func segmentSize() throws {
        let (servers, cast, alice) = try Self.localVault()
        let content = pattern((9 << 20) + 1, seed: 5)
        let big = try cast.cli.write("big.bin", content)
        func referenced(_ member: Member) throws -> Int {
            let verified = try #require(try cast.ok(member, ["verify", "--json"]).json() as? [String: Any])
            return try #require((verified["counts"] as? [String: Any])?["objectsReferenced"] as? Int)
        }
        let empty = try referenced(alice)
        try cast.ok(alice, ["seal", big, "--name", "big.bin"])
        #expect(try referenced(alice) == empty + 4, "three 4 MiB segments and a manifest")

        let shared = cast.cli.path("shared")
        try cast.ok(alice, ["vault", "copy", "--from", alice.vault, "--to", shared, "--catalog", servers.database(), "--objects", "s3://\(try servers.newBucket())/v"])
        let copied = alice.using(vault: shared)
        let again = try #require(try cast.ok(copied, ["seal", big, "--name", "big.bin", "--json"]).json() as? [[String: Any]])
        #expect(again.count == 1 && again.first?["unchanged"] as? Bool == true, "\(again)")
        let copiedCount = try referenced(copied)
        try cast.ok(copied, ["seal", big, "--name", "other.bin"])
        #expect(try referenced(copied) == copiedCount + 3, "two 8 MiB segments and a manifest")
        let twice = try #require(try cast.ok(copied, ["seal", big, "--name", "other.bin", "--json"]).json() as? [[String: Any]])
        #expect(twice.first?["unchanged"] as? Bool == true, "\(twice)")
        #expect(try cast.ok(copied, ["open", "other.bin", "-o", "-"]).stdout == content)
    }

    @Test("backup of a shared vault to a local directory while another client seals, killed and rerun; after the database loses the vault, restored, adopted and copied back into a shared backend, which another client joins again")
    func backupAndRestore() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob", admin: true)
        for i in 0..<8 { try cast.cli.write("docs/d\(i).bin", pattern(i == 0 ? 6 << 20 : 500 + i, seed: UInt64(i + 7))) }
        var expected = try ConcurrencyTests.sealFolder(cast.cli.path("docs"), as: alice, in: cast)
        let destination = cast.cli.path("backup")

        // A backup killed at some moment, then one while bob seals on his client.
        _ = try cast.kill(alice, ["backup", "create", destination], after: [UInt32.random(in: 100_000...600_000)])
        try cast.cli.write("more/late.txt", Data("sealed during the backup\n".utf8))
        let outcomes = try cast.race([(alice, ["backup", "create", destination, "--json"]), (bob, ["seal", cast.cli.path("more/late.txt"), "--json"])])
        #expect(outcomes.allSatisfy { $0.status == Exit.ok }, "\(outcomes.map(\.exit)): \(outcomes.map(\.stderr))")
        let late = try #require((try outcomes[1].json() as? [[String: Any]])?.first?["id"] as? String)
        let checked = try cast.run(alice, ["backup", "verify", destination, "--deep"])
        #expect(checked.status == Exit.ok, "\(checked.exit): \(checked.stderr) \(checked.text)")
        // One more, which certainly holds bob's document.
        try cast.ok(alice, ["backup", "create", destination])
        expected[late] = Data("sealed during the backup\n".utf8)

        // The database loses the vault (its schema dropped).
        let schema = "coffer_" + (try #require(cast.vaultID))
        try servers.psql("DROP SCHEMA \"\(schema)\" CASCADE")
        let gone = try cast.run(alice, ["ls"])
        #expect(gone.status == Exit.notFound, "the vault's tables dropped: \(gone.exit): \(gone.stderr)")
        // Restored into a local directory, adopted, then copied into a new bucket of the database.
        let restored = cast.cli.path("restored")
        try cast.ok(alice, ["backup", "restore", destination, "--output", restored])
        let local = alice.using(vault: restored)
        try cast.ok(local, ["backup", "adopt"])
        let bucket = try servers.newBucket()
        let again = cast.cli.path("clients/alice-again")
        try cast.ok(alice, ["vault", "copy", "--from", restored, "--to", again, "--catalog", servers.database(), "--objects", "s3://\(bucket)/v"])
        let revived = alice.using(vault: again)
        ConcurrencyTests.expectIntact(expected, cast: cast, as: revived, "restored into the shared backend", deep: true)
        // bob joins it again from a new client directory; what he saw is all in it, so his record agrees.
        let bobAgain = Member(name: "bob", file: bob.file, stateDirectory: bob.stateDirectory, vault: cast.cli.path("clients/bob-again"), fingerprint: bob.fingerprint, publicIdentity: bob.publicIdentity)
        try cast.ok(bobAgain, ["attach", "--vault", bobAgain.vault, "--catalog", servers.database(), "--objects", "s3://\(bucket)/v", "--expect-id", try #require(cast.vaultID)])
        #expect(try cast.ok(bobAgain, ["open", late, "-o", "-"]).stdout == Data("sealed during the backup\n".utf8))
        // Copying it once more into the same database is refused: the vault is there.
        let twice = try cast.run(alice, ["vault", "copy", "--from", restored, "--to", cast.cli.path("clients/twice"), "--catalog", servers.database(), "--objects", "s3://\(bucket)/w"])
        #expect(twice.status == Exit.conflict && twice.stderr.contains("coffer attach"), "\(twice.exit): \(twice.stderr)")
    }

    @Test("TLS with sslmode=verify-full: a vault made and joined over it, doctor says so; a server whose certificate another CA signed is refused (exit 8)")
    func verifiedTLS() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let tls = try #require(servers.settings["COFFER_TEST_POSTGRES_TLS"])
        let alice = try cast.creator("alice")
        let bucket = try servers.newBucket()
        let vault = cast.cli.path("clients/tls")
        let member = alice.using(vault: vault)
        let created = try #require(try cast.ok(member, ["init", "--catalog", tls, "--objects", "s3://\(bucket)/v", "--json"]).json() as? [String: Any])
        let note = try cast.cli.write("in/tls.txt", Data("over TLS\n".utf8))
        try cast.ok(member, ["seal", note])
        let joined = alice.using(vault: cast.cli.path("clients/tls-joined"))
        try cast.ok(joined, ["attach", "--vault", joined.vault, "--catalog", tls, "--objects", "s3://\(bucket)/v", "--expect-id", try #require(created["id"] as? String)])
        #expect(try cast.ok(joined, ["open", "tls.txt", "-o", "-"]).stdout == Data("over TLS\n".utf8))
        let doctor = try cast.ok(member, ["doctor"])
        #expect(doctor.text.contains("TLS in use"), "\(doctor.text)")
        let wrongCA = servers.database() + "?sslmode=verify-full&sslrootcert=" + (try #require(servers.settings["COFFER_TEST_OTHER_CA"]))
        let refused = try cast.run(member, ["attach", "--vault", cast.cli.path("clients/wrong-ca"), "--catalog", wrongCA, "--objects", "s3://\(bucket)/v"])
        #expect(refused.status == Exit.io && refused.stderr.contains("certificate"), "\(refused.exit): \(refused.stderr)")
    }
}

extension Member {
    /// The same person, with the same state directory, using the vault (or
    /// shared vault client directory) at `vault`.
    func using(vault: String) -> Member {
        Member(name: name, file: file, stateDirectory: stateDirectory, vault: vault, fingerprint: fingerprint, publicIdentity: publicIdentity)
    }
}

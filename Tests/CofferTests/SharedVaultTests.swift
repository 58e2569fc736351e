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
    @Test("init and attach: two clients share documents; wrong ids, ambiguous databases, passwords on the command line, versioned buckets and local-only commands are refused")
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
        // Commands that still work only on a local vault say so (exit 4), and change nothing.
        for command in [["backup", "create", cast.cli.path("backup")]] {
            let refused = try cast.run(alice, command)
            #expect(refused.status == Exit.accessDenied && refused.stderr.contains("shared vault"), "\(command): \(refused.exit): \(refused.stderr)")
        }
        // A versioned bucket does not honour If-None-Match: *, so init refuses it.
        let versioned = try servers.newBucket()
        try servers.enableVersioning(versioned)
        let refused = try cast.run(alice, ["init", "--vault", cast.cli.path("clients/versioned"), "--catalog", shared.catalog, "--objects", "s3://\(versioned)/v"])
        #expect(refused.status == Exit.usage && refused.stderr.contains("versioning"), "\(refused.exit): \(refused.stderr)")
    }

    @Test("the database's and the bucket's operators: a changed or deleted object, a changed, removed or planted ledger row are caught (exit 5), never accepted")
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
        var killed = 0
        for delay: UInt32 in [100_000, 300_000, 600_000] {
            let process = try cast.start(alice, ["seal", big, "--name", "big-\(delay).bin"])
            usleep(delay)
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                killed += 1
            }
            process.waitUntilExit()
        }
        #expect(killed > 0, "no seal was still running when killed")
        ConcurrencyTests.expectVerifies(cast: cast, as: alice, deep: true, "after \(killed) killed seals")
        // A seal killed after its commit is a whole document; one killed before it left nothing in the ledger.
        let listed = try #require(try cast.ok(alice, ["ls", "--json"]).json() as? [[String: Any]])
        let log = try cast.ok(alice, ["audit", "log", "--json"]).text.split(separator: "\n")
        let seals = log.filter { $0.contains("\"document.seal\"") }.count
        #expect(seals == listed.count, "\(seals) document.seal entries, \(listed.count) documents listed")
        for document in listed {
            let name = try #require(document["name"] as? String)
            #expect(try cast.ok(alice, ["open", name, "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: big))), "\(name)")
        }
        try cast.ok(alice, ["seal", big, "--name", "big.bin"])
        #expect(try cast.ok(alice, ["open", "big.bin", "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: big))))
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
        let gc = try cast.start(alice, ["gc", "--grace", "0m"])
        usleep(UInt32.random(in: 50_000...400_000))
        kill(gc.processIdentifier, SIGKILL)
        gc.waitUntilExit()
        try cast.ok(alice, ["gc", "--grace", "0m"])
        ConcurrencyTests.expectVerifies(cast: cast, as: bob, deep: true, "after a killed gc and its rerun")
        #expect(try cast.ok(bob, ["open", "big.bin", "-o", "-"]).stdout == big)
    }
}

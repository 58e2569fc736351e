import CofferTestSupport
import Foundation
import Testing

/// Issue 13's server faults, on this test's own PostgreSQL and radosgw
/// (`scripts/servers start`, about 13 s; the ones `scripts/test` shares
/// between suites are never stopped): a database restarted while clients
/// append, and radosgw killed in the middle of an upload. Each failure is a
/// clear error (exit 8), leaves nothing half-made, and a rerun succeeds.
@Suite("Shared vault faults", .serialized)
struct SharedFaultTests {
    @Test("PostgreSQL restarted while two clients seal, radosgw killed mid-upload: exit 8 naming the server, nothing half-made, a rerun succeeds")
    func serverFaults() throws {
        let servers = try SharedServers.start()
        defer { try? servers.control("stop") }
        let cast = try Cast(servers: servers)
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob", admin: true)

        // 1. The database restarts under two clients sealing one small document after another.
        let outcomes = Locked<[(name: String, outcome: BoundedRunner.Outcome)]>([])
        let restarted = Locked(false)
        let sealers = [alice, bob]
        BoundedRunner.concurrently(sealers.count + 1) { index in
            guard index < sealers.count else {
                usleep(1_500_000)
                do { try servers.control("restart-postgres") } catch { Issue.record("restart-postgres: \(error)") }
                usleep(1_500_000)
                restarted.withLock { $0 = true }
                return
            }
            var number = 0
            while !restarted.withLock({ $0 }) {
                number += 1
                let name = "\(sealers[index].name)-\(number).txt"
                guard let input = try? cast.cli.write("in/\(name)", Data("document \(name)\n".utf8)),
                      let outcome = try? cast.run(sealers[index], ["seal", input, "--json"]) else { continue }
                outcomes.withLock { $0.append((name, outcome)) }
            }
        }
        let seals = outcomes.withLock { $0 }
        let failed = seals.filter { $0.outcome.status != Exit.ok }
        for (name, outcome) in failed {
            #expect(outcome.status == Exit.io && outcome.stderr.contains("PostgreSQL"), "seal of \(name) exited \(outcome.exit): \(outcome.stderr)")
        }
        #expect(!failed.isEmpty, "no seal ran into the restart (\(seals.count) seals)")
        #expect(seals.count > failed.count, "no seal succeeded (\(seals.count) seals)")
        // Every seal that reported success opens; the ones that failed left no document.
        let listed = try #require(try cast.ok(alice, ["ls", "--json"]).json() as? [[String: Any]])
        let names = Set(listed.compactMap { $0["name"] as? String })
        #expect(names == Set(seals.filter { $0.outcome.status == Exit.ok }.map(\.name)), "listed \(names.sorted()), sealed \(seals.map(\.name))")
        for name in names { #expect(try cast.ok(bob, ["open", name, "-o", "-"]).stdout == Data("document \(name)\n".utf8)) }
        ConcurrencyTests.expectVerifies(cast: cast, as: alice, deep: true, "after the database restarted")

        // 2. radosgw killed while a big document is being uploaded.
        let big = try cast.cli.write("in/big.bin", pattern(192 << 20, seed: 3))
        let upload = try cast.start(alice, ["seal", big, "--name", "big.bin"])
        usleep(700_000)  // a 192 MiB seal takes about 4 s here
        #expect(upload.isRunning, "the upload finished before radosgw was killed")
        try servers.control("kill-s3")
        upload.waitUntilExit()
        #expect(upload.terminationStatus == Exit.io, "seal exited \(upload.terminationStatus) when radosgw died")
        let offline = try cast.run(bob, ["open", names.sorted().first ?? "", "-o", "-"])
        #expect(offline.status == Exit.io && offline.stderr.contains("S3"), "open with radosgw down: \(offline.exit): \(offline.stderr)")
        try servers.control("start-s3")
        #expect(try cast.run(alice, ["open", "big.bin", "-o", "-"]).status == Exit.notFound, "the killed seal left a document")
        try cast.ok(alice, ["seal", big, "--name", "big.bin"])
        #expect(try cast.ok(bob, ["open", "big.bin", "-o", "-"]).stdout == (try Data(contentsOf: URL(fileURLWithPath: big))))
        ConcurrencyTests.expectVerifies(cast: cast, as: bob, deep: true, "after radosgw was killed and restarted")
    }
}

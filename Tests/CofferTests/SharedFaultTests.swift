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

    @Test("the network between a client and the servers cut (a network namespace whose link goes down): a command fails within the network timeout (exit 8), nothing half-made; restored, a rerun succeeds")
    func networkCut() throws {
        let servers = try SharedServers.test()
        let cast = try Cast(servers: servers)
        let shared = try #require(cast.shared)
        let alice = try cast.creator("alice")
        let bob = try cast.person("bob", admin: true)
        let name = "cof" + String(UInt32.random(in: 0...0xFFFFFF), radix: 16)
        let database = try #require(URLComponents(string: servers.database())), endpoint = try #require(URLComponents(string: servers.endpoint()))
        let ports = [try #require(database.port), try #require(endpoint.port)]
        let host = try #require(try NetworkCut.setup(name, ports: ports))
        defer { NetworkCut.run(["teardown", name]) }
        // bob's client in the namespace reaches PostgreSQL across the link (host), S3 on its own loopback, forwarded across it.
        var remote = database
        remote.host = host
        let client = Member(name: "bob", file: bob.file, stateDirectory: bob.stateDirectory, vault: cast.cli.path("clients/bob-remote"), fingerprint: bob.fingerprint, publicIdentity: bob.publicIdentity)
        var environment = cast.environment(of: client)
        environment["COFFER_NETWORK_TIMEOUT"] = "3"
        func inNamespace(_ arguments: [String], input: Pipe? = nil) throws -> ChildProcess {
            let process = ChildProcess()
            process.executableURL = URL(fileURLWithPath: "/usr/sbin/ip")
            process.arguments = ["netns", "exec", name, CLIHarness.binary] + arguments
            process.environment = environment
            process.currentDirectoryURL = URL(fileURLWithPath: cast.cli.root)
            process.standardInput = input ?? FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            return process
        }
        func finish(_ process: ChildProcess) -> (status: Int32, seconds: Double, stderr: String) {
            let started = Date()
            let stderr = String(decoding: (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            return (process.terminationStatus, Date().timeIntervalSince(started), stderr)
        }
        let attached = finish(try inNamespace(["attach", "--vault", client.vault, "--catalog", try #require(remote.string), "--objects", shared.objects, "--expect-id", try #require(cast.vaultID)]))
        #expect(attached.status == Exit.ok, "attach across the link: \(attached.stderr)")
        #expect(finish(try inNamespace(["ls"])).status == Exit.ok)

        // Cut while a seal is uploading: it fails within the timeout, and seals nothing.
        let content = pattern(12 << 20, seed: 11)
        let pipe = Pipe()
        let seal = try inNamespace(["seal", "-", "--name", "cut.bin"], input: pipe)
        pipe.fileHandleForWriting.write(content.prefix(9 << 20))
        usleep(500_000)
        NetworkCut.run(["cut", name])
        pipe.fileHandleForWriting.write(content.dropFirst(9 << 20))
        try pipe.fileHandleForWriting.close()
        let cutSeal = finish(seal)
        #expect(cutSeal.status == Exit.io && cutSeal.seconds < 30, "seal across a cut link: \(cutSeal.status) after \(cutSeal.seconds) s: \(cutSeal.stderr)")
        // A command started while the link is down fails to connect, within the timeout.
        let cutList = finish(try inNamespace(["ls"]))
        #expect(cutList.status == Exit.io && cutList.stderr.contains("PostgreSQL") && cutList.seconds < 30, "ls across a cut link: \(cutList.status) after \(cutList.seconds) s: \(cutList.stderr)")
        #expect(try cast.run(alice, ["open", "cut.bin", "-o", "-"]).status == Exit.notFound, "the cut seal left a document")

        NetworkCut.run(["restore", name])
        let rerun = Pipe()
        let again = try inNamespace(["seal", "-", "--name", "cut.bin"], input: rerun)
        rerun.fileHandleForWriting.write(content)
        try rerun.fileHandleForWriting.close()
        let sealed = finish(again)
        #expect(sealed.status == Exit.ok, "the rerun: \(sealed.stderr)")
        #expect(try cast.ok(alice, ["open", "cut.bin", "-o", "-"]).stdout == content)
        ConcurrencyTests.expectVerifies(cast: cast, as: alice, deep: true, "after the network came back")
    }
}

/// `scripts/network-cut`: a network namespace for one client, whose link to
/// the test servers a test takes down and brings back.
enum NetworkCut {
    static let script = URL(fileURLWithPath: SharedServers.script).deletingLastPathComponent().appendingPathComponent("network-cut").path

    /// Makes the namespace `name`, forwarding `ports`; returns the host's
    /// address on the link (where PostgreSQL is reached from inside).
    static func setup(_ name: String, ports: [Int]) throws -> String? {
        let output = try SharedServers.run(script, ["setup", name] + ports.map(String.init))
        return output.split(separator: "\n").last.map(String.init)
    }

    /// Runs `scripts/network-cut ARGUMENTS` (its failures are the test's to notice).
    static func run(_ arguments: [String]) {
        do { _ = try SharedServers.run(script, arguments) } catch { print("NetworkCut \(arguments): \(error)") }
    }
}

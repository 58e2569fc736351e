import CofferTestSupport
import Crypto
import Foundation
import Testing

@testable import CofferKit

/// Issue 13: objects in a real S3 server (a single-node Ceph radosgw that
/// `scripts/servers` starts for `scripts/test`). Written once with
/// `If-None-Match: *` and a signed SHA-256; re-hashed on every read; eight
/// writers of one object at once; a bucket operator's overwrite; a client
/// killed in the middle of an upload; a versioned bucket refused.
@Suite("S3 object store")
struct S3ObjectStoreTests {
    let bucket = "coffer-" + Hex.encode(Sodium.randomBytes(6))

    /// The test server's configuration, from `scripts/servers` through the environment.
    static func configuration() throws -> S3Configuration {
        guard ProcessInfo.processInfo.environment["AWS_ENDPOINT_URL"] != nil else {
            throw PostgresLedgerTests.HarnessFailure("AWS_ENDPOINT_URL is not set: run the tests through scripts/test, which starts Ceph radosgw (scripts/servers)")
        }
        return try S3Configuration.fromEnvironment()
    }

    /// A store in this test's own new bucket, under a prefix.
    func store() throws -> S3ObjectStore {
        let store = try S3ObjectStore(location: try S3Location("s3://\(bucket)/vaults/one"), configuration: try Self.configuration())
        try store.createBucket()
        return store
    }

    /// Random bytes and their object name.
    static func object(_ count: Int = 100_000) -> ([UInt8], ObjectID) {
        let bytes = Sodium.randomBytes(count)
        return (bytes, bytes.withUnsafeBytes { ObjectID.of($0) })
    }

    /// `curl` signing as the test user: what a bucket operator (or any other client) can send.
    static func rawCurl(_ arguments: [String], body: String? = nil) throws -> ChildProcess {
        let env = ProcessInfo.processInfo.environment
        let curl = ChildProcess()
        curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
        curl.arguments = ["-s", "-o", "/dev/null", "--aws-sigv4", "aws:amz:us-east-1:s3",
                          "--user", "\(env["AWS_ACCESS_KEY_ID"] ?? ""):\(env["AWS_SECRET_ACCESS_KEY"] ?? "")"] + arguments
        curl.standardOutput = FileHandle.nullDevice
        curl.standardError = FileHandle.nullDevice
        try curl.run()
        return curl
    }

    /// The hex SHA-256 of a file, for `x-amz-content-sha256`.
    static func sha256(ofFile path: String) throws -> String {
        Hex.encode(Array(SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: path)))))
    }

    @Test("an object round-trips, a second put of it is a no-op that checks it, and a deleted one is not found")
    func roundTrip() throws {
        let store = try store()
        try store.requireUsableBucket()
        let (bytes, id) = Self.object()
        #expect(try !store.contains(id))
        #expect(try store.put(id, bytes))
        #expect(try store.get(id) == bytes && store.contains(id))
        #expect(try !store.put(id, bytes))
        // Read straight into a buffer: a buffer just big enough holds it;
        // one a byte short is an oversized object, not a short read.
        for size in [bytes.count, bytes.count + 4096] {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: size, alignment: 16)
            defer { buffer.deallocate() }
            let count = try store.read(id, into: buffer, bypassingCache: false)
            #expect(count == bytes.count && Array(buffer[..<count]) == bytes)
        }
        let short = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count - 1, alignment: 16)
        defer { short.deallocate() }
        #expect { try store.read(id, into: short, bypassingCache: false) } throws: {
            if case .oversized(id, _) = $0 as? ObjectStoreError { true } else { false }
        }
        try store.delete(id)
        #expect(try !store.contains(id))
        #expect { try store.get(id) } throws: { ($0 as? ObjectStoreError) == .missing(id) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { buffer.deallocate() }
        #expect { try store.read(id, into: buffer, bypassingCache: false) } throws: { ($0 as? ObjectStoreError) == .missing(id) }
    }

    @Test("listing for gc: 1,500 objects over two pages come out once each, grouped by leading byte in order; other keys are left out and never removed")
    func listing() throws {
        let store = try store()
        let objects = (0..<1_500).map { _ in Self.object(32) }
        _ = try ParallelMap.run(objects.map(\.0)) { bytes in try store.put(bytes.withUnsafeBytes { ObjectID.of($0) }, bytes) }
        // Keys Coffer never writes: beside the prefix, and under it with names that are not object names.
        let endpoint = try Self.configuration().endpoint
        for key in ["vaults/other/" + objects[0].1.description, "vaults/one/notes.txt", "vaults/one/" + String(repeating: "g", count: 64)] {
            let put = try Self.rawCurl(["-X", "PUT", "-H", "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "\(endpoint)/\(bucket)/\(key)"])
            put.waitUntilExit()
        }
        var bytes: [UInt8] = []
        var seen: [ObjectID] = []
        try store.forEachFanOut { leadingByte, entries in
            bytes.append(leadingByte)
            for entry in entries {
                #expect(entry.id?.leadingByte == leadingByte && entry.name == entry.id?.description && entry.size == 32)
                #expect(abs(entry.modified - Date().timeIntervalSince1970) < 600, "LastModified \(entry.modified)")
                seen.append(try #require(entry.id))
            }
        }
        #expect(bytes == Array(UInt8.min...UInt8.max))
        #expect(seen.count == 1_500 && Set(seen) == Set(objects.map(\.1)))
        try store.remove(objects.prefix(1_000).map(\.1.description))
        var left = 0
        try store.forEachFanOut { _, entries in left += entries.count }
        #expect(left == 500)
        #expect(try store.contains(objects[1_499].1) && !(try store.contains(objects[0].1)))
    }

    @Test("eight writers put one object at once: exactly one creates it, the others find it, and it reads back whole")
    func concurrentPuts() throws {
        let store = try store()
        let (bytes, id) = Self.object(1 << 20)
        let created = PostgresLedgerTests.Locked(0)
        let failures = PostgresLedgerTests.Locked<[String]>([])
        let (location, configuration) = (store.location, try Self.configuration())
        DispatchQueue.concurrentPerform(iterations: 8) { _ in
            do {
                if try S3ObjectStore(location: location, configuration: configuration).put(id, bytes) { created.withLock { $0 += 1 } }
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty, "\(failures.withLock { $0 })")
        #expect(created.withLock { $0 } == 1)
        #expect(try store.get(id) == bytes)
    }

    @Test("an object the bucket's operator overwrote is refused on reading and on a second put; a body that does not match its signed SHA-256 is refused by the server")
    func overwrittenObject() throws {
        let store = try store()
        let (bytes, id) = Self.object()
        try store.put(id, bytes)
        let scratch = try ScratchDirectory()
        let other = try scratch.write("other", Sodium.randomBytes(1000))
        let url = "\(try Self.configuration().endpoint)/\(bucket)/vaults/one/\(id)"
        let overwrite = try Self.rawCurl(["-X", "PUT", "--data-binary", "@\(other)", "-H", "x-amz-content-sha256: \(try Self.sha256(ofFile: other))", url])
        overwrite.waitUntilExit()
        #expect(overwrite.terminationStatus == 0)
        #expect { try store.get(id) } throws: { ($0 as? ObjectStoreError) == .corrupt(id) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        defer { buffer.deallocate() }
        #expect { try store.read(id, into: buffer, bypassingCache: false) } throws: { ($0 as? ObjectStoreError) == .corrupt(id) }
        #expect { try store.put(id, bytes) } throws: { ($0 as? ObjectStoreError) == .corrupt(id) }

        // A body whose SHA-256 is not the one signed: the server stores nothing.
        let (fresh, freshID) = Self.object()
        let lie = try scratch.write("lie", fresh)
        let mismatched = try Self.rawCurl([
            "-X", "PUT", "--data-binary", "@\(other)", "-H", "x-amz-content-sha256: \(try Self.sha256(ofFile: lie))",
            "\(try Self.configuration().endpoint)/\(bucket)/vaults/one/\(freshID)",
        ])
        mismatched.waitUntilExit()
        #expect(try !store.contains(freshID))
    }

    @Test("a client killed (SIGKILL) in the middle of an upload leaves no object under that name, and the next put succeeds")
    func killedUpload() throws {
        let store = try store()
        let (bytes, id) = Self.object(8 << 20)
        let scratch = try ScratchDirectory()
        let file = try scratch.write("big", bytes)
        let url = "\(try Self.configuration().endpoint)/\(bucket)/vaults/one/\(id)"
        // 1 MB/s: the 8 MiB body is about an eighth sent when it is killed.
        let upload = try Self.rawCurl(["-X", "PUT", "--limit-rate", "1M", "-H", "If-None-Match: *", "--data-binary", "@\(file)", "-H", "x-amz-content-sha256: \(try Self.sha256(ofFile: file))", url])
        usleep(1_000_000)
        #expect(upload.isRunning)
        kill(upload.processIdentifier, SIGKILL)
        upload.waitUntilExit()
        #expect(try !store.contains(id))
        #expect(try store.put(id, bytes))
        #expect(try store.get(id) == bytes)
    }

    /// A TCP forwarder (python3) from a new port on the loopback to `target`,
    /// which appends a line to `log` for each connection it accepts and
    /// writes its port to `log.port`. Killing it closes every connection
    /// through it, as a restarted proxy or load balancer does.
    static func forwarder(port: Int, to target: Int, log: String) throws -> ChildProcess {
        let script = """
            import socket, sys, threading
            port, target, log = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind(('127.0.0.1', port))
            server.listen(16)
            with open(log + '.port.tmp', 'w') as f: f.write(str(server.getsockname()[1]))
            import os; os.rename(log + '.port.tmp', log + '.port')
            def pipe(source, sink):
                try:
                    while data := source.recv(65536): sink.sendall(data)
                except OSError: pass
                finally:
                    try: sink.shutdown(socket.SHUT_WR)
                    except OSError: pass
            while True:
                client, _ = server.accept()
                with open(log, 'a') as f: f.write('accepted\\n')
                upstream = socket.create_connection(('127.0.0.1', target))
                for a, b in ((client, upstream), (upstream, client)): threading.Thread(target=pipe, args=(a, b), daemon=True).start()
            """
        try? FileManager.default.removeItem(atPath: log + ".port")
        let python = ChildProcess()
        python.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        python.arguments = ["-c", script, String(port), String(target), log]
        try python.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: log + ".port") { usleep(50_000) }
        return python
    }

    @Test("connections are kept between requests (ten puts and reads over one); a kept connection that the other end closed (a proxy restarted) is replaced, not an error")
    func keptConnections() throws {
        let scratch = try ScratchDirectory()
        let log = scratch.join("connections")
        let endpoint = try Self.configuration().endpoint
        let target = try #require(Int(endpoint.split(separator: ":").last ?? ""), "the test server's endpoint \(endpoint) has a port")
        var proxy = try Self.forwarder(port: 0, to: target, log: log)
        defer { kill(proxy.processIdentifier, SIGKILL) }
        let port = try String(contentsOfFile: log + ".port", encoding: .utf8)
        func connections() throws -> Int { try String(contentsOfFile: log, encoding: .utf8).split(separator: "\n").count }

        var environment = ProcessInfo.processInfo.environment
        environment["AWS_ENDPOINT_URL"] = "http://127.0.0.1:\(port)"
        let store = try S3ObjectStore(location: try S3Location("s3://\(bucket)/kept"), configuration: try S3Configuration.fromEnvironment(environment))
        try store.createBucket()
        for _ in 0..<10 {
            let (bytes, id) = Self.object(1000)
            #expect(try store.put(id, bytes))
            #expect(try store.get(id) == bytes)
        }
        let first = try connections()
        #expect(first == 1, "21 requests, one after another, over \(first) connections")

        kill(proxy.processIdentifier, SIGKILL)
        proxy.waitUntilExit()
        proxy = try Self.forwarder(port: Int(port)!, to: target, log: log)
        let (bytes, id) = Self.object(1000)
        #expect(try store.put(id, bytes))
        #expect(try store.get(id) == bytes)
        let total = try connections()
        #expect(total == 2, "after the proxy restarted: \(total) connections")
    }

    @Test("a versioned bucket is refused (it does not honour If-None-Match here), a missing one is named, and bad locations and settings are usage errors that never show the secret")
    func refusals() throws {
        let store = try store()
        let scratch = try ScratchDirectory()
        let xml = try scratch.write(
            "versioning.xml", Array("<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>".utf8))
        let enable = try Self.rawCurl([
            "-X", "PUT", "--data-binary", "@\(xml)", "-H", "x-amz-content-sha256: \(try Self.sha256(ofFile: xml))",
            // `versioning=`: curl 7.88 signs a bare `?versioning` wrongly (403 SignatureDoesNotMatch).
            "\(try Self.configuration().endpoint)/\(bucket)?versioning=",
        ])
        enable.waitUntilExit()
        #expect(enable.terminationStatus == 0)
        #expect { try store.requireUsableBucket() } throws: { ($0 as? S3Error)?.kind == .usage && "\($0)".contains("versioning") }
        let missing = try S3ObjectStore(location: try S3Location("s3://coffer-missing-\(Hex.encode(Sodium.randomBytes(4)))"), configuration: try Self.configuration())
        #expect { try missing.requireUsableBucket() } throws: { ($0 as? S3Error)?.kind == .notFound }

        for bad in ["http://bucket/x", "s3://", "s3://UPPER", "s3://ok-bucket/../up", "s3://a"] {
            #expect(throws: S3Error.self, "\(bad)") { try S3Location(bad) }
        }
        #expect(try S3Location("s3://my-bucket/team/vault").prefix == "team/vault/")
        var environment = ["AWS_ENDPOINT_URL": "http://example.com", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"]
        #expect { try S3Configuration.fromEnvironment(environment) } throws: { ($0 as? S3Error)?.kind == .usage && !"\($0)".contains("s3cr3t") }
        environment = ["AWS_ENDPOINT_URL": "https://s3.example.com", "HOME": scratch.path, "AWS_PROFILE": "vault"]
        #expect { try S3Configuration.fromEnvironment(environment) } throws: { "\($0)".contains("[vault]") }
        _ = try scratch.write(".aws/credentials", Array("[default]\naws_access_key_id = a\naws_secret_access_key = b\n[vault]\naws_access_key_id = AKIDVAULT\naws_secret_access_key = s3cr3t-value\n".utf8))
        let configured = try S3Configuration.fromEnvironment(environment)
        #expect(configured.accessKey == "AKIDVAULT" && configured.secretKey.constantTimeEquals(Array("s3cr3t-value".utf8)))
    }
}

import Foundation
import Testing

@testable import CofferKit

/// Issue 15, finding 12: sealing from and reading into async sequences,
/// without files and in bounded memory; a failing or cancelled sequence
/// seals nothing; a consumer that stops early stops the decryption; a
/// damaged frame throws where it is reached.
@Suite("Async sequences")
struct AsyncTests {
    /// `count` bytes in chunks of uneven sizes (1 byte to 1 MiB), as a stream; `failAt` throws after that many bytes.
    static func stream(_ data: [UInt8], failAt: Int? = nil) -> AsyncThrowingStream<[UInt8], any Error> {
        AsyncThrowingStream { continuation in
            var offset = 0
            var size = 1
            while offset < data.count {
                if let failAt, offset >= failAt {
                    continuation.finish(throwing: VaultError.invalidRequest("the source failed"))
                    return
                }
                let end = min(data.count, offset + size)
                continuation.yield(Array(data[offset..<end]))
                offset = end
                size = size >= 1 << 20 ? 1 : size * 7 + 3
            }
            continuation.finish()
        }
    }

    static func bytes(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ Int(seed) &+ $0 >> 11) }
    }

    @Test("a document sealed from an async sequence reads back the same through chunks(of:) and contents(of:); a second seal of the name is its next revision")
    func roundTrip() async throws {
        let fixture = try VaultFixture()
        let data = Self.bytes(13 << 20 + 12_345, seed: 1)
        let vault = try fixture.open()
        let sealed = try await vault.seal(Self.stream(data), name: "streams/big.bin", label: "confidential")
        #expect(sealed.size == UInt64(data.count) && sealed.revision == 1 && sealed.label == "confidential")
        var read: [UInt8] = []
        var chunkCount = 0
        for try await chunk in try fixture.open().chunks(of: "streams/big.bin") {
            read += chunk
            chunkCount += 1
        }
        #expect(read == data && chunkCount >= 4)
        #expect(try fixture.read("streams/big.bin") == data)
        let empty = try await fixture.open().seal(Self.stream([]), name: "streams/empty.bin")
        #expect(empty.size == 0)
        var emptyChunks = 0
        for try await _ in try fixture.open().chunks(of: "streams/empty.bin") { emptyChunks += 1 }
        #expect(emptyChunks == 0)
        let again = try await fixture.open().seal(Self.stream(Array(data.prefix(100))), name: "streams/big.bin")
        #expect(again.id == sealed.id && again.revision == 2)
        #expect(try fixture.verify(deep: true).isClean)
    }

    @Test("a sequence that throws, or a cancelled task, seals nothing and the error is the sequence's; the vault stays clean")
    func failures() async throws {
        let fixture = try VaultFixture()
        let data = Self.bytes(9 << 20, seed: 2)
        await #expect(throws: VaultError.invalidRequest("the source failed")) {
            _ = try await fixture.open().seal(Self.stream(data, failAt: 5 << 20), name: "failed.bin")
        }
        // A sequence that never ends, cancelled.
        let vault = Vault.Unchecked(try fixture.open())
        let endless = AsyncStream<[UInt8]> { continuation in
            let feeder = Thread {
                while case .enqueued = continuation.yield([UInt8](repeating: 7, count: 65_536)) { usleep(100) }
            }
            feeder.start()
        }
        let task = Task { try await vault.value.seal(endless, name: "endless.bin") }
        try await Task.sleep(nanoseconds: 300_000_000)
        task.cancel()
        await #expect(throws: CancellationError.self) { _ = try await task.value }
        #expect(try fixture.open().list().documents.isEmpty)
        #expect(try fixture.verify().isClean)
    }

    @Test("a consumer that stops after one chunk stops the decryption (the vault is free again at once); a damaged last segment throws after the chunks before it")
    func earlyStopAndDamage() async throws {
        let fixture = try VaultFixture()
        let data = Self.bytes(12 << 20, seed: 3)
        _ = try await fixture.open().seal(Self.stream(data), name: "large.bin")
        let vault = try fixture.open()
        var first: [UInt8]?
        for try await chunk in vault.chunks(of: "large.bin") {
            first = chunk
            break
        }
        #expect(first.map { Array(data.prefix($0.count)) == $0 } == true)
        // The iterator is gone and its thread has returned: the same vault serves the next call.
        #expect(try vault.contents(of: "large.bin") == data)

        let document = try #require(vault.state.documents.values.first { _ in true })
        let last = try #require(document.current.segments.last)
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: fixture.objectPath(last)))
        try handle.seek(toOffset: 100)
        let byte = try #require(try handle.read(upToCount: 1))
        try handle.seek(toOffset: 100)
        try handle.write(contentsOf: Data([byte[0] ^ 0x40]))
        try handle.close()
        var received = 0
        await #expect(throws: (any Error).self) {
            for try await chunk in try fixture.open().chunks(of: "large.bin") { received += chunk.count }
        }
        #expect(received > 0 && received < data.count)
    }

    @Test("the channel hands chunks over in order both ways and never queues more than its capacity; finish carries an error; cancel stops the sender")
    func channel() async throws {
        let channel = ChunkChannel(capacity: 1_000)
        let chunks = (0..<500).map { [UInt8](repeating: UInt8($0 % 251), count: 1 + $0 % 97) }
        // Async sender, blocking receiver (a seal).
        let received = ThreadOutcome<[[UInt8]]>()
        let peak = ThreadOutcome<Int>()
        Vault.onThread {
            var got: [[UInt8]] = []
            var most = 0
            while let chunk = try? channel.receiveBlocking() {
                most = max(most, channel.queuedByteCount)
                got.append(chunk)
                usleep(50)
            }
            received.complete(.success(got))
            peak.complete(.success(most))
        }
        for chunk in chunks { try await channel.send(chunk) }
        channel.finish()
        #expect(try await received.value() == chunks)
        #expect(try await peak.value() <= 1_000 + 97)

        // Blocking sender, async receiver (a read), ending with an error.
        let reverse = ChunkChannel(capacity: 1_000)
        Vault.onThread {
            for chunk in chunks { try? reverse.sendBlocking(chunk) }
            reverse.finish(throwing: VaultError.integrity("frame 9"))
        }
        var got: [[UInt8]] = []
        await #expect(throws: VaultError.integrity("frame 9")) {
            while let chunk = try await reverse.receive() {
                #expect(reverse.queuedByteCount <= 1_000 + 97)
                got.append(chunk)
            }
        }
        #expect(got == chunks)

        // The receiver stops: a blocked sender is released with CancellationError.
        let stopped = ChunkChannel(capacity: 10)
        try stopped.sendBlocking([UInt8](repeating: 1, count: 10))
        let sender = ThreadOutcome<Bool>()
        Vault.onThread {
            do {
                try stopped.sendBlocking([2])
                sender.complete(.success(false))
            } catch {
                sender.complete(.success(error is CancellationError))
            }
        }
        usleep(50_000)
        stopped.cancel()
        #expect(try await sender.value())
        await #expect(throws: CancellationError.self) { try await stopped.send([3]) }
    }
}

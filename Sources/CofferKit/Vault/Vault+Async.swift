import Foundation

/// A document's plaintext as an `AsyncSequence` of authenticated chunks
/// (``Vault/chunks(of:revision:)``). Decryption starts at the first `next()`,
/// on a thread of its own, at most 8 MiB ahead of the consumer; a consumer
/// that stops iterating stops it.
public struct DocumentChunks: AsyncSequence, Sendable {
    public typealias Element = [UInt8]

    private let vault: Vault.Unchecked
    private let query: String
    private let revision: UInt32?

    init(vault: Vault, query: String, revision: UInt32?) {
        self.vault = Vault.Unchecked(vault)
        self.query = query
        self.revision = revision
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(vault: vault, query: query, revision: revision)
    }

    /// Reads the chunks in order; the last `next()` throws if a frame did not authenticate.
    public final class Iterator: AsyncIteratorProtocol {
        private let vault: Vault.Unchecked
        private let query: String
        private let revision: UInt32?
        private let channel = ChunkChannel(capacity: Vault.asyncBufferBytes)
        /// Signalled when the decrypting thread has returned.
        private let stopped = DispatchSemaphore(value: 0)
        private var started = false

        init(vault: Vault.Unchecked, query: String, revision: UInt32?) {
            self.vault = vault
            self.query = query
            self.revision = revision
        }

        /// Stops the decryption if it still runs, and waits (a chunk's time at
        /// most) until its thread no longer uses the vault.
        deinit {
            channel.cancel()
            if started { stopped.wait() }
        }

        /// The next authenticated chunk, or nil after the last.
        /// - Throws: as ``Vault/open(_:revision:to:)``, when the failing frame is reached.
        public func next() async throws -> [UInt8]? {
            if !started {
                started = true
                let (vault, query, revision, channel, stopped) = (vault, query, revision, channel, stopped)
                Vault.onThread {
                    defer { stopped.signal() }
                    do {
                        try vault.value.stream(query, revision: revision) { if !$0.isEmpty { try channel.sendBlocking(Array($0)) } }
                        channel.finish()
                    } catch {
                        channel.finish(throwing: error)
                    }
                }
            }
            return try await channel.receive()
        }
    }
}

extension Vault {
    /// Bytes an async seal or read holds between the two sides at most.
    static let asyncBufferBytes = 8 << 20

    /// A vault handed to the thread that runs a blocking operation for an
    /// async caller; the caller does not use the vault until it returns.
    struct Unchecked: @unchecked Sendable {
        let value: Vault
        init(_ value: Vault) { self.value = value }
    }

    /// Runs `body` on a new thread (8 MiB of stack, as the main thread has).
    static func onThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 8 << 20
        thread.start()
    }

    /// Seals the chunks `chunks` yields as one document named `name`, in
    /// constant memory (at most 8 MiB of chunks wait between the sequence and
    /// the encryption), from memory: no file is read or written but the
    /// vault's own. The encryption runs on a thread of its own meanwhile; do
    /// not use this vault elsewhere until the call returns. A name that is a
    /// readable document's seals its next revision, as
    /// ``seal(paths:name:label:onSealed:)`` does.
    ///
    /// Nothing is committed unless the sequence ends normally: if it throws
    /// (or the task is cancelled), that error is thrown and the document is
    /// not sealed; the objects already written are collected by `gc`.
    /// - Throws: as ``seal(paths:name:label:onSealed:)``; the sequence's error.
    public func seal<Chunks: AsyncSequence>(_ chunks: Chunks, name: String, label: String? = nil) async throws -> SealedDocument
    where Chunks.Element == [UInt8] {
        let channel = ChunkChannel(capacity: Self.asyncBufferBytes)
        let outcome = ThreadOutcome<SealedDocument>()
        let vault = Unchecked(self)
        Self.onThread {
            outcome.complete(Result {
                defer { channel.cancel() }
                return try vault.value.seal(source: ChannelSource(channel), name: name, label: label)
            })
        }
        do {
            for try await chunk in chunks {
                try Task.checkCancellation()
                try await channel.send(chunk)
            }
            // Some sequences (AsyncStream) end quietly when the task is cancelled: that is no end of the document.
            try Task.checkCancellation()
            channel.finish()
        } catch {
            // The seal's own error, if it stopped first (the send was cancelled), is the one thrown below.
            channel.finish(throwing: error)
        }
        return try await outcome.value()
    }

    /// A document's plaintext as an async sequence of authenticated chunks,
    /// in order, without a file: the read is recorded in the ledger before
    /// the first chunk, and a frame that does not authenticate throws where
    /// it is reached (the chunks before it were authenticated). Decryption
    /// runs on a thread of its own while the sequence is iterated; do not use
    /// this vault elsewhere until the iteration ends.
    /// - Parameters:
    ///   - query: a document id, unique id prefix or exact name (see ``resolve(_:)``).
    ///   - revision: an earlier revision (see ``history(of:)``); the current one by default.
    public func chunks(of query: String, revision: UInt32? = nil) -> DocumentChunks {
        DocumentChunks(vault: self, query: query, revision: revision)
    }
}

/// The result of a blocking operation on another thread, awaited.
final class ThreadOutcome<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var result: Result<Value, any Error>?
    private var waiting: CheckedContinuation<Value, any Error>?

    /// Records the result, resuming the task that awaits it.
    func complete(_ result: Result<Value, any Error>) {
        let waiting: CheckedContinuation<Value, any Error>? = lock.withLock {
            self.result = result
            defer { self.waiting = nil }
            return self.waiting
        }
        waiting?.resume(with: result)
    }

    /// The result, awaited until the thread records it.
    func value() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Value, any Error>? = lock.withLock {
                if result == nil { waiting = continuation }
                return result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

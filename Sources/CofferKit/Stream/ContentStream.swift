import Crypto
import Foundation

/// Seals a byte stream into segment objects and a manifest, and opens them
/// back, using several threads with a bounded number of segments in flight:
/// memory stays constant whatever the size, and every core is used.
struct ContentStream {
    /// Where objects go.
    let store: any ObjectStoring
    /// Frame layout of what is sealed: the store's ``ObjectStoring/segmentGeometry``.
    var geometry: StreamGeometry
    /// Worker threads when sealing: one per core plus two, so that
    /// cryptography goes on while workers wait for the device (segments are
    /// written with direct I/O, which blocks) or the server. Each in-flight
    /// segment costs two segment buffers, so this also bounds memory
    /// (docs/PERFORMANCE.md).
    var width: Int
    /// Told of every segment's plaintext bytes as they are sealed or opened.
    var progress: (any ProgressListener)?

    /// A stream into `store`, sealing in its geometry on `width` threads.
    init(store: any ObjectStoring, width: Int = Swift.min(16, ProcessInfo.processInfo.activeProcessorCount + 2), progress: (any ProgressListener)? = nil) {
        self.store = store
        self.geometry = store.segmentGeometry
        self.width = width
        self.progress = progress
    }

    /// Worker threads when opening: one fewer than ``width``, as decrypted
    /// segments also wait, a buffer each, for the output to take them in
    /// order; one more worker measured no faster and cost 8 MiB of memory.
    private var openingWidth: Int { Swift.max(1, width - 1) }

    /// The pool of buffers for sealed segments: page-aligned and a whole
    /// number of pages long, as direct I/O needs.
    private static func sealedPool(for cipher: SegmentCipher) -> BufferPool {
        let alignment = POSIXFile.directIOAlignment
        let size = cipher.sealedSize(plaintextCount: cipher.geometry.segmentPlaintextSize)
        return BufferPool.shared(bufferSize: (size + alignment - 1) / alignment * alignment)
    }

    /// The result of sealing one stream.
    struct Sealed {
        /// The manifest.
        let manifest: Manifest
        /// The manifest's object id.
        let manifestID: ObjectID
        /// Plaintext bytes read.
        let size: UInt64
        /// The plaintext's ``ContentDigest``; nil from ``reseal(_:from:to:generation:into:)``,
        /// whose version keeps the metadata of the one it re-encrypts.
        let contentDigest: String?
    }

    /// Reads `source` to its end and stores it encrypted under `key`, adding
    /// the segments and the manifest to `batch`: they are durable once the
    /// caller finishes the batch, which it must before committing anything
    /// that refers to them. A stream that fits in one segment is sealed on
    /// the calling thread (no worker threads for small documents).
    func seal(from source: some ByteSource, key: DataKey, documentID: DocumentID, generation: UInt32, into batch: PublishBatch) throws -> Sealed {
        let salt = Sodium.randomBytes(StreamGeometry.saltByteCount)
        let cipher = SegmentCipher(contentKey: key.contentKey, salt: salt, documentID: documentID, generation: generation, geometry: geometry)
        let segmentSize = geometry.segmentPlaintextSize
        let plaintextPool = BufferPool.shared(bufferSize: segmentSize)
        let sealedPool = Self.sealedPool(for: cipher)
        let reader = SegmentReader(source: source, segmentSize: segmentSize, pool: plaintextPool)
        let store = self.store
        var segments: [ObjectID] = []
        var total: UInt64 = 0
        // `reader` is never empty: an empty stream is one empty last segment.
        let first = try reader.next()!
        // The segments of a big stream go around the page cache; a
        // document of one segment goes through it, so that sealing many
        // small documents never waits for the device one write at a time.
        let bypassingCache = !first.isLast
        var digest = ContentDigest(segmentSize: segmentSize)
        let pieceSize = digest.pieceSize
        let process = { (job: SegmentReader.Job) -> (StagedObject, Int, [SHA256.Digest]) in
            defer { plaintextPool.give(job.buffer, used: job.count) }
            let sealed = sealedPool.take()
            defer { sealedPool.give(sealed, used: 0) }
            let size = cipher.sealedSize(plaintextCount: job.count)
            let output = UnsafeMutableRawBufferPointer(rebasing: sealed.bytes[0..<size])
            let plaintext = UnsafeRawBufferPointer(rebasing: job.buffer.bytes[0..<job.count])
            cipher.seal(plaintext, index: job.index, isLast: job.isLast, into: output)
            let segmentDigests = ContentDigest.pieces(of: plaintext, pieceSize: pieceSize)
            return (try store.stage(UnsafeRawBufferPointer(output), bypassingCache: bypassingCache), job.count, segmentDigests)
        }
        let progress = self.progress
        let consume = { (object: StagedObject, count: Int, segmentDigests: [SHA256.Digest]) in
            segments.append(object.id)
            total += UInt64(count)
            digest.append(segmentDigests)
            try batch.add(object)
            progress?.advance(UInt64(count))
        }
        if first.isLast {
            let (object, count, segmentDigests) = try process(first)
            try consume(object, count, segmentDigests)
        } else {
            reader.unread(first)
            try OrderedPipeline.run(
                width: width, window: 4 * width,  // results are small ids; buffers are bounded by width
                next: { try reader.next() }, process: process, consume: consume)
        }
        let manifest = Manifest(
            documentID: documentID, generation: generation, geometry: geometry, salt: salt, commitment: key.commitment, segments: segments)
        let manifestID = try manifest.encoded().withUnsafeBytes { try batch.add($0) }
        return Sealed(manifest: manifest, manifestID: manifestID, size: total, contentDigest: digest.finalized())
    }

    /// The ``ContentDigest`` of everything `source` holds from where it
    /// stands, as ``seal(from:key:documentID:generation:into:)`` would record
    /// it, without sealing anything: segments are hashed on ``width`` threads.
    func contentDigest(of source: some ByteSource) throws -> String {
        let segmentSize = geometry.segmentPlaintextSize
        let pool = BufferPool.shared(bufferSize: segmentSize)
        let reader = SegmentReader(source: source, segmentSize: segmentSize, pool: pool)
        var digest = ContentDigest(segmentSize: segmentSize)
        let pieceSize = digest.pieceSize
        let hash = { (job: SegmentReader.Job) -> [SHA256.Digest] in
            defer { pool.give(job.buffer, used: job.count) }
            return ContentDigest.pieces(of: UnsafeRawBufferPointer(rebasing: job.buffer.bytes[0..<job.count]), pieceSize: pieceSize)
        }
        let first = try reader.next()!
        if first.isLast {
            digest.append(hash(first))  // one segment: no threads
        } else {
            reader.unread(first)
            try OrderedPipeline.run(width: width, window: width, next: { try reader.next() }, process: hash, consume: { digest.append($0) })
        }
        return digest.finalized()
    }

    /// Decrypts the stream described by `manifest` and passes authenticated
    /// plaintext to `sink` in order. The key commitment is checked before
    /// any plaintext is produced. If a segment fails, everything before it has
    /// been passed to `sink` and the error is thrown.
    func open(_ manifest: Manifest, key: DataKey, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> UInt64 {
        try open(manifest, key: key, placingIn: nil, sink: sink)
    }

    /// Decrypts the stream described by `manifest`: with `file`, each
    /// segment is written at its offset in it by the worker that opened it,
    /// so writes overlap with each other and with decryption (only
    /// authenticated plaintext is written, but when a segment fails, later
    /// segments may have been written too: the caller discards the file);
    /// without, as ``open(_:key:sink:)``.
    func open(
        _ manifest: Manifest, key: DataKey, placingIn file: CacheBypassingWriter?, sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws -> UInt64 {
        let cipher = try Self.cipher(opening: manifest, with: key)
        let segmentSize = manifest.geometry.segmentPlaintextSize
        let pool = BufferPool.shared(bufferSize: segmentSize)
        let sealedPool = Self.sealedPool(for: cipher)
        let counter = IndexCounter(limit: manifest.segments.count)
        var total: UInt64 = 0
        try OrderedPipeline.run(
            width: openingWidth, window: openingWidth,
            next: { counter.next() },
            process: { index -> (PlaintextBuffer?, Int) in
                let sealed = sealedPool.take()
                defer { sealedPool.give(sealed, used: 0) }  // ciphertext: nothing to wipe
                let buffer = pool.take()
                let count: Int
                do {
                    count = try openSegment(index, of: manifest, cipher: cipher, via: sealed, into: buffer)
                } catch {
                    pool.give(buffer, used: buffer.bytes.count)
                    throw error
                }
                guard let file else { return (buffer, count) }
                // Every segment but the last is full (the cipher checks), so this one starts at index × segment size.
                defer { pool.give(buffer, used: count) }
                try file.write(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]), at: index * segmentSize)
                return (nil, count)
            },
            consume: { buffer, count in
                if let buffer {
                    defer { pool.give(buffer, used: count) }
                    try sink(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
                }
                total += UInt64(count)
                progress?.advance(UInt64(count))
            })
        return total
    }

    /// The cipher of the stream `manifest` describes, once `key` matches
    /// its key commitment (checked before any plaintext is produced).
    /// - Throws: ``VaultError/integrity(_:)`` for another key.
    private static func cipher(opening manifest: Manifest, with key: DataKey) throws -> SegmentCipher {
        guard Sodium.constantTimeEqual(key.commitment, manifest.commitment) else {
            throw VaultError.integrity("document \(manifest.documentID): the data key does not match the manifest's key commitment")
        }
        return SegmentCipher(
            contentKey: key.contentKey, salt: manifest.salt, documentID: manifest.documentID, generation: manifest.generation,
            geometry: manifest.geometry)
    }

    /// Reads segment `index` of `manifest` into `sealed` (around the page
    /// cache for a stream of several segments) and opens it with `cipher`
    /// into `plaintext`; returns the plaintext length. Only authenticated
    /// frames reach `plaintext`.
    /// - Throws: ``VaultError/integrity(_:)`` for a segment that does not
    ///   parse or authenticate; ``ObjectStoreError`` for one missing or too large.
    private func openSegment(
        _ index: Int, of manifest: Manifest, cipher: SegmentCipher, via sealed: PlaintextBuffer, into plaintext: PlaintextBuffer
    ) throws -> Int {
        let segments = manifest.segments
        let count = try store.read(segments[index], into: sealed.bytes, bypassingCache: segments.count > 1)
        do {
            return try cipher.open(
                UnsafeRawBufferPointer(rebasing: sealed.bytes[0..<count]), index: index, isLast: index == segments.count - 1,
                into: plaintext.bytes)
        } catch let error where error is CryptoError || error is FormatError {
            throw VaultError.integrity("segment \(index) of document \(manifest.documentID) (object \(segments[index])): \(error)")
        }
    }
}

/// Cuts a sequential input into segments, looking one byte ahead so that the
/// last segment is known when it is read (its last frame carries the final flag).
private final class SegmentReader: @unchecked Sendable {
    struct Job {
        let index: Int
        let buffer: PlaintextBuffer
        let count: Int
        let isLast: Bool
    }

    private let source: any ByteSource
    private let segmentSize: Int
    private let pool: BufferPool
    private var index = 0
    private var carry: UInt8?
    private var ended = false
    private var unreadJob: Job?

    init(source: any ByteSource, segmentSize: Int, pool: BufferPool) {
        self.source = source
        self.segmentSize = segmentSize
        self.pool = pool
    }

    /// Hands `job` (the last one read) out again on the next call.
    func unread(_ job: Job) {
        unreadJob = job
    }

    /// Called by the pipeline under its lock.
    func next() throws -> Job? {
        if let job = unreadJob {
            unreadJob = nil
            return job
        }
        guard !ended else { return nil }
        let buffer = pool.take()
        var count = 0
        if let byte = carry {
            buffer.bytes[0] = byte
            count = 1
            carry = nil
        }
        count += try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer.bytes[count..<segmentSize]))
        var isLast = count < segmentSize
        if !isLast {
            var byte: UInt8 = 0
            let n = try withUnsafeMutableBytes(of: &byte) { try source.read(into: $0) }
            if n == 0 { isLast = true } else { carry = byte }
        }
        ended = isLast
        defer { index += 1 }
        return Job(index: index, buffer: buffer, count: count, isLast: isLast)
    }
}

/// Hands out 0, 1, 2, … up to a limit (called under the pipeline's lock).
private final class IndexCounter: @unchecked Sendable {
    private var value = 0
    private let limit: Int
    init(limit: Int) { self.limit = limit }
    func next() -> Int? {
        guard value < limit else { return nil }
        defer { value += 1 }
        return value
    }
}

extension ContentStream {
    /// Re-encrypts the stream described by `manifest` under a new data key as
    /// generation `generation`: each segment is opened with `oldKey` and
    /// sealed again with `newKey` at the same index, on several threads;
    /// plaintext exists only in memory. The new objects go into `batch`.
    func reseal(_ manifest: Manifest, from oldKey: DataKey, to newKey: DataKey, generation: UInt32, into batch: PublishBatch) throws -> Sealed {
        let oldCipher = try Self.cipher(opening: manifest, with: oldKey)
        let geometry = manifest.geometry
        let salt = Sodium.randomBytes(StreamGeometry.saltByteCount)
        let newCipher = SegmentCipher(contentKey: newKey.contentKey, salt: salt, documentID: manifest.documentID, generation: generation, geometry: geometry)
        let plaintextPool = BufferPool.shared(bufferSize: geometry.segmentPlaintextSize)
        let sealedPool = Self.sealedPool(for: newCipher)
        let segments = manifest.segments
        let store = self.store
        let counter = IndexCounter(limit: segments.count)
        var ids: [ObjectID] = []
        var total: UInt64 = 0
        try OrderedPipeline.run(
            width: segments.count == 1 ? 1 : width, window: 4 * width,
            next: { counter.next() },
            process: { index -> (StagedObject, Int) in
                let isLast = index == segments.count - 1
                let sealed = sealedPool.take()
                defer { sealedPool.give(sealed, used: 0) }
                let plaintext = plaintextPool.take()
                var count = plaintext.bytes.count  // wiped whole if the segment fails (earlier frames may have opened)
                defer { plaintextPool.give(plaintext, used: count) }
                count = try openSegment(index, of: manifest, cipher: oldCipher, via: sealed, into: plaintext)
                let output = UnsafeMutableRawBufferPointer(rebasing: sealed.bytes[0..<newCipher.sealedSize(plaintextCount: count)])
                newCipher.seal(UnsafeRawBufferPointer(rebasing: plaintext.bytes[0..<count]), index: index, isLast: isLast, into: output)
                return (try store.stage(UnsafeRawBufferPointer(output), bypassingCache: segments.count > 1), count)
            },
            consume: { object, count in
                ids.append(object.id)
                total += UInt64(count)
                try batch.add(object)
            })
        let resealed = Manifest(
            documentID: manifest.documentID, generation: generation, geometry: geometry, salt: salt, commitment: newKey.commitment, segments: ids)
        let manifestID = try resealed.encoded().withUnsafeBytes { try batch.add($0) }
        return Sealed(manifest: resealed, manifestID: manifestID, size: total, contentDigest: nil)
    }
}

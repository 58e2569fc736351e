import Foundation

/// Seals a byte stream into segment objects and a manifest, and opens them
/// back, using several threads with a bounded number of segments in flight:
/// memory stays constant whatever the size, and every core is used.
struct ContentStream {
    /// Where objects go.
    let store: ObjectStore
    /// Frame layout.
    var geometry = StreamGeometry.standard
    /// Worker threads: one per core plus one, so that encryption continues
    /// while a worker waits in fsync or a read. Each in-flight segment costs
    /// two 4 MiB buffers, so this also bounds memory (docs/PERFORMANCE.md).
    var width = Swift.min(16, ProcessInfo.processInfo.activeProcessorCount + 1)

    /// The result of sealing one stream.
    struct Sealed {
        /// The manifest.
        let manifest: Manifest
        /// The manifest's object id.
        let manifestID: ObjectID
        /// Plaintext bytes read.
        let size: UInt64
    }

    /// Segment objects written before they are made durable together with
    /// one `syncfs` and renamed into place (512 MiB at the standard
    /// geometry; also bounds the open descriptors).
    static let stagedObjects = 128

    /// Reads `source` to its end and stores it encrypted under `key`.
    /// All objects are durable (file and directory fsynced) when this returns.
    func seal(from source: POSIXFile, key: DataKey, documentID: DocumentID, generation: UInt32) throws -> Sealed {
        let salt = Sodium.randomBytes(StreamGeometry.saltByteCount)
        let cipher = SegmentCipher(contentKey: key.contentKey, salt: salt, documentID: documentID, generation: generation, geometry: geometry)
        let segmentSize = geometry.segmentPlaintextSize
        let plaintextPool = BufferPool(bufferSize: segmentSize)
        let sealedPool = BufferPool(bufferSize: cipher.sealedSize(plaintextCount: segmentSize))
        let reader = SegmentReader(source: source, segmentSize: segmentSize, pool: plaintextPool)
        let store = self.store
        var segments: [ObjectID] = []
        var total: UInt64 = 0
        // Objects written but not yet durable: their writeback runs in the
        // background while later segments are encrypted; every
        // `Self.stagedObjects` they are synced together and published.
        var staged: [ObjectStore.StagedObject] = []
        try OrderedPipeline.run(
            width: width, window: 4 * width,  // results are small ids; buffers are bounded by width
            next: { try reader.next() },
            process: { job -> (ObjectStore.StagedObject, Int) in
                defer { plaintextPool.give(job.buffer, used: job.count) }
                let sealed = sealedPool.take()
                defer { sealedPool.give(sealed, used: 0) }
                let size = cipher.sealedSize(plaintextCount: job.count)
                let output = UnsafeMutableRawBufferPointer(rebasing: sealed.bytes[0..<size])
                cipher.seal(UnsafeRawBufferPointer(rebasing: job.buffer.bytes[0..<job.count]), index: job.index, isLast: job.isLast, into: output)
                return (try store.stage(UnsafeRawBufferPointer(output)), job.count)
            },
            consume: { object, count in
                segments.append(object.id)
                total += UInt64(count)
                staged.append(object)
                if staged.count >= Self.stagedObjects {
                    try store.publish(staged)
                    staged.removeAll()
                }
            })
        try store.publish(staged)
        try store.syncDirectories(of: segments)
        let manifest = Manifest(
            documentID: documentID, generation: generation, geometry: geometry, salt: salt, commitment: key.commitment, segments: segments)
        let manifestID = try store.put(manifest.encoded())
        return Sealed(manifest: manifest, manifestID: manifestID, size: total)
    }

    /// Decrypts the stream described by `manifest` and passes authenticated
    /// plaintext to `sink` in order. The key commitment is checked before
    /// any plaintext is produced. If a segment fails, everything before it has
    /// been passed to `sink` and the error is thrown.
    func open(_ manifest: Manifest, key: DataKey, sink: (UnsafeRawBufferPointer) throws -> Void) throws -> UInt64 {
        guard Sodium.constantTimeEqual(key.commitment, manifest.commitment) else {
            throw VaultError.integrity("document \(manifest.documentID): the data key does not match the manifest's key commitment")
        }
        let cipher = SegmentCipher(
            contentKey: key.contentKey, salt: manifest.salt, documentID: manifest.documentID, generation: manifest.generation,
            geometry: manifest.geometry)
        let pool = BufferPool(bufferSize: manifest.geometry.segmentPlaintextSize)
        let segments = manifest.segments
        let store = self.store
        let counter = IndexCounter(limit: segments.count)
        var total: UInt64 = 0
        try OrderedPipeline.run(
            width: width, window: width,
            next: { counter.next() },
            process: { index -> (PlaintextBuffer, Int) in
                let sealed = try store.read(segments[index])
                let buffer = pool.take()
                do {
                    let count = try sealed.withUnsafeBytes {
                        try cipher.open($0, index: index, isLast: index == segments.count - 1, into: buffer.bytes)
                    }
                    return (buffer, count)
                } catch let error as CryptoError {
                    pool.give(buffer, used: buffer.bytes.count)
                    throw VaultError.integrity("segment \(index) of document \(manifest.documentID) (object \(segments[index])): \(error)")
                } catch let error as FormatError {
                    pool.give(buffer, used: buffer.bytes.count)
                    throw VaultError.integrity("segment \(index) of document \(manifest.documentID) (object \(segments[index])): \(error)")
                }
            },
            consume: { buffer, count in
                defer { pool.give(buffer, used: count) }
                try sink(UnsafeRawBufferPointer(rebasing: buffer.bytes[0..<count]))
                total += UInt64(count)
            })
        return total
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

    private let source: POSIXFile
    private let segmentSize: Int
    private let pool: BufferPool
    private var index = 0
    private var carry: UInt8?
    private var ended = false

    init(source: POSIXFile, segmentSize: Int, pool: BufferPool) {
        self.source = source
        self.segmentSize = segmentSize
        self.pool = pool
    }

    /// Called by the pipeline under its lock.
    func next() throws -> Job? {
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

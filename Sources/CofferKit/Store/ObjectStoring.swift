import Foundation

/// Where a vault's objects are kept: a directory on this machine
/// (``ObjectStore``) or an S3-compatible bucket shared by many clients
/// (``S3ObjectStore``). Either way the store is content-addressed (an
/// object is kept under the hash of its bytes and never changed) and
/// untrusted: what a reader is given is authenticated by the reader.
///
/// Writing goes in two steps so that a local store can overlap its disk
/// writes with encryption: ``stage(_:bypassingCache:)`` hands the bytes
/// over, ``publish(_:)`` and ``syncDirectories(withPrefixes:)`` (driven by
/// ``PublishBatch``) make them durable and visible. Nothing may refer to an
/// object before its batch is finished. Safe to use from many threads at once.
protocol ObjectStoring: Sendable {
    /// How new documents are cut into segment objects in this store.
    var segmentGeometry: StreamGeometry { get }

    /// Hands `bytes` over to be stored under their id (nothing is written
    /// when the store holds the object already).
    /// - Parameter bypassingCache: a hint for a local store (the segments of a
    ///   big stream, written once, go around the page cache).
    func stage(_ bytes: UnsafeRawBufferPointer, bypassingCache: Bool) throws -> StagedObject

    /// ``stage(_:bypassingCache:)`` of bytes the caller has just checked to
    /// hash to `id` (a copy from another store), without hashing them again.
    func stage(_ bytes: UnsafeRawBufferPointer, checkedAs id: ObjectID) throws -> StagedObject

    /// Makes staged objects durable and visible (their directories, if the
    /// store has any, are left to ``syncDirectories(withPrefixes:)``).
    func publish(_ staged: [StagedObject]) throws

    /// Makes the names of objects published under these leading bytes durable.
    func syncDirectories(withPrefixes prefixes: Set<UInt8>) throws

    /// A whole object, its size bounded by ``ObjectStore/maximumObjectSize``.
    /// Whether its hash is checked is the store's choice; callers
    /// authenticate what they read (cryptographically, or by ``ObjectID/names(_:)``).
    /// - Throws: ``ObjectStoreError/missing(_:)``, ``ObjectStoreError/oversized(_:_:)``.
    func read(_ id: ObjectID) throws -> [UInt8]

    /// Reads a whole object into `buffer` (page-aligned, for direct I/O); returns its size.
    /// - Throws: ``ObjectStoreError/missing(_:)``, or
    ///   ``ObjectStoreError/oversized(_:_:)`` for an object larger than `buffer`.
    func read(_ id: ObjectID, into buffer: UnsafeMutableRawBufferPointer, bypassingCache: Bool) throws -> Int

    /// Whether the store holds `id` (its content is not checked).
    func contains(_ id: ObjectID) throws -> Bool

    /// A whole object, checked against its name (for copies that must not
    /// carry damage along: backups, restores, `vault copy`).
    /// - Throws: ``ObjectStoreError`` if it is missing, oversized or corrupt.
    func readChecked(_ id: ObjectID) throws -> [UInt8]
}

extension ObjectStoring {
    /// ``read(_:)``, then the bytes hashed and compared with the name.
    func readChecked(_ id: ObjectID) throws -> [UInt8] {
        let bytes = try read(id)
        guard id.names(bytes) else { throw ObjectStoreError.corrupt(id) }
        return bytes
    }

    /// Copies `ids` from `source` into this store, durably: each is read and
    /// checked against its name on every core, then staged and published
    /// in ``PublishBatch``es. Returns the bytes copied.
    /// - Throws: ``ObjectStoreError`` for an object missing from or damaged
    ///   in `source`. Nothing after it is published; objects before it may
    ///   be, which is harmless in a content-addressed store.
    func copy(_ ids: [ObjectID], from source: any ObjectStoring, progress: (any ProgressListener)? = nil) throws -> UInt64 {
        let batch = PublishBatch(store: self)
        let bytes = try copy(ids, from: source, into: batch, progress: progress)
        try batch.finish()
        return bytes
    }

    /// ``copy(_:from:progress:)`` into a batch of this store that the caller
    /// finishes (one for many calls: fewer `syncfs`).
    func copy(_ ids: [ObjectID], from source: any ObjectStoring, into batch: PublishBatch, progress: (any ProgressListener)? = nil) throws -> UInt64 {
        var remaining = ids.makeIterator()
        var bytes: UInt64 = 0
        try OrderedPipeline.run(
            width: ProcessInfo.processInfo.activeProcessorCount, window: 8,
            next: { remaining.next() },
            process: { id in (id, try source.readChecked(id)) },
            consume: { id, content in
                try batch.add(try content.withUnsafeBytes { try self.stage($0, checkedAs: id) })
                bytes += UInt64(content.count)
                progress?.advance(UInt64(content.count))
            })
        return bytes
    }
}

/// An object handed to a store (``ObjectStoring/stage(_:bypassingCache:)``):
/// for a local store, written under a temporary name with its writeback
/// started, neither durable nor visible until published (releasing it
/// unpublished removes the file); for a bucket, already stored.
struct StagedObject {
    /// The object's id.
    let id: ObjectID
    /// The temporary file, or nil if nothing is left to publish.
    let file: AtomicFile?
    /// Bytes waiting to be made durable (0 if none).
    let byteCount: Int

    /// An object that needs no publishing: the store held it already, or
    /// stored it durably when it was staged.
    init(stored id: ObjectID) {
        self.init(id: id, file: nil, byteCount: 0)
    }

    /// An object written to `file`, waiting to be published.
    init(id: ObjectID, file: AtomicFile?, byteCount: Int) {
        self.id = id
        self.file = file
        self.byteCount = byteCount
    }
}

/// A store whose contents can be walked and pruned: what `gc` needs on top
/// of ``ObjectStoring``. Walking is only ever used to find what to delete;
/// no check of correctness depends on it.
protocol SweepableObjectStore: ObjectStoring {
    /// Walks what the store holds in the order of the objects' first byte,
    /// calling `body` once for each of the 256 leading bytes (`00` to `ff`)
    /// with the entries under it: memory holds a 256th of the store.
    /// Names Coffer did not write are left out.
    func forEachFanOut(_ body: (_ leadingByte: UInt8, _ entries: [StoredEntry]) throws -> Void) throws

    /// Deletes the entries with these ``StoredEntry/name``s.
    func remove(_ names: [String]) throws
}

/// One thing a ``SweepableObjectStore`` holds.
struct StoredEntry {
    /// What ``SweepableObjectStore/remove(_:)`` takes: a local store's path
    /// relative to its root, a bucket's key below the prefix.
    let name: String
    /// The object's id; nil for a temporary file an interrupted local writer left.
    let id: ObjectID?
    /// Its size in bytes.
    let size: UInt64
    /// When it was last written, in seconds since 1970.
    let modified: TimeInterval
}

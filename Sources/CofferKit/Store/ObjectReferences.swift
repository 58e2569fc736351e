import Foundation

/// The objects something references (the current versions of a vault's
/// documents), each with a description of what references it: beyond 8 MiB
/// of records, kept in private temporary files instead of memory (one per
/// fan-out directory, appended to), and read back one fan-out directory at a time
/// (``ObjectStore/forEachFanOut(_:)``): a check of a million documents'
/// objects against the store holds a 256th of them.
///
/// Object ids are public (they name the vault's files); no key or
/// plaintext goes into the files. They are removed when the set is released.
final class ObjectReferences {
    /// The private directory holding the files, removed on release (or by
    /// the next set any process makes, if this process is killed).
    private let scratch: StagingDirectory
    /// Its path.
    var directory: String { scratch.path }
    /// Records not yet appended to their fan-out's file, by leading byte.
    private var pending = [[UInt8]](repeating: [], count: 256)
    private var pendingBytes = 0

    /// Creates an empty set in a new private temporary directory.
    /// - Throws: ``FileError``.
    init() throws {
        scratch = try StagingDirectory.scratch(prefix: "coffer-objects-")
    }

    /// Every object the kept revisions of `documents` use: what a vault
    /// must keep, back up, restore and copy (a re-keyed generation's objects
    /// are left to `gc`). Documents are read a page at a time.
    convenience init(usedBy documents: DocumentTable) throws {
        try self.init()
        try insert(objectsOf: documents, referencedBy: { _, _ in "" })
    }

    /// Adds every object the kept revisions of `documents` use, each referenced by what `referrer` names.
    func insert(objectsOf documents: DocumentTable, referencedBy referrer: (VaultState.Document, VaultState.Version) -> String) throws {
        for document in documents {
            for version in document.revisions {
                let name = referrer(document, version)
                for id in [version.manifest] + version.segments { try insert(id, referencedBy: name) }
            }
        }
    }

    /// Adds `id`, referenced by `referrer` (kept for the first referrer only).
    func insert(_ id: ObjectID, referencedBy referrer: String) throws {
        let record = Self.record(id, referencedBy: referrer)
        pending[Int(id.leadingByte)] += record
        pendingBytes += record.count
        if pendingBytes >= Self.pendingLimit { try flush() }
    }

    /// One record as the files hold it: the hash function's code, the 32
    /// bytes of the id, the referrer's length (u16, big-endian, at most
    /// 65,535 bytes of it kept) and the referrer in UTF-8.
    static func record(_ id: ObjectID, referencedBy referrer: String) -> [UInt8] {
        let name = Array(referrer.utf8.prefix(Int(UInt16.max)))
        var record = ByteWriter()
        record.write(id.hash.rawValue)
        record.write(id.bytes)
        record.write(UInt16(name.count))
        record.write(name)
        return record.bytes
    }

    /// Parses records (``record(_:referencedBy:)``) to their end, keeping
    /// each id's first referrer.
    /// - Throws: ``FormatError`` for a cut record or an unknown hash function.
    static func parse(_ records: [UInt8]) throws -> [ObjectID: String] {
        var reader = ByteReader(records, what: "object references")
        var found: [ObjectID: String] = [:]
        while reader.remaining > 0 {
            guard let hash = ObjectHash(rawValue: try reader.readUInt8()) else { throw FormatError.malformed("object references", "unknown hash function") }
            let id = try ObjectID(bytes: try reader.read(ObjectID.byteCount), hash: hash)
            let referrer = String(decoding: try reader.read(Int(try reader.readUInt16())), as: UTF8.self)
            if found[id] == nil { found[id] = referrer }
        }
        return found
    }

    /// The objects whose ids start with `leadingByte` (with the hash
    /// function their referrer names them by), with their first referrers.
    /// - Throws: ``FileError``; ``FormatError`` for a file this set did not write.
    func inFanOut(_ leadingByte: UInt8) throws -> [ObjectID: String] {
        // What was appended to the file first, then what is still held.
        let path = file(leadingByte)
        let appended = FileSystem.exists(path) ? try FileSystem.readSmallFile(path, limit: 1 << 40) : []
        return try Self.parse(appended + pending[Int(leadingByte)])
    }

    /// Calls `body` with the objects of each fan-out directory that holds
    /// any, in id order, `00` to `ff`: memory holds a 256th of the set.
    func forEachFanOut(_ body: (_ ids: [ObjectID]) throws -> Void) throws {
        for leadingByte in UInt8.min...UInt8.max {
            let ids = try inFanOut(leadingByte).keys.sorted()
            if !ids.isEmpty { try body(ids) }
        }
    }

    /// Records held in memory before they are appended to their files
    /// (about 190,000 objects: a small vault's set never reaches the disk).
    private static let pendingLimit = 8 << 20

    private func file(_ leadingByte: UInt8) -> String {
        FileSystem.join(directory, Hex.encode([leadingByte]))
    }

    private func flush() throws {
        guard pendingBytes > 0 else { return }
        for leadingByte in UInt8.min...UInt8.max where !pending[Int(leadingByte)].isEmpty {
            let path = file(leadingByte)
            let file = try POSIXFile.open(path, flags: O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode: 0o600)
            try pending[Int(leadingByte)].withUnsafeBytes { try file.write($0) }
            pending[Int(leadingByte)].removeAll(keepingCapacity: true)
        }
        pendingBytes = 0
    }
}

/// What a store holds that a set of references does not name
/// (``ObjectReferences/unreferenced(in:modifiedBefore:)``): what `gc` and
/// `backup prune` delete.
struct UnreferencedEntries {
    /// The entries to delete, by ``StoredEntry/name``.
    var doomed: [String] = []
    /// Objects among them.
    var objects = 0
    /// Their bytes.
    var bytes: UInt64 = 0
    /// Temporary files among them.
    var temporaryFiles = 0
    /// Unreferenced objects modified at or after the cutoff, kept.
    var objectsKeptRecent = 0
    /// Distinct objects the references name.
    var referenced = 0
}

extension ObjectReferences {
    /// Walks `store` and these references side by side, one fan-out
    /// directory at a time (memory holds a 256th of each): every object and
    /// temporary file they do not name and that was last modified before
    /// `cutoff` is doomed; younger objects are counted and kept. Only regular
    /// files in real fan-out directories are visited: a link planted in the
    /// tree is never followed.
    func unreferenced(in store: any SweepableObjectStore, modifiedBefore cutoff: TimeInterval = .infinity) throws -> UnreferencedEntries {
        var found = UnreferencedEntries()
        try store.forEachFanOut { leadingByte, entries in
            let referenced = try inFanOut(leadingByte)
            found.referenced += referenced.count
            for entry in entries where !(entry.id.map { referenced[$0] != nil } ?? false) {
                let isObject = entry.id != nil
                if entry.modified >= cutoff {
                    if isObject { found.objectsKeptRecent += 1 }
                    continue
                }
                if isObject {
                    found.objects += 1
                    found.bytes += entry.size
                } else {
                    found.temporaryFiles += 1
                }
                found.doomed.append(entry.name)
            }
        }
        return found
    }
}

/// What ``ObjectReferences/copyMissing(from:to:progress:)`` did.
struct ObjectCopyTally: Equatable {
    /// Objects referenced.
    var objects = 0
    /// Objects the target lacked, copied.
    var copied = 0
    /// Their bytes.
    var copiedBytes: UInt64 = 0
    /// The bytes of every referenced object in the target afterwards.
    var bytes: UInt64 = 0
}

extension ObjectReferences {
    /// Copies into the local store `target` each referenced object it lacks,
    /// from `source`, checked against its name and made durable, one fan-out
    /// directory at a time. With a `progress` and a local `source`, a first
    /// pass sums the sizes to copy for the progress's total (a bucket's sizes
    /// would cost a request each: its progress shows bytes without a total).
    /// - Throws: ``ObjectStoreError`` for an object missing from or damaged in `source`.
    func copyMissing(from source: any ObjectStoring, to target: ObjectStore, progress: (any ProgressListener)?) throws -> ObjectCopyTally {
        if let progress, let local = source as? ObjectStore {
            var expected: UInt64 = 0
            try forEachFanOut { ids in
                let present = target.sizes(of: ids)
                expected += local.sizes(of: ids.filter { present[$0] == nil }).values.reduce(0) { $0 + UInt64($1) }
            }
            progress.expect(expected)
        }
        var tally = ObjectCopyTally()
        let batch = PublishBatch(store: target)
        try forEachFanOut { ids in
            let present = target.sizes(of: ids)
            let missing = ids.filter { present[$0] == nil }
            tally.objects += ids.count
            tally.bytes += present.values.reduce(0) { $0 + UInt64($1) }
            guard !missing.isEmpty else { return }
            tally.copied += missing.count
            tally.copiedBytes += try target.copy(missing, from: source, into: batch, progress: progress)
        }
        try batch.finish()
        tally.bytes += tally.copiedBytes
        return tally
    }
}

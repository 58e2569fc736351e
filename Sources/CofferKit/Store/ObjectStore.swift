#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// Failures of the object store.
public enum ObjectStoreError: CofferFailure, Equatable {
    /// A referenced object is not in the store.
    case missing(ObjectID)
    /// An object's bytes do not hash to its name.
    case corrupt(ObjectID)
    /// An object is larger than any object Coffer writes.
    case oversized(ObjectID, Int)

    public var kind: FailureKind {
        switch self {
        case .missing, .corrupt, .oversized: .integrity
        }
    }

    public var description: String {
        switch self {
        case .missing(let id): "object \(id) is missing from the vault (deleted or not restored)"
        case .corrupt(let id): "object \(id) does not match its name (changed or damaged on disk)"
        case .oversized(let id, let size): "object \(id) is \(size) bytes, more than Coffer ever writes in its place"
        }
    }
}

/// An immutable, content-addressed blob store in a directory: objects are
/// files named by their SHA-256 (BLAKE2b-256 in vaults not yet upgraded) and fanned out by the first two hex digits
/// (`objects/ab/abcd…`). Anyone can check any object against its name
/// without a key. Safe to use from many threads at once.
///
/// Everything below `root` is reached through the one descriptor opened on
/// it (`Directory`): no symbolic link is followed, in the fan-out
/// directories or the objects, and only regular files are read or deleted.
public final class ObjectStore: ObjectStoring, SweepableObjectStore {
    /// The largest object Coffer writes (a content segment of up to 16 MiB
    /// plus overhead, or a manifest); anything bigger is refused when read.
    static let maximumObjectSize = 64 << 20

    /// 4 MiB segments: two buffers of each segment in flight, written with direct I/O.
    var segmentGeometry: StreamGeometry { .standard }

    /// The `objects` directory.
    public let root: String

    /// `root`, open; nil if it could not be opened when the store was.
    private let opened: Directory?

    /// Opens (without creating) the store at `root`; `root` itself must not
    /// be a symbolic link (the components before it may be).
    init(root: String) {
        self.root = root
        opened = try? Directory.open(root, followingLink: false)
    }

    /// The open `root`.
    /// - Throws: ``UnsafeEntryError`` if it is a link or not a directory;
    ///   ``FileError`` if it cannot be opened.
    private var directory: Directory {
        get throws { try opened ?? Directory.open(root, followingLink: false) }
    }

    /// The path of an object relative to `root` (`ab/abcd…`).
    private func relativePath(of id: ObjectID) -> String {
        FileSystem.join(Hex.encode([id.leadingByte]), id.description)
    }

    /// Creates the store's directory and its 256 fan-out directories, or
    /// those of them that are missing (a creator killed halfway), durably.
    static func create(at root: String) throws -> ObjectStore {
        try FileSystem.createDirectories(root)
        for i in 0..<256 {
            try FileSystem.createDirectories(FileSystem.join(root, Hex.encode([UInt8(i)])))
        }
        for i in 0..<256 { try FileSystem.syncDirectory(FileSystem.join(root, Hex.encode([UInt8(i)]))) }
        try FileSystem.syncDirectory(root)
        return ObjectStore(root: root)
    }

    /// The fan-out directory of an object.
    func directory(of id: ObjectID) -> String {
        FileSystem.join(root, Hex.encode([id.leadingByte]))
    }

    /// The path of an object.
    public func path(of id: ObjectID) -> String {
        FileSystem.join(directory(of: id), id.description)
    }

    /// Stores `bytes` and returns their id, durably (file and directory
    /// fsynced). Writing an object that exists is a no-op.
    @discardableResult
    func put(_ bytes: [UInt8]) throws -> ObjectID {
        let batch = PublishBatch(store: self)
        let id = try bytes.withUnsafeBytes { try batch.add($0) }
        try batch.finish()
        return id
    }

    /// Writes `bytes` to a temporary file and starts its writeback without
    /// waiting: disk writes overlap with encryption instead of waiting in
    /// fsync one by one. ``PublishBatch`` makes staged objects durable and
    /// visible.
    /// - Parameter bypassingCache: write around the page cache
    ///   (``CacheBypassingWriter``), for the segments of a
    ///   big stream: no copy and no cache pages, but the write waits for the
    ///   device, so a caller writing one small object at a time leaves it off.
    func stage(_ bytes: UnsafeRawBufferPointer, bypassingCache: Bool = false) throws -> StagedObject {
        let id = ObjectID.of(bytes)
        if contains(id) { return StagedObject(stored: id) }
        return try stageNew(bytes, as: id, bypassingCache: bypassingCache)
    }

    /// Stages bytes the caller has just hashed to `id` and found absent (a
    /// concurrent writer of the same object is still handled when published).
    /// - Throws: ``UnsafeEntryError`` if the fan-out directory is a link
    ///   (the check precedes the path-based write: a link swapped in between
    ///   could only receive a correctly named copy of these bytes).
    private func stageNew(_ bytes: UnsafeRawBufferPointer, as id: ObjectID, bypassingCache: Bool = false) throws -> StagedObject {
        _ = try directory.openDirectory(Hex.encode([id.leadingByte]))
        let file = try AtomicFile(destination: path(of: id), mode: 0o444)
        if bypassingCache {
            try file.cacheBypassingWriter().write(bytes, at: 0)
        } else {
            try file.write(bytes)
        }
        try file.finishWriting()
        return StagedObject(id: id, file: file, byteCount: bytes.count)
    }

    /// ``stage(_:bypassingCache:)`` of bytes already checked to hash to `id`.
    func stage(_ bytes: UnsafeRawBufferPointer, checkedAs id: ObjectID) throws -> StagedObject {
        contains(id) ? StagedObject(stored: id) : try stageNew(bytes, as: id)
    }

    /// Makes staged objects durable with one `syncfs` instead of one fsync
    /// each, then links them into place (the same temp → durable → rename
    /// order); directories are left to the caller.
    func publish(_ staged: [StagedObject]) throws {
        guard staged.contains(where: { $0.file != nil }) else { return }
        try POSIXFile.openDirectory(root).syncFileSystem()
        for object in staged {
            guard let file = object.file else { continue }
            do {
                try file.commit(overwrite: false, syncDirectory: false, dataSynced: true)
            } catch let error as FileError where error.code == EEXIST {
                file.abandon()  // a concurrent writer stored the same bytes
            }
        }
    }

    /// Fsyncs the fan-out directories with these first bytes, once each.
    func syncDirectories(withPrefixes prefixes: Set<UInt8>) throws {
        for prefix in prefixes {
            try FileSystem.syncDirectory(FileSystem.join(root, Hex.encode([prefix])))
        }
    }

    /// Whether the object exists (as anything: a link or FIFO in its place
    /// counts, and is reported when read).
    public func contains(_ id: ObjectID) -> Bool {
        guard let fanOut = try? directory.openDirectory(Hex.encode([id.leadingByte])) else { return false }
        return fanOut.status(of: id.description) != nil
    }

    /// The size of each of `ids` that the store holds; absent ones are left
    /// out. One `fstatat` per object, relative to its fan-out directory
    /// (opened once per directory), so a store of many objects is surveyed
    /// without a path lookup from the root for each.
    func sizes(of ids: some Sequence<ObjectID>) -> [ObjectID: Int] {
        var sizes: [ObjectID: Int] = [:]
        sizes.reserveCapacity(ids.underestimatedCount)
        var byDirectory: [UInt8: [ObjectID]] = [:]
        for id in ids { byDirectory[id.leadingByte, default: []].append(id) }
        for (prefix, members) in byDirectory {
            // No such fan-out directory (or a link in its place): none of them is here.
            guard let fanOut = try? directory.openDirectory(Hex.encode([prefix])) else { continue }
            for id in members {
                var st = stat()
                if id.withFileName({ fstatat(fanOut.descriptor, $0, &st, AT_SYMLINK_NOFOLLOW) }) == 0, (st.st_mode & S_IFMT) == S_IFREG {
                    sizes[id] = Int(st.st_size)
                }
            }
        }
        return sizes
    }

    /// Reads a whole object, checking its size bound but not its hash (the
    /// caller authenticates the content cryptographically, or calls
    /// ``check(_:)``).
    /// - Throws: ``ObjectStoreError/missing(_:)`` or ``ObjectStoreError/oversized(_:_:)``.
    func read(_ id: ObjectID) throws -> [UInt8] {
        let file = try openObject(id)
        let size = Int(try file.status().st_size)
        guard size <= Self.maximumObjectSize else { throw ObjectStoreError.oversized(id, size) }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try bytes.withUnsafeMutableBytes { try file.read(into: $0) }
        if count < size { bytes.removeLast(size - count) }
        return bytes
    }

    /// Reads a whole object into `buffer`; returns its size. Like
    /// ``read(_:)``, it does not check the hash.
    /// - Parameters:
    ///   - buffer: page-aligned, its count a multiple of
    ///     ``POSIXFile/directIOAlignment``, for direct I/O.
    ///   - bypassingCache: read around the page cache where the file system
    ///     allows it (``POSIXFile/readBypassingCache(into:)``), for the
    ///     segments of a big stream, read once.
    /// - Throws: ``ObjectStoreError/missing(_:)``, or
    ///   ``ObjectStoreError/oversized(_:_:)`` for an object larger than `buffer`.
    func read(_ id: ObjectID, into buffer: UnsafeMutableRawBufferPointer, bypassingCache: Bool) throws -> Int {
        let file = try openObject(id)
        let size = Int(try file.status().st_size)
        guard size <= buffer.count else { throw ObjectStoreError.oversized(id, size) }
        return bypassingCache ? try file.readBypassingCache(into: buffer) : try file.read(into: buffer)
    }

    /// Opens an object for reading: below the store's descriptor, through
    /// no link, and only if it is a regular file (a FIFO cannot block it).
    /// - Throws: ``ObjectStoreError/missing(_:)``; ``UnsafeEntryError`` for
    ///   a link, FIFO, device or directory in its place.
    private func openObject(_ id: ObjectID) throws -> POSIXFile {
        do {
            return try directory.openRegularFile(relativePath(of: id))
        } catch let error as FileError where error.kind == .notFound {
            throw ObjectStoreError.missing(id)
        }
    }

    /// Re-hashes an object and compares it with its name.
    /// - Throws: ``ObjectStoreError`` if it is missing, oversized or corrupt.
    public func check(_ id: ObjectID) throws {
        _ = try readChecked(id)
    }

    /// Every object id present, in no particular order. Stray temporary files
    /// and foreign names are skipped.
    public func allObjectIDs() throws -> [ObjectID] {
        try contents().objects
    }

    /// One walk of the fan-out directories: the object ids present, and the
    /// paths of the temporary files interrupted writers left (only names
    /// Coffer writes, `.coffer-…`). Foreign names are skipped.
    func contents() throws -> (objects: [ObjectID], temporaryFiles: [String]) {
        var ids: [ObjectID] = []
        var temporaryFiles: [String] = []
        try forEachEntry { entry in
            if let id = entry.id { ids.append(id) } else { temporaryFiles.append(entry.name) }
        }
        return (ids, temporaryFiles)
    }

    /// Walks the fan-out directories once, calling `body` with the path
    /// relative to `root` (for ``remove(_:)``) and status of every object
    /// (and its id) and of every temporary file an interrupted writer left
    /// (id nil). Only regular files in real fan-out directories are
    /// visited: a link, FIFO, device or directory in the place of either is
    /// skipped, as are foreign names. Coffer never touches what it did not
    /// write (`coffer verify` reports what is not a regular file or directory).
    func forEachEntry(_ body: (StoredEntry) throws -> Void) throws {
        let root = try directory
        for (fan, kind) in try root.entries() where fan.utf8.count == 2 && kind == .directory {
            for entry in try entries(ofFanOut: fan, in: root) { try body(entry) }
        }
    }

    /// Walks the 256 fan-out directories in order (`00` to `ff`), calling
    /// `body` with each one's leading byte and entries, as
    /// ``forEachEntry(_:)`` finds them: memory holds one directory, a
    /// 256th of the store, and the ids come in the order of their first byte.
    /// A fan-out directory that is missing, or not a real directory, has no
    /// entries; so has every one when the store's own directory is missing
    /// or not a real directory (`coffer verify` reports that as a `tree` finding).
    /// An entry's ``StoredEntry/name`` is its path relative to the store's
    /// root, and its id is nil for a temporary file an interrupted writer left.
    func forEachFanOut(_ body: (_ leadingByte: UInt8, _ entries: [StoredEntry]) throws -> Void) throws {
        let root = try? directory
        for leadingByte in UInt8.min...UInt8.max {
            try body(leadingByte, try root.map { try entries(ofFanOut: Hex.encode([leadingByte]), in: $0) } ?? [])
        }
    }

    /// The objects and Coffer's temporary files in the fan-out directory `fan`.
    private func entries(ofFanOut fan: String, in root: Directory) throws -> [StoredEntry] {
        guard let fanOut = try? root.openDirectory(fan) else { return [] }  // missing, or swapped for a link since it was listed
        var found: [StoredEntry] = []
        for (name, kind) in try fanOut.entries() where kind == .regular {
            let id = name.hasPrefix(fan) ? try? ObjectID(hex: name, hash: .current) : nil
            guard id != nil || name.hasPrefix(".coffer-"), let status = fanOut.status(of: name) else { continue }
            found.append(StoredEntry(
                name: FileSystem.join(fan, name), id: id, size: UInt64(status.st_size),
                modified: Double(status.st_mtim.tv_sec) + Double(status.st_mtim.tv_nsec) / 1e9))
        }
        return found
    }

    /// Deletes the entries at `relativePaths` (as ``forEachEntry(_:)``
    /// gives them) with `unlinkat` on their fan-out directory, opened below
    /// the store's descriptor through no link, then fsyncs each directory.
    /// A link put in a fan-out directory's place since the walk is refused,
    /// not followed: nothing outside the store is ever deleted.
    /// - Throws: ``UnsafeEntryError``; ``FileError``.
    func remove(_ relativePaths: [String]) throws {
        let root = try directory
        var byFanOut: [String: [String]] = [:]
        for path in relativePaths { byFanOut[FileSystem.directoryName(of: path), default: []].append(FileSystem.baseName(of: path)) }
        for (fan, names) in byFanOut.sorted(by: { $0.key < $1.key }) {
            let fanOut = try root.openDirectory(fan)
            for name in names { try fanOut.remove(name) }
            try fanOut.sync()
        }
    }
}

/// Objects being written for one commit: staged as they come, made durable
/// together (one `syncfs` per ``objectLimit`` objects or ``byteLimit``
/// bytes; staged files hold no descriptor), and their directories fsynced
/// once in ``finish()``. Nothing that refers to the objects may be committed
/// before `finish` returns. Used from one thread at a time.
final class PublishBatch {
    /// At most this many staged objects wait for one `syncfs`...
    static let objectLimit = 4096
    /// ...or this many bytes (128 content segments).
    static let byteLimit = 512 << 20

    private let store: any ObjectStoring
    private var staged: [StagedObject] = []
    private var stagedBytes = 0
    private var directories: Set<UInt8> = []

    /// An empty batch for `store`.
    init(store: any ObjectStoring) {
        self.store = store
    }

    /// Adds an object staged by ``ObjectStore/stage(_:)``.
    func add(_ object: StagedObject) throws {
        staged.append(object)
        stagedBytes += object.byteCount
        directories.insert(object.id.leadingByte)
        if staged.count >= Self.objectLimit || stagedBytes >= Self.byteLimit { try publishStaged() }
    }

    /// Stages `bytes` and adds them; returns their id.
    @discardableResult
    func add(_ bytes: UnsafeRawBufferPointer) throws -> ObjectID {
        let object = try store.stage(bytes, bypassingCache: false)
        try add(object)
        return object.id
    }

    /// Makes every object added so far durable and visible.
    func finish() throws {
        try publishStaged()
        try store.syncDirectories(withPrefixes: directories)
        directories.removeAll()
    }

    private func publishStaged() throws {
        try store.publish(staged)
        staged.removeAll()
        stagedBytes = 0
    }
}

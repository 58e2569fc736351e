#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// The name of a stored object: the BLAKE2b-256 of its stored (encrypted)
/// bytes, written as 64 lower-case hex digits.
public struct ObjectID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// Digest length.
    public static let byteCount = 32
    /// The 32 digest bytes.
    public let bytes: [UInt8]

    /// Wraps a digest. - Throws: ``FormatError`` if the length is wrong.
    init(bytes: [UInt8]) throws {
        guard bytes.count == Self.byteCount else { throw FormatError.malformed("object id", "must be 32 bytes") }
        self.bytes = bytes
    }

    /// Parses 64 hex digits.
    /// - Throws: ``FormatError`` if `hex` is not a well-formed object id.
    public init(hex: String) throws {
        guard hex.utf8.count == 64, hex == hex.lowercased(), let bytes = Hex.decode(hex) else {
            throw FormatError.malformed("object id", "expected 64 lower-case hex digits")
        }
        self.bytes = bytes
    }

    /// The id of `bytes`.
    static func of(_ bytes: UnsafeRawBufferPointer) -> ObjectID {
        ObjectID(unchecked: Blake2b.hash(bytes))
    }

    private init(unchecked bytes: [UInt8]) { self.bytes = bytes }

    /// 64 hex digits.
    public var description: String { Hex.encode(bytes) }

    public static func < (a: ObjectID, b: ObjectID) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}

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
        case .oversized(let id, let size): "object \(id) is \(size) bytes, larger than Coffer ever writes"
        }
    }
}

/// An immutable, content-addressed blob store in a directory: objects are
/// files named by their BLAKE2b-256 and fanned out by the first two hex digits
/// (`objects/ab/abcd…`). Anyone can check any object against its name
/// without a key. Safe to use from many threads at once.
public final class ObjectStore: Sendable {
    /// The largest object Coffer writes (a content segment of 4 MiB plus
    /// overhead, or a manifest); anything bigger is refused when read.
    static let maximumObjectSize = 64 << 20

    /// The `objects` directory.
    public let root: String

    /// Opens (without creating) the store at `root`.
    init(root: String) {
        self.root = root
    }

    /// Creates the store's directory and its 256 fan-out directories.
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
        FileSystem.join(root, Hex.encode(id.bytes.prefix(1)))
    }

    /// The path of an object.
    public func path(of id: ObjectID) -> String {
        FileSystem.join(directory(of: id), id.description)
    }

    /// Stores `bytes` and returns their id. Writing an object that exists is
    /// a no-op. The file is fsynced before it is renamed into place.
    ///
    /// - Parameter syncDirectory: fsync the fan-out directory now. Callers
    ///   that store many objects pass false and call
    ///   ``syncDirectories(of:)`` once before committing anything that
    ///   refers to them.
    @discardableResult
    func put(_ bytes: UnsafeRawBufferPointer, syncDirectory: Bool = true) throws -> ObjectID {
        let staged = try stage(bytes)
        try publish(staged, syncDirectory: syncDirectory)
        return staged.id
    }

    /// An object written under a temporary name, its writeback started, not
    /// yet durable or visible. Releasing it unpublished removes the file.
    struct StagedObject {
        /// The object's id.
        let id: ObjectID
        /// The temporary file, or nil if the object already existed.
        fileprivate let file: AtomicFile?
    }

    /// First half of ``put(_:syncDirectory:)``: writes `bytes` to a temporary
    /// file and starts its writeback without waiting. Writers of many objects
    /// stage several before publishing the oldest, so that disk writes
    /// overlap with encryption instead of waiting in fsync one by one.
    func stage(_ bytes: UnsafeRawBufferPointer) throws -> StagedObject {
        let id = ObjectID.of(bytes)
        if FileSystem.exists(path(of: id)) { return StagedObject(id: id, file: nil) }
        let file = try AtomicFile(destination: path(of: id), mode: 0o444)
        try file.write(bytes)
        file.startWriteback()
        return StagedObject(id: id, file: file)
    }

    /// Second half of ``put(_:syncDirectory:)``: fsyncs the staged file and
    /// links it into place (temp → fsync → rename protocol).
    func publish(_ staged: StagedObject, syncDirectory: Bool) throws {
        try link(staged, dataSynced: false, syncDirectory: syncDirectory)
    }

    /// Publishes many staged objects with one `syncfs` instead of one fsync
    /// each (the same temp → durable → rename order); directories are left
    /// for ``syncDirectories(of:)``.
    func publish(_ staged: [StagedObject]) throws {
        guard staged.contains(where: { $0.file != nil }) else { return }
        try POSIXFile.openDirectory(root).syncFileSystem()
        for object in staged { try link(object, dataSynced: true, syncDirectory: false) }
    }

    private func link(_ staged: StagedObject, dataSynced: Bool, syncDirectory: Bool) throws {
        guard let file = staged.file else { return }
        do {
            try file.commit(overwrite: false, syncDirectory: syncDirectory, dataSynced: dataSynced)
        } catch let error as FileError where error.code == EEXIST {
            file.abandon()  // a concurrent writer stored the same bytes
        }
    }

    /// Stores `bytes` and returns their id (see ``put(_:syncDirectory:)``).
    @discardableResult
    func put(_ bytes: [UInt8], syncDirectory: Bool = true) throws -> ObjectID {
        try bytes.withUnsafeBytes { try put($0, syncDirectory: syncDirectory) }
    }

    /// Fsyncs the fan-out directories of `ids`, once each.
    func syncDirectories(of ids: some Sequence<ObjectID>) throws {
        for prefix in Set(ids.map { $0.bytes[0] }) {
            try FileSystem.syncDirectory(FileSystem.join(root, Hex.encode([prefix])))
        }
    }

    /// Whether the object exists.
    public func contains(_ id: ObjectID) -> Bool {
        FileSystem.exists(path(of: id))
    }

    /// Reads a whole object, checking its size bound but not its hash (the
    /// caller authenticates the content cryptographically, or calls
    /// ``check(_:)``).
    /// - Throws: ``ObjectStoreError/missing(_:)`` or ``ObjectStoreError/oversized(_:_:)``.
    func read(_ id: ObjectID) throws -> [UInt8] {
        let file: POSIXFile
        do {
            file = try POSIXFile.openForReading(path(of: id))
        } catch let error as FileError where error.kind == .notFound {
            throw ObjectStoreError.missing(id)
        }
        let size = Int(try file.status().st_size)
        guard size <= Self.maximumObjectSize else { throw ObjectStoreError.oversized(id, size) }
        var bytes = [UInt8](repeating: 0, count: size)
        let count = try bytes.withUnsafeMutableBytes { try file.read(into: $0) }
        if count < size { bytes.removeLast(size - count) }
        return bytes
    }

    /// Re-hashes an object and compares it with its name.
    /// - Throws: ``ObjectStoreError`` if it is missing, oversized or corrupt.
    public func check(_ id: ObjectID) throws {
        let bytes = try read(id)
        guard bytes.withUnsafeBytes(ObjectID.of) == id else { throw ObjectStoreError.corrupt(id) }
    }

    /// Every object id present, in no particular order. Stray temporary files
    /// and foreign names are skipped.
    public func allObjectIDs() throws -> [ObjectID] {
        var ids: [ObjectID] = []
        for fan in try FileSystem.contents(of: root) where fan.utf8.count == 2 {
            for name in try FileSystem.contents(of: FileSystem.join(root, fan)) where name.hasPrefix(fan) {
                if let id = try? ObjectID(hex: name) { ids.append(id) }
            }
        }
        return ids
    }
}

import CPlatform
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// What a directory entry is, seen without following a symbolic link.
public enum EntryKind: String, Sendable, Equatable {
    /// A regular file.
    case regular = "regular file"
    /// A directory.
    case directory
    /// A symbolic link.
    case symbolicLink = "symbolic link"
    /// A named pipe.
    case fifo = "FIFO"
    /// A Unix-domain socket.
    case socket
    /// A character device.
    case characterDevice = "character device"
    /// A block device.
    case blockDevice = "block device"

    /// The kind of a file with mode `mode` (`st_mode`).
    init(mode: mode_t) {
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symbolicLink
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        case S_IFCHR: self = .characterDevice
        default: self = .blockDevice
        }
    }
}

/// Something in a vault or backup directory where Coffer keeps only regular
/// files and directories: a symbolic link, a FIFO, a device, a socket, or a
/// directory where a file belongs. Coffer never follows, opens, reads
/// through or deletes through such an entry; someone with write access to
/// the directory put it there.
public struct UnsafeEntryError: CofferFailure, Equatable {
    /// The entry (or, for a link met while resolving a path, the path).
    public let path: String
    /// What it is.
    public let found: EntryKind
    /// What Coffer expects there.
    public let expected: EntryKind

    /// An entry at `path` that is a `found` where a `expected` belongs.
    public init(path: String, found: EntryKind, expected: EntryKind) {
        self.path = path
        self.found = found
        self.expected = expected
    }

    /// The entry an `open` of a regular file refused with `error`: a link
    /// (`ELOOP`, or `EXDEV` for a path leaving its directory) or a socket
    /// (`ENXIO`); nil for any other failure.
    init?(opening error: FileError) {
        switch error.code {
        case ELOOP, EXDEV: self.init(path: error.path, found: .symbolicLink, expected: .regular)
        case ENXIO: self.init(path: error.path, found: .socket, expected: .regular)
        default: return nil
        }
    }

    /// `.integrity` (exit 5): the directory was tampered with.
    public var kind: FailureKind { .integrity }

    /// One line naming the entry, what it is and what to do.
    public var description: String {
        let what = found == .symbolicLink ? "is, or passes through, a symbolic link" : "is a \(found.rawValue), not a \(expected.rawValue)"
        return "\(path) \(what): Coffer follows, opens and deletes nothing through it; someone with write access to the directory put it there. "
            + "Keep a copy as evidence, then remove it (`coffer verify` lists every such entry)"
    }
}

/// A directory open by descriptor. Every path below it is resolved inside
/// it without following any symbolic link (``coffer_open_beneath``:
/// `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, or one
/// `openat(O_NOFOLLOW | O_DIRECTORY)` per component where the kernel lacks
/// it), and entries are removed with `unlinkat` on this descriptor: a link
/// planted inside the tree never turns a read or a deletion elsewhere.
final class Directory: Sendable {
    /// The open directory.
    private let file: POSIXFile
    /// The descriptor.
    var descriptor: Int32 { file.descriptor }
    /// The directory's path, for messages.
    var path: String { file.path }

    private init(file: POSIXFile) {
        self.file = file
    }

    /// Opens the directory at `path`, a root such as a vault or backup
    /// directory. Links in the components before the last are followed (the
    /// user chose the path); the last is followed only if `followingLink`.
    /// - Throws: ``UnsafeEntryError`` if the last component is a link (and
    ///   `followingLink` is false) or not a directory; ``FileError``.
    static func open(_ path: String, followingLink: Bool = true) throws -> Directory {
        let flags = O_RDONLY | O_DIRECTORY | O_CLOEXEC | (followingLink ? 0 : O_NOFOLLOW)
        do {
            return Directory(file: try POSIXFile.open(path, flags: flags))
        } catch let error as FileError where error.code == ELOOP || error.code == ENOTDIR {
            throw unsafe(path, expected: .directory, code: error.code, status: { lstat(path, &$0) })
        }
    }

    /// The path of `relative` below this directory, for messages.
    func path(of relative: String) -> String { FileSystem.join(path, relative) }

    /// Opens `relative` below this directory (no link followed anywhere).
    /// - Throws: ``UnsafeEntryError`` for a link on the way (`ELOOP`, `EXDEV`)
    ///   or a socket (`ENXIO`); ``FileError`` (`ENOENT` if it does not exist).
    func openFile(_ relative: String, flags: Int32, mode: mode_t = 0) throws -> POSIXFile {
        do {
            return try POSIXFile.open(beneath: descriptor, relative, path: path(of: relative), flags: flags | O_CLOEXEC | O_NOCTTY, mode: mode)
        } catch let error as FileError {
            throw UnsafeEntryError(opening: error) ?? error
        }
    }

    /// Opens the directory `relative` below this one (no link followed).
    /// - Throws: ``UnsafeEntryError`` for a link, or for something other
    ///   than a directory; ``FileError``.
    func openDirectory(_ relative: String) throws -> Directory {
        do {
            return Directory(file: try openFile(relative, flags: O_RDONLY | O_DIRECTORY))
        } catch let error as UnsafeEntryError {
            throw UnsafeEntryError(path: error.path, found: error.found, expected: .directory)
        } catch let error as FileError where error.code == ENOTDIR {
            throw Self.unsafe(error.path, expected: .directory, code: error.code) { fstatat(descriptor, relative, &$0, AT_SYMLINK_NOFOLLOW) }
        }
    }

    /// Opens the regular file `relative` for reading without blocking on
    /// what is not one: opened with `O_NONBLOCK` (a FIFO opens at once),
    /// checked with `fstat`, then switched back to blocking reads.
    /// - Throws: ``UnsafeEntryError`` for a link on the way or anything but
    ///   a regular file (a FIFO, a device, a directory); ``FileError``.
    func openRegularFile(_ relative: String) throws -> POSIXFile {
        let file = try openFile(relative, flags: O_RDONLY | O_NONBLOCK)
        try file.requireRegularFile()
        return file
    }

    /// Reads the small regular file `relative` whole (at most `limit + 1`
    /// bytes, as ``FileSystem/readSmallFile(_:limit:)``).
    /// - Throws: as ``openRegularFile(_:)``.
    func readSmallFile(_ relative: String, limit: Int) throws -> [UInt8] {
        try FileSystem.readSmall(try openRegularFile(relative), limit: limit)
    }

    /// The status of the entry `name` of this directory, itself if a link.
    func status(of name: String) -> stat? {
        var st = stat()
        return fstatat(descriptor, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ? st : nil
    }

    /// The entries of this directory (without `.` and `..`), each with its
    /// kind, from `readdir` or, where the file system does not say, `fstatat`.
    /// - Throws: ``FileError``.
    func entries() throws -> [(name: String, kind: EntryKind)] {
        // A new open file description, so that reading it moves no offset of ours.
        let own = openat(descriptor, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard own >= 0, let stream = fdopendir(own) else {
            if own >= 0 { close(own) }
            throw FileError("opendir", path: path)
        }
        defer { closedir(stream) }
        var entries: [(String, EntryKind)] = []
        while let entry = readdir(stream) {
            let name = FileSystem.name(of: entry)
            if name == "." || name == ".." { continue }
            if let kind = Self.kind(directoryEntryType: entry.pointee.d_type) {
                entries.append((name, kind))
            } else if let st = status(of: name) {
                entries.append((name, EntryKind(mode: st.st_mode)))
            }  // else removed meanwhile
        }
        return entries
    }

    /// Every entry below this directory, at any depth, that is neither a
    /// regular file nor a directory (links, FIFOs, devices, sockets), with
    /// its path; subdirectories are walked through descriptors, never
    /// through a link. Nothing is opened but directories.
    func specialEntries() -> [(path: String, kind: EntryKind)] {
        var found: [(String, EntryKind)] = []
        guard let entries = try? entries() else { return [] }
        for (name, kind) in entries.sorted(by: { $0.name < $1.name }) {
            switch kind {
            case .regular: continue
            case .directory:
                if let child = try? openDirectory(name) {
                    found += child.specialEntries()
                } else {
                    found.append((path(of: name), .symbolicLink))  // swapped for a link since it was listed
                }
            default: found.append((path(of: name), kind))
            }
        }
        return found
    }

    /// Removes the file `name` from this directory (`unlinkat`); one that
    /// is already gone is not an error. A link is removed itself, never
    /// what it points to.
    /// - Throws: ``FileError``.
    func remove(_ name: String) throws {
        guard unlinkat(descriptor, name, 0) == 0 || errno == ENOENT else { throw FileError("unlink", path: path(of: name)) }
    }

    /// Removes the entry `name` and, if it is a directory, everything below
    /// it, walking through descriptors: a link anywhere in the tree is
    /// removed itself, never followed. An entry already gone is not an error.
    /// - Parameter wiping: overwrite each regular file with zeros before it
    ///   is removed (see ``overwriteWithZeros(_:)``).
    /// - Throws: ``FileError``.
    func removeTree(_ name: String, wiping: Bool = false) throws {
        guard let child = try? openDirectory(name) else {
            if wiping { try overwriteWithZeros(name) }
            return try remove(name)
        }
        try child.removeContents(wiping: wiping)
        guard unlinkat(descriptor, name, AT_REMOVEDIR) == 0 || errno == ENOENT else { throw FileError("rmdir", path: path(of: name)) }
    }

    /// Removes everything below this directory (see ``removeTree(_:wiping:)``).
    /// - Throws: ``FileError``.
    func removeContents(wiping: Bool = false) throws {
        for entry in try entries() { try removeTree(entry.name, wiping: wiping) }
    }

    /// Overwrites the regular file `name` with zeros, its whole size, in
    /// place: on a memory file system (tmpfs) the pages that held its
    /// contents are the ones zeroed. Anything else (a link, a FIFO, a file
    /// already gone) is left alone.
    /// - Throws: ``FileError`` if a write fails.
    func overwriteWithZeros(_ name: String) throws {
        guard let st = status(of: name), EntryKind(mode: st.st_mode) == .regular else { return }
        // An editor may have saved it read-only.
        if st.st_mode & S_IWUSR == 0 { _ = fchmodat(descriptor, name, 0o600, 0) }
        guard let file = try? openFile(name, flags: O_WRONLY | O_NONBLOCK), (try? file.requireRegularFile()) != nil else { return }
        let size = Int(try file.status().st_size)
        let zeros = [UInt8](repeating: 0, count: min(size, 1 << 20))
        var offset = 0
        while offset < size {
            let count = min(zeros.count, size - offset)
            try zeros.withUnsafeBytes { try file.write(UnsafeRawBufferPointer(rebasing: $0[..<count]), at: offset) }
            offset += count
        }
        try file.sync()
    }

    /// Takes an exclusive `flock` on this directory, without waiting.
    /// - Returns: false if another open file description holds a lock on it.
    func lockWithoutWaiting() -> Bool {
        flock(descriptor, LOCK_EX | LOCK_NB) == 0
    }

    /// Fsyncs the directory, so that removals in it are durable.
    /// - Throws: ``FileError``.
    func sync() throws {
        try file.sync()
    }

    /// The kind a `readdir` entry type names; nil for `DT_UNKNOWN`.
    private static func kind(directoryEntryType type: UInt8) -> EntryKind? {
        switch Int(type) {
        case Int(DT_REG): .regular
        case Int(DT_DIR): .directory
        case Int(DT_LNK): .symbolicLink
        case Int(DT_FIFO): .fifo
        case Int(DT_SOCK): .socket
        case Int(DT_CHR): .characterDevice
        case Int(DT_BLK): .blockDevice
        default: nil
        }
    }

    /// The error for `path`, which an open refused with `code` because it
    /// is not a directory or is a link: what it is, from `status`.
    private static func unsafe(_ path: String, expected: EntryKind, code: Int32, status: (inout stat) -> Int32) -> any Error {
        var st = stat()
        guard status(&st) == 0 else { return FileError("open", path: path, code: code) }
        return UnsafeEntryError(path: path, found: EntryKind(mode: st.st_mode), expected: expected)
    }
}

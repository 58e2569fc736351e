import CPlatform
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An open file descriptor with the few calls Coffer needs, each retried on
/// `EINTR` and turned into a ``FileError`` on failure. Closed on deinit.
final class POSIXFile: @unchecked Sendable {
    /// The descriptor.
    let descriptor: Int32
    /// The path it was opened with, for error messages.
    let path: String

    private let owned: Bool

    private init(descriptor: Int32, path: String, owned: Bool = true) {
        self.descriptor = descriptor
        self.path = path
        self.owned = owned
    }

    deinit { if owned { close(descriptor) } }

    /// A descriptor the caller keeps (never closed by this object); `path` names it in errors.
    static func borrowing(_ descriptor: Int32, path: String) -> POSIXFile {
        POSIXFile(descriptor: descriptor, path: path, owned: false)
    }

    /// The process's standard input (never closed by this object).
    static var standardInput: POSIXFile { borrowing(0, path: "standard input") }

    /// The process's standard output (never closed by this object).
    static var standardOutput: POSIXFile { borrowing(1, path: "standard output") }

    /// Opens `path` for reading.
    static func openForReading(_ path: String) throws -> POSIXFile {
        try open(path, flags: O_RDONLY | O_CLOEXEC, mode: 0)
    }

    /// Creates `path` exclusively (it must not exist) for writing.
    static func createExclusive(_ path: String, mode: mode_t = 0o600) throws -> POSIXFile {
        try open(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode: mode)
    }

    /// Creates an unnamed file in `directory` (Linux `O_TMPFILE`): it has no
    /// name until ``linkUnnamed(to:)`` gives it one, and vanishes with its
    /// descriptor if the process dies first. Nil where the kernel or the
    /// file system does not support it (or `/proc` is not mounted, which
    /// linking needs).
    static func createUnnamed(in directory: String, mode: mode_t = 0o600) -> POSIXFile? {
        guard FileSystem.isDirectory("/proc/self/fd") else { return nil }
        return opened(path: directory) { coffer_open_unnamed(directory, UInt32(mode)) }
    }

    /// Gives a file made by ``createUnnamed(in:mode:)`` the name
    /// `destination`, failing with `EEXIST` if that exists.
    func linkUnnamed(to destination: String) throws {
        guard linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, destination, AT_SYMLINK_FOLLOW) == 0 else {
            throw FileError("link", path: destination)
        }
    }

    /// Opens a directory so that it can be fsynced.
    static func openDirectory(_ path: String) throws -> POSIXFile {
        try open(path, flags: O_RDONLY | O_DIRECTORY | O_CLOEXEC, mode: 0)
    }

    /// Opens `path` with `open(2)` flags `flags` (and `mode` if it creates).
    /// - Throws: ``FileError``.
    static func open(_ path: String, flags: Int32, mode: mode_t = 0) throws -> POSIXFile {
        guard let file = opened(path: path, { Glibc.open(path, flags, mode) }) else { throw FileError("open", path: path) }
        return file
    }

    /// Opens `relative` below the directory `directory` without following
    /// any symbolic link and without leaving it (``coffer_open_beneath``).
    /// - Parameter path: the full path, for messages.
    /// - Throws: ``FileError`` (`ELOOP` or `EXDEV` for a link on the way).
    static func open(beneath directory: Int32, _ relative: String, path: String, flags: Int32, mode: mode_t = 0) throws -> POSIXFile {
        guard let file = opened(path: path, { coffer_open_beneath(directory, relative, flags, UInt32(mode)) }) else {
            throw FileError("open", path: path)
        }
        return file
    }

    /// Checks that this file, opened with `O_NONBLOCK` so that a FIFO or a
    /// device could not block the open, is a regular file, then turns
    /// `O_NONBLOCK` off for the reads and writes to come.
    /// - Throws: ``UnsafeEntryError`` for anything but a regular file; ``FileError``.
    func requireRegularFile() throws {
        let kind = EntryKind(mode: try status().st_mode)
        guard kind == .regular else { throw UnsafeEntryError(path: path, found: kind, expected: .regular) }
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw FileError("fcntl", path: path) }
    }

    /// Whether the file still has the size and modification time `start`
    /// recorded: it was not written to since (as far as the clock can tell).
    func isUnmodified(since start: stat) throws -> Bool {
        let after = try status()
        return after.st_size == start.st_size && after.st_mtim.tv_sec == start.st_mtim.tv_sec && after.st_mtim.tv_nsec == start.st_mtim.tv_nsec
    }

    /// The file `open` returns a descriptor for, retried on `EINTR`; nil on
    /// any other failure, with `errno` set.
    private static func opened(path: String, _ open: () -> Int32) -> POSIXFile? {
        while true {
            let fd = open()
            if fd >= 0 { return POSIXFile(descriptor: fd, path: path) }
            if errno != EINTR { return nil }
        }
    }

    /// Reads until `buffer` is full or the end of the file; returns the count read.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = Glibc.read(descriptor, buffer.baseAddress! + total, buffer.count - total)
            if n > 0 { total += n } else if n == 0 { break } else if errno != EINTR { throw FileError("read", path: path) }
        }
        return total
    }

    /// Reads at `offset` until `buffer` is full or the end of the file.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var total = 0
        while total < buffer.count {
            let n = pread(descriptor, buffer.baseAddress! + total, buffer.count - total, off_t(offset + total))
            if n > 0 { total += n } else if n == 0 { break } else if errno != EINTR { throw FileError("read", path: path) }
        }
        return total
    }

    /// Writes all of `buffer`.
    func write(_ buffer: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < buffer.count {
            let n = Glibc.write(descriptor, buffer.baseAddress! + done, buffer.count - done)
            if n >= 0 { done += n } else if errno != EINTR { throw FileError("write", path: path) }
        }
    }

    /// The alignment direct I/O needs of buffers, offsets and lengths: a
    /// page, which covers the logical block of every common device.
    static let directIOAlignment = 4096

    /// A second descriptor for writing to this file with direct I/O
    /// (``CacheBypassingWriter``), or nil where the file system, the kernel
    /// or a missing `/proc` does not allow it.
    func reopenedForDirectWrites() -> POSIXFile? {
        Self.opened(path: path) { coffer_reopen_for_direct_writes(descriptor) }
    }

    /// Reads the file from its start until `buffer` is full or the end of
    /// the file, straight from the device into `buffer` (direct I/O) where
    /// the file system allows it and `buffer` is aligned, through the page
    /// cache otherwise; returns the count read. A file read once, as a
    /// sealed segment is, gains nothing from the page cache but a copy.
    func readBypassingCache(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let alignment = Self.directIOAlignment
        var done = 0
        if buffer.count % alignment == 0, Int(bitPattern: buffer.baseAddress) % alignment == 0,
            coffer_set_direct_io(descriptor, 1) == 0
        {
            var atEnd = false
            while done < buffer.count {
                let n = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(done))
                if n > 0 {
                    done += n
                    if done % alignment != 0 { atEnd = true; break }  // a direct read stops short only at the end
                } else if n == 0 {
                    atEnd = true
                    break
                } else if errno != EINTR {
                    break  // refused: the rest goes through the page cache
                }
            }
            guard coffer_set_direct_io(descriptor, 0) == 0 else { throw FileError("fcntl", path: path) }
            if atEnd { return done }
        }
        return try done + read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[done...]), at: done)
    }

    /// Writes all of `buffer` at `offset`.
    func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        var done = 0
        while done < buffer.count {
            let n = pwrite(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if n >= 0 { done += n } else if errno != EINTR { throw FileError("write", path: path) }
        }
    }

    /// Asks the kernel to start writing the file's dirty pages now, without
    /// waiting (Linux `sync_file_range`; a no-op elsewhere). A later
    /// ``sync()`` then finds most of the work done. Purely a hint: errors
    /// are left for `sync()` to report.
    func startWriteback() {
        _ = coffer_start_writeback(descriptor)
    }

    /// Flushes every dirty page of the file system holding this file (Linux
    /// `syncfs`): one call makes many files durable at once.
    func syncFileSystem() throws {
        while coffer_sync_filesystem(descriptor) != 0 {
            if errno != EINTR { throw FileError("syncfs", path: path) }
        }
    }

    /// Cuts the file to `size` bytes.
    func truncate(to size: Int) throws {
        while ftruncate(descriptor, off_t(size)) != 0 {
            if errno != EINTR { throw FileError("truncate", path: path) }
        }
    }

    /// Sets the file's permission bits, whatever the umask.
    func setMode(_ mode: mode_t) throws {
        guard fchmod(descriptor, mode) == 0 else { throw FileError("chmod", path: path) }
    }

    /// Flushes data and metadata to stable storage.
    func sync() throws {
        while fsync(descriptor) != 0 {
            if errno != EINTR { throw FileError("fsync", path: path) }
        }
    }

    /// The file's status.
    func status() throws -> stat {
        var st = stat()
        guard fstat(descriptor, &st) == 0 else { throw FileError("stat", path: path) }
        return st
    }
}

/// Path-level file system calls.
public enum FileSystem {
    /// Reads a small file whole: at most `limit + 1` bytes, so that a caller
    /// can tell a file over its limit from one at it.
    /// - Throws: ``FileError`` (`ENOENT` for a missing file).
    public static func readSmallFile(_ path: String, limit: Int) throws -> [UInt8] {
        try readSmall(try POSIXFile.openForReading(path), limit: limit)
    }

    /// Standard input to its end, as ``readSmallFile(_:limit:)`` reads a file
    /// (for `-i -` and `-R -`).
    public static func readSmallStandardInput(limit: Int) throws -> [UInt8] {
        try readSmall(POSIXFile.standardInput, limit: limit)
    }

    /// Reads an open file whole from its current offset, as ``readSmallFile(_:limit:)``.
    static func readSmall(_ file: POSIXFile, limit: Int) throws -> [UInt8] {
        // A regular file's size bounds the buffer; pipes and /proc files
        // report 0 and get one of the limit. It is not filled first: only the
        // pages the input reaches are touched (a short list on a pipe does
        // not cost 64 MiB), and it never grows, so no copy of what was read
        // (an identity on standard input) is left behind in freed memory.
        let size = Int(try file.status().st_size)
        return try [UInt8](unsafeUninitializedCapacity: size > 0 ? min(limit + 1, size + 1) : limit + 1) { buffer, count in
            count = try file.read(into: UnsafeMutableRawBufferPointer(buffer))
        }
    }

    /// The size in bytes of the file at `path`.
    static func size(of path: String) throws -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw FileError("stat", path: path) }
        return Int(st.st_size)
    }

    /// Whether something exists at `path` (without following a final symlink).
    static func exists(_ path: String) -> Bool {
        var st = stat()
        return lstat(path, &st) == 0
    }

    /// Whether `path` is a directory (following symlinks).
    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and its missing parents with `mode`.
    static func createDirectories(_ path: String, mode: mode_t = 0o700) throws {
        if isDirectory(path) { return }
        let parent = directoryName(of: path)
        if parent != path, !parent.isEmpty { try createDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0, errno != EEXIST { throw FileError("mkdir", path: path) }
    }

    /// Creates the directory `path` (mode 0700), which must not exist; its parent must.
    /// - Throws: ``FileError`` (`EEXIST` when something is there already).
    static func createNewPrivateDirectory(_ path: String) throws {
        guard mkdir(path, 0o700) == 0 else { throw FileError("mkdir", path: path) }
        try syncDirectory(directoryName(of: path))
    }

    /// Atomically replaces `destination` with `source`.
    static func rename(_ source: String, to destination: String) throws {
        guard Glibc.rename(source, destination) == 0 else { throw FileError("rename", path: destination) }
    }

    /// Links `source` at `destination`, failing if `destination` exists: an
    /// atomic "create if absent" that never overwrites.
    static func link(_ source: String, to destination: String) throws {
        guard Glibc.link(source, destination) == 0 else { throw FileError("link", path: destination) }
    }

    /// Removes a file; a missing file is not an error.
    static func remove(_ path: String) {
        _ = unlink(path)
    }

    /// Fsyncs a directory so that renames inside it are durable.
    static func syncDirectory(_ path: String) throws {
        try POSIXFile.openDirectory(path).sync()
    }

    /// The name in a directory entry `readdir` returned, read in place. The
    /// record is only `d_reclen` bytes long: copying the whole 256-byte
    /// `d_name` field can read past the end of the C library's buffer into
    /// an unmapped page and crash (swift-corelibs-foundation PR #5472).
    static func name(of entry: UnsafePointer<dirent>) -> String {
        let offset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        return String(cString: (UnsafeRawPointer(entry) + offset).assumingMemoryBound(to: CChar.self))
    }

    /// The names in a directory, without `.` and `..`.
    static func contents(of path: String) throws -> [String] {
        guard let dir = opendir(path) else { throw FileError("opendir", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = FileSystem.name(of: entry)
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The canonical absolute path (symbolic links resolved), or `path`
    /// itself when it cannot be resolved (it does not exist yet).
    /// Where scratch files go: `TMPDIR`, else `/var/tmp` (on disk, unlike a
    /// `/tmp` that is often memory).
    static var temporaryDirectory: String {
        getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/var/tmp"
    }

    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Whether `path`, which need not exist yet, is `directory` or lies
    /// below it, once symbolic links are resolved (through the deepest part
    /// of `path` that exists).
    static func isWithin(_ path: String, _ directory: String) -> Bool {
        var existing = path
        while existing.count > 1, existing.hasSuffix("/") { existing.removeLast() }
        if !existing.hasPrefix("/") {
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            guard getcwd(&buffer, buffer.count) != nil else { return false }
            existing = join(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self), existing)
        }
        var rest: [String] = []
        while !exists(existing), existing != "/" {
            rest.insert(String(existing.split(separator: "/").last ?? ""), at: 0)
            existing = directoryName(of: existing)
        }
        // The part that does not exist yet, applied lexically (`..` included:
        // creating it would walk up the same way).
        var resolved = realPath(existing)
        for component in rest where component != "." && !component.isEmpty {
            if component == ".." {
                resolved = directoryName(of: resolved)
            } else {
                resolved = join(resolved, component)
            }
        }
        let root = realPath(directory)
        return resolved == root || resolved.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    /// The directory part of a path ("." for a bare name).
    static func directoryName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        if slash == path.startIndex { return "/" }
        return String(path[..<slash])
    }

    /// The last component of a path.
    static func baseName(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return path }
        return String(path[path.index(after: slash)...])
    }

    /// Joins two path components.
    static func join(_ a: String, _ b: String) -> String {
        a.hasSuffix("/") ? a + b : a + "/" + b
    }

    /// A random, unguessable temporary name with the given prefix.
    static func temporaryName(prefix: String) -> String {
        prefix + Hex.encode(Sodium.randomBytes(8)) + ".tmp"
    }

    /// Whether `name` is one ``AtomicFile`` gives the file it writes before
    /// renaming it into place (`.coffer-` and 16 hex digits, `.tmp`).
    static func isTemporaryName(_ name: String) -> Bool {
        let utf8 = Array(name.utf8)
        return utf8.count == 8 + 16 + 4 && name.hasPrefix(".coffer-") && name.hasSuffix(".tmp")
            && utf8[8..<24].allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
    }
}

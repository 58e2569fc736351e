#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A file written under a temporary name in its destination's directory and
/// moved into place only when complete: write → fsync → rename → fsync the
/// directory. Readers never see a partial file, and a crash leaves either the
/// old state or the new one (plus, at worst, a stray temporary file).
///
/// If the writer is released before ``commit(overwrite:)``, the temporary
/// file is removed, so content that failed a check never stays on disk.
///
/// Created `unnamed` (for plaintext), the file has no name at all until it
/// is committed (Linux `O_TMPFILE`, where the file system supports it):
/// even a SIGKILL or a power cut mid-write leaves nothing behind, because
/// the kernel frees an unnamed file with its last descriptor.
final class AtomicFile {
    /// Where the file ends up.
    let destination: String
    /// The temporary path being written; nil for an unnamed file.
    let temporaryPath: String?
    /// Open until ``finishWriting()`` (which a named file only may call).
    private var file: POSIXFile?
    private var finished = false
    /// Bytes appended since writeback was last started.
    private var unflushed = 0
    /// Writeback is started after every this many bytes appended, so a big
    /// file goes to disk while it is being produced and the fsync in
    /// ``commit(overwrite:syncDirectory:dataSynced:)`` finds little left.
    static let writebackInterval = 8 << 20

    /// The mode the file gets before it is named, when it differs from the
    /// one it was created with; nil once given.
    private var finalMode: mode_t?

    /// Creates the temporary file (mode `mode`, exclusive) beside
    /// `destination`; with `unnamed`, an unnamed one if the file system
    /// allows it (a named one otherwise).
    ///
    /// A file whose mode denies its owner writing (a read-only object) is
    /// created writable by its owner and given `mode` (less the umask)
    /// before it is named: a second descriptor can then be opened to write
    /// to it (``cacheBypassingWriter()``), which the permission check on
    /// `/proc/self/fd` otherwise refuses to anyone but root.
    init(destination: String, mode: mode_t = 0o600, unnamed: Bool = false) throws {
        self.destination = destination
        let directory = FileSystem.directoryName(of: destination)
        let writable = mode | 0o200
        finalMode = writable == mode ? nil : mode
        if unnamed, let file = POSIXFile.createUnnamed(in: directory, mode: writable) {
            temporaryPath = nil
            self.file = file
        } else {
            let path = FileSystem.join(directory, FileSystem.temporaryName(prefix: ".coffer-"))
            temporaryPath = path
            file = try POSIXFile.createExclusive(path, mode: writable)
        }
    }

    /// Gives the file its final mode: the created mode (the umask already
    /// applied) with only the bits the caller asked for.
    private func applyFinalMode(_ file: POSIXFile) throws {
        guard let finalMode else { return }
        let created = try file.status().st_mode & 0o7777
        guard fchmod(file.descriptor, created & finalMode) == 0 else { throw FileError("chmod", path: temporaryPath ?? destination) }
        self.finalMode = nil
    }

    private var openFile: POSIXFile {
        get throws {
            guard let file else { throw FileError("write", path: temporaryPath ?? destination, code: EBADF) }
            return file
        }
    }

    deinit {
        if !finished, let temporaryPath { FileSystem.remove(temporaryPath) }
    }

    /// Appends bytes.
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        let file = try openFile
        try file.write(bytes)
        unflushed += bytes.count
        if unflushed >= Self.writebackInterval {
            file.startWriteback()
            unflushed = 0
        }
    }

    /// A writer that puts bytes at given offsets, around the page cache
    /// where it can, from several threads at once: for a big file written
    /// once from page-aligned buffers. Nothing may be appended meanwhile.
    func cacheBypassingWriter() throws -> CacheBypassingWriter {
        CacheBypassingWriter(try openFile)
    }

    /// Appends bytes.
    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    /// Writes bytes at an offset (for writers that fill a file out of order).
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
        try openFile.write(bytes, at: offset)
    }

    /// Starts writing the data to disk in the background (see
    /// ``POSIXFile/startWriteback()``) and closes the descriptor, so that
    /// thousands of files can wait for one `syncfs` without holding a
    /// descriptor each. Nothing more can be written, and the file can only
    /// be committed with `dataSynced: true`.
    func finishWriting() throws {
        precondition(temporaryPath != nil, "an unnamed file lives only as long as its descriptor")
        if let file {
            try applyFinalMode(file)
            file.startWriteback()
        }
        file = nil
    }

    /// Makes the file durable and moves it into place.
    /// - Parameters:
    ///   - overwrite: replace an existing destination; when false an existing
    ///     destination is a ``FileError`` with `EEXIST`, and nothing changes.
    ///   - syncDirectory: fsync the directory now; pass false only when the
    ///     caller fsyncs it itself before relying on the file.
    ///   - dataSynced: the caller already made the data durable (``POSIXFile/syncFileSystem()``).
    func commit(overwrite: Bool, syncDirectory: Bool = true, dataSynced: Bool = false) throws {
        if let file { try applyFinalMode(file) }
        if !dataSynced { try openFile.sync() }
        var named = temporaryPath
        if named == nil {
            let file = try openFile
            if overwrite {
                // Named for the instant before the rename (which replaces atomically).
                let path = FileSystem.join(FileSystem.directoryName(of: destination), FileSystem.temporaryName(prefix: ".coffer-"))
                try file.linkUnnamed(to: path)
                named = path
            } else {
                // linkat(2) fails with EEXIST instead of replacing.
                try file.linkUnnamed(to: destination)
            }
        }
        if let named {
            if overwrite {
                do {
                    try FileSystem.rename(named, to: destination)
                } catch {
                    if temporaryPath == nil { FileSystem.remove(named) }  // the name given just above
                    throw error
                }
            } else {
                // link(2) fails with EEXIST instead of replacing: no race with a
                // file created after our check.
                try FileSystem.link(named, to: destination)
                FileSystem.remove(named)
            }
        }
        finished = true
        if syncDirectory { try FileSystem.syncDirectory(FileSystem.directoryName(of: destination)) }
    }

    /// Removes the temporary file without publishing anything.
    func abandon() {
        if !finished, let temporaryPath { FileSystem.remove(temporaryPath) }
        finished = true
    }

    /// Writes `bytes` to `destination` atomically and durably in one call,
    /// through an unnamed file where the file system allows it: these are
    /// small files, identity files and keys among them, and a process killed
    /// while writing one leaves no named copy of a secret behind.
    static func write(_ bytes: [UInt8], to destination: String, mode: mode_t = 0o600, overwrite: Bool) throws {
        let file = try AtomicFile(destination: destination, mode: mode, unnamed: true)
        try file.write(bytes)
        try file.commit(overwrite: overwrite)
    }
}

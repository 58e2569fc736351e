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
final class AtomicFile {
    /// Where the file ends up.
    let destination: String
    /// The temporary path being written.
    let temporaryPath: String
    /// Open until ``finishWriting()``.
    private var file: POSIXFile?
    private var finished = false
    /// Bytes appended since writeback was last started.
    private var unflushed = 0
    /// Writeback is started after every this many bytes appended, so a big
    /// file goes to disk while it is being produced and the fsync in
    /// ``commit(overwrite:syncDirectory:dataSynced:)`` finds little left.
    static let writebackInterval = 8 << 20

    /// Creates the temporary file (mode `mode`, exclusive) beside `destination`.
    init(destination: String, mode: mode_t = 0o600) throws {
        self.destination = destination
        let directory = FileSystem.directoryName(of: destination)
        temporaryPath = FileSystem.join(directory, FileSystem.temporaryName(prefix: ".coffer-"))
        file = try POSIXFile.createExclusive(temporaryPath, mode: mode)
    }

    private var openFile: POSIXFile {
        get throws {
            guard let file else { throw FileError("write", path: temporaryPath, code: EBADF) }
            return file
        }
    }

    deinit {
        if !finished { FileSystem.remove(temporaryPath) }
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
    func finishWriting() {
        file?.startWriteback()
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
        if !dataSynced { try openFile.sync() }
        if overwrite {
            try FileSystem.rename(temporaryPath, to: destination)
        } else {
            // link(2) fails with EEXIST instead of replacing: no race with a
            // file created after our check.
            try FileSystem.link(temporaryPath, to: destination)
            FileSystem.remove(temporaryPath)
        }
        finished = true
        if syncDirectory { try FileSystem.syncDirectory(FileSystem.directoryName(of: destination)) }
    }

    /// Removes the temporary file without publishing anything.
    func abandon() {
        if !finished { FileSystem.remove(temporaryPath) }
        finished = true
    }

    /// Writes `bytes` to `destination` atomically and durably in one call.
    static func write(_ bytes: [UInt8], to destination: String, mode: mode_t = 0o600, overwrite: Bool) throws {
        let file = try AtomicFile(destination: destination, mode: mode)
        try file.write(bytes)
        try file.commit(overwrite: overwrite)
    }
}

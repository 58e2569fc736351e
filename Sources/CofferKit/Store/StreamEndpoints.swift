#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Where a streaming command (`coffer age encrypt|decrypt`) reads its input.
public enum InputSource: Sendable, Equatable {
    /// The process's standard input (a pipe, a file, a terminal).
    case standardInput
    /// A file, opened read-only.
    case file(path: String)

    /// Opens the input for reading.
    /// - Throws: ``FileError`` (`ENOENT` for a missing file).
    func open() throws -> POSIXFile {
        switch self {
        case .standardInput: POSIXFile.standardInput
        case .file(let path): try POSIXFile.openForReading(path)
        }
    }
}

/// Where a streaming command writes its output.
public enum OutputTarget: Sendable, Equatable {
    /// The process's standard output: bytes go out as they are produced, so
    /// a later failure leaves what was already written.
    case standardOutput
    /// A file, written under a temporary name beside it (mode 0600) and moved
    /// into place only by `OutputWriter/commit()`; with `overwrite: false`
    /// an existing file is never replaced.
    ///
    /// An existing character device, block device or FIFO at `path` (such
    /// as `/dev/null`) is written in place instead, streaming as to standard
    /// output, with or without `overwrite`: it is never renamed over or
    /// unlinked. A symbolic link at `path` is refused, `overwrite` or not: it
    /// is neither followed nor replaced.
    case file(path: String, overwrite: Bool)

    /// Checks, before any work, that the target may be written: a file that
    /// exists needs `overwrite`; a symbolic link is refused. (The final move
    /// checks again, atomically.)
    /// - Throws: ``OutputError/exists(path:)``, ``OutputError/symbolicLink(path:)``.
    public func checkAvailable() throws {
        _ = try existingKind()
    }

    /// What exists at a file target (nil for none, or standard output),
    /// once checked as ``checkAvailable()`` does.
    fileprivate func existingKind() throws -> EntryKind? {
        guard case .file(let path, let overwrite) = self else { return nil }
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        let kind = EntryKind(mode: st.st_mode)
        switch kind {
        case .symbolicLink: throw OutputError.symbolicLink(path: path)
        case .regular, .directory: if !overwrite { throw OutputError.exists(path: path) }
        default: break  // a device or FIFO: written in place
        }
        return kind
    }
}

/// The output of a command refused before anything was written.
public enum OutputError: CofferFailure, Equatable {
    /// The output file exists and overwriting was not asked for.
    case exists(path: String)
    /// The output is a symbolic link, which Coffer neither follows nor replaces.
    case symbolicLink(path: String)
    /// A folder output (`bundle open`, `open FOLDER/`) exists: it would be written into.
    case folderExists(path: String)
    /// The folder that would hold a folder output does not exist.
    case noFolder(path: String)

    /// `.conflict` (exit 7), or `.usage` for ``noFolder(path:)``.
    public var kind: FailureKind {
        switch self {
        case .exists, .symbolicLink, .folderExists: .conflict
        case .noFolder: .usage
        }
    }

    /// One line naming the file and what to do.
    public var description: String {
        switch self {
        case .exists(let path): "\(path) exists; pass --force to overwrite it"
        case .symbolicLink(let path):
            "\(path) is a symbolic link; Coffer neither writes through it nor replaces it, --force or not. "
                + "Give the file it points to (`readlink -f \(path)`) as the output, or remove the link"
        case .folderExists(let path):
            "\(path) exists; a folder is opened into a new folder, never into an existing one, so choose a path that does not exist"
        case .noFolder(let path): "the folder that would hold \(path) does not exist"
        }
    }
}

/// An open ``OutputTarget``. For a file, nothing is visible at the
/// destination until ``commit()``; released without a commit (an error was
/// thrown), the temporary file is removed, so output that failed a check
/// never stays on disk. Standard output, and a device or FIFO given as the
/// file, are written in place as the bytes come.
final class OutputWriter {
    /// Where the bytes go: a temporary file, or in place as they come.
    private enum Sink {
        case file(AtomicFile)
        case stream(POSIXFile)
    }

    private let sink: Sink
    private let overwrite: Bool
    private let path: String

    /// Opens `target`: a temporary file beside a file destination, or the
    /// destination itself if it is a device or FIFO (opening a FIFO waits
    /// for its reader, as a shell's `>` does).
    /// - Throws: ``OutputError/exists(path:)``, ``OutputError/symbolicLink(path:)``;
    ///   ``FileError`` if the temporary file or the device cannot be opened
    ///   (a socket cannot: `ENXIO`).
    init(_ target: OutputTarget) throws {
        let existing = try target.existingKind()
        switch target {
        case .standardOutput:
            sink = .stream(POSIXFile.standardOutput)
            overwrite = false
            path = "standard output"
        case .file(let destination, let overwrite):
            self.overwrite = overwrite
            path = destination
            if let existing, existing != .regular, existing != .directory, let device = try Self.openInPlace(destination) {
                sink = .stream(device)
            } else {
                sink = .file(try AtomicFile(destination: destination, mode: 0o600, unnamed: true))
            }
        }
    }

    /// Opens the device or FIFO at `path` for writing, through no link;
    /// nil if a regular file has taken its place since it was checked (it
    /// is then replaced atomically like any file, never written in place).
    private static func openInPlace(_ path: String) throws -> POSIXFile? {
        let device: POSIXFile
        do {
            device = try POSIXFile.open(path, flags: O_WRONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC)
        } catch let error as FileError where error.code == ELOOP {
            throw OutputError.symbolicLink(path: path)
        }
        switch EntryKind(mode: try device.status().st_mode) {
        case .regular: return nil
        default: return device
        }
    }

    /// Writes all of `bytes`.
    /// - Throws: ``FileError`` (`EPIPE`, `ENOSPC`, `EFBIG`, …).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        switch sink {
        case .file(let file): try file.write(bytes)
        case .stream(let stream): try stream.write(bytes)
        }
    }

    /// For a file output, a writer that puts bytes at given offsets from
    /// several threads, around the page cache where it can
    /// (``AtomicFile/cacheBypassingWriter()``); nil for standard output, a device or a FIFO.
    /// Use it or ``write(_:)``, not both.
    func cacheBypassingWriter() throws -> CacheBypassingWriter? {
        guard case .file(let file) = sink else { return nil }
        return try file.cacheBypassingWriter()
    }

    /// Makes a file output durable and moves it into place (a no-op for
    /// standard output, a device or a FIFO).
    /// - Throws: ``OutputError/exists(path:)`` if a file appeared at the
    ///   destination meanwhile (it is left alone); ``FileError``.
    func commit() throws {
        guard case .file(let file) = sink else { return }
        do {
            try file.commit(overwrite: overwrite)
        } catch let error as FileError where error.code == EEXIST {
            file.abandon()
            throw OutputError.exists(path: path)
        }
    }
}

/// Reads an ``InputSource`` in fixed-size blocks into one reusable buffer,
/// which is wiped when released (it may have held plaintext).
final class BlockReader {
    private let input: POSIXFile
    private let buffer: UnsafeMutableRawBufferPointer

    /// Opens `source` with a buffer of `blockByteCount` bytes.
    /// - Throws: ``FileError``.
    init(_ source: InputSource, blockByteCount: Int) throws {
        input = try source.open()
        buffer = .allocate(byteCount: blockByteCount, alignment: 16)
    }

    deinit {
        Sodium.wipe(buffer)
        buffer.deallocate()
    }

    /// Calls `body` with each block until the end of the input; every block
    /// but the last is full.
    /// - Throws: ``FileError`` from reading; whatever `body` throws.
    func forEachBlock(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        while true {
            let n = try input.read(into: buffer)
            if n > 0 { try body(UnsafeRawBufferPointer(rebasing: buffer[..<n])) }
            if n < buffer.count { return }
        }
    }
}

/// ``InputSource`` as an ``AgeSource``: the decryptor pulls from the
/// descriptor directly.
struct POSIXFileSource: AgeSource {
    let file: POSIXFile

    /// Reads up to `buffer.count` bytes; 0 only at the end.
    mutating func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        try file.read(into: buffer)
    }
}

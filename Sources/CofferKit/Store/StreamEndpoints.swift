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
    /// into place only by ``OutputWriter/commit()``; with `overwrite: false`
    /// an existing file is never replaced.
    case file(path: String, overwrite: Bool)

    /// Checks, before any work, that the target may be written: a file that
    /// exists needs `overwrite`. (The final move checks again, atomically.)
    /// - Throws: ``OutputError/exists(path:)``.
    public func checkAvailable() throws {
        if case .file(let path, false) = self, FileSystem.exists(path) { throw OutputError.exists(path: path) }
    }
}

/// The output of a command refused before anything was written.
public enum OutputError: CofferFailure, Equatable {
    /// The output file exists and overwriting was not asked for.
    case exists(path: String)

    /// `.conflict` (exit 7).
    public var kind: FailureKind { .conflict }

    /// One line naming the file and the flag that allows replacing it.
    public var description: String {
        switch self {
        case .exists(let path): "\(path) exists; pass --force to overwrite it"
        }
    }
}

/// An open ``OutputTarget``. For a file, nothing is visible at the
/// destination until ``commit()``; released without a commit (an error was
/// thrown), the temporary file is removed, so output that failed a check
/// never stays on disk.
final class OutputWriter {
    private let file: AtomicFile?
    private let overwrite: Bool
    private let path: String

    /// Opens `target`: a temporary file beside a file destination.
    /// - Throws: ``OutputError/exists(path:)``; ``FileError`` if the
    ///   temporary file cannot be created.
    init(_ target: OutputTarget) throws {
        try target.checkAvailable()
        switch target {
        case .standardOutput:
            file = nil
            overwrite = false
            path = "standard output"
        case .file(let destination, let overwrite):
            file = try AtomicFile(destination: destination, mode: 0o600, unnamed: true)
            self.overwrite = overwrite
            path = destination
        }
    }

    /// Writes all of `bytes`.
    /// - Throws: ``FileError`` (`EPIPE`, `ENOSPC`, `EFBIG`, …).
    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if let file {
            try file.write(bytes)
        } else {
            try POSIXFile.standardOutput.write(bytes)
        }
    }

    /// For a file output, a writer that puts bytes at given offsets from
    /// several threads, around the page cache where it can
    /// (``AtomicFile/cacheBypassingWriter()``); nil for standard output.
    /// Use it or ``write(_:)``, not both.
    func cacheBypassingWriter() throws -> CacheBypassingWriter? {
        try file?.cacheBypassingWriter()
    }

    /// Makes a file output durable and moves it into place (a no-op for
    /// standard output).
    /// - Throws: ``OutputError/exists(path:)`` if a file appeared at the
    ///   destination meanwhile (it is left alone); ``FileError``.
    func commit() throws {
        guard let file else { return }
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

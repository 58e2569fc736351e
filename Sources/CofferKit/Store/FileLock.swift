#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An advisory lock (`flock`) on a file, created empty if missing, held
/// until the value is released. Locks belong to the open file: two values
/// for one path in one process exclude each other like two processes.
final class FileLock: @unchecked Sendable {
    /// The lock file.
    let path: String
    private let descriptor: Int32

    /// Opens `path` (read-only; with `create`, created with `mode` if
    /// missing) and waits for the lock, shared or exclusive.
    /// - Throws: ``FileError`` if the file cannot be opened or locked.
    init(_ path: String, exclusive: Bool, mode: mode_t, create: Bool = true) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | (create ? O_CREAT : 0) | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw FileError("open", path: path) }
        do {
            try lock(exclusive: exclusive)
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit { close(descriptor) }

    /// Takes the lock, or converts the one held (not atomically: another
    /// holder may get in between), waiting as needed.
    func lock(exclusive: Bool) throws {
        while flock(descriptor, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else { throw FileError("flock", path: path) }
        }
    }
}

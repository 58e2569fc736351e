#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// An advisory lock on a backup directory (`flock` on `DEST/lock`), held
/// for the life of the value: shared while a snapshot is written, checked
/// or restored, exclusive while snapshots and objects are pruned, so a
/// prune never deletes an object a backup in progress has just copied.
final class BackupLock {
    private let descriptor: Int32

    /// Waits for the lock on `destination` (which must exist).
    init(_ destination: String, exclusive: Bool) throws {
        let path = FileSystem.join(destination, "lock")
        descriptor = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw FileError("open", path: path) }
        while flock(descriptor, exclusive ? LOCK_EX : LOCK_SH) != 0 {
            guard errno == EINTR else {
                let error = FileError("flock", path: path)
                close(descriptor)
                throw error
            }
        }
    }

    deinit { close(descriptor) }
}

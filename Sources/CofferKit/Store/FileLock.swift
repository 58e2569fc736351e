#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// An advisory lock (`flock`) on a file, created empty if missing, held
/// until the value is released. Locks belong to the open file: two values
/// for one path in one process exclude each other like two processes.
///
/// The lock file is opened through no symbolic link, without blocking on a
/// FIFO, and must be a regular file: a link planted there never makes
/// Coffer create or lock a file elsewhere. Another process holding the lock
/// is waited for at most ``waitLimit``.
final class FileLock: Sendable {
    /// The lock file.
    let path: String
    private let file: POSIXFile
    /// How long ``lock(exclusive:)`` waits for another holder.
    let waitLimit: TimeInterval

    /// How long a lock held by another process is waited for: 60 seconds,
    /// or the number of seconds in `COFFER_LOCK_TIMEOUT` (documented in
    /// docs/CLI.md).
    static let defaultWaitLimit: TimeInterval = {
        guard let text = ProcessInfo.processInfo.environment["COFFER_LOCK_TIMEOUT"], let seconds = Double(text), seconds >= 0 else { return 60 }
        return seconds
    }()

    /// Opens `path` (read-only; with `create`, created with `mode` if
    /// missing) and waits for the lock, shared or exclusive, at most
    /// `waitLimit` seconds.
    /// - Throws: ``UnsafeEntryError`` if `path` is a link or not a regular
    ///   file; ``LockError`` if another process holds the lock longer than
    ///   `waitLimit`; ``FileError`` if it cannot be opened or locked.
    init(_ path: String, exclusive: Bool, mode: mode_t, create: Bool = true, waitLimit: TimeInterval = defaultWaitLimit) throws {
        self.path = path
        self.waitLimit = waitLimit
        file = try Self.openRegular(path, mode: mode, create: create)
        try lock(exclusive: exclusive)
    }

    /// Opens the lock file with `O_NOFOLLOW | O_NONBLOCK`, creating it with
    /// `O_EXCL` if it is missing (and `create`), and checks that it is a regular file.
    private static func openRegular(_ path: String, mode: mode_t, create: Bool) throws -> POSIXFile {
        let flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC
        while true {
            do {
                let file = try POSIXFile.open(path, flags: flags)
                try file.requireRegularFile()
                return file
            } catch let error as FileError where error.code == ENOENT {
                guard create else { throw error }
                do {
                    return try POSIXFile.open(path, flags: flags | O_CREAT | O_EXCL, mode: mode)
                } catch let error as FileError where error.code == EEXIST {
                    continue  // created (or planted) meanwhile: open and check it
                }
            } catch let error as FileError {
                throw UnsafeEntryError(opening: error) ?? error  // a link or a socket
            }
        }
    }

    /// Takes the lock, or converts the one held (not atomically: another
    /// holder may get in between), waiting at most ``waitLimit``.
    /// - Throws: ``LockError/timedOut(path:seconds:)``; ``FileError``.
    func lock(exclusive: Bool) throws {
        let deadline = Date().addingTimeInterval(waitLimit)
        while flock(file.descriptor, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0 {
            switch errno {
            case EINTR: continue
            case EWOULDBLOCK:
                guard Date() < deadline else { throw LockError.timedOut(path: path, seconds: waitLimit) }
                usleep(20_000)
            default: throw FileError("flock", path: path)
            }
        }
    }
}

/// A lock another process held for too long.
public enum LockError: CofferFailure, Equatable {
    /// Another process held the lock file at `path` for `seconds`.
    case timedOut(path: String, seconds: Double)
    /// Other clients of a shared vault held its lock (a PostgreSQL advisory
    /// lock on the vault's schema) for `seconds`.
    case sharedVaultTimedOut(schema: String, seconds: Double)

    /// `.concurrentChange` (exit 9): nothing was done; run it again.
    public var kind: FailureKind { .concurrentChange }

    /// One line naming the lock file and what to do.
    public var description: String {
        switch self {
        case .timedOut(let path, let seconds):
            "another process has held \(path) for \(Int(seconds)) s (a `coffer gc` or `backup prune` waits for every other command, "
                + "and every command waits for them); nothing was done. Let it finish and run the command again "
                + "(`fuser \(path)` shows who holds it; COFFER_LOCK_TIMEOUT sets the wait in seconds)"
        case .sharedVaultTimedOut(let schema, let seconds):
            "other clients of the shared vault (schema \(schema)) held its lock for \(Int(seconds)) s (a `coffer gc` waits for every other "
                + "command, and every command waits for it); nothing was done. Let it finish and run the command again "
                + "(pg_locks, locktype 'advisory', shows who holds it; COFFER_LOCK_TIMEOUT sets the wait in seconds)"
        }
    }
}

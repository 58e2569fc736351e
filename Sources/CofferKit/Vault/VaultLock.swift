import Foundation

/// Coordinates `gc` with every other command on one vault: an advisory
/// `flock` on `VAULT/lock`, held shared while a vault is open and
/// exclusive while `gc` lists and deletes objects. So `gc` never deletes
/// an object a running command is reading (a generation a re-key has just
/// superseded) or has written but not yet committed.
///
/// A process has one descriptor per vault, shared by all its open vaults
/// (locks belong to descriptors, and a `gc` must not wait for its own
/// process): threads of one process are not ordered by it.
final class VaultLock: @unchecked Sendable {
    private let file: FileLock
    private let key: String

    private init(file: FileLock, key: String) {
        self.file = file
        self.key = key
    }

    deinit {
        Self.registry.withLock { open in
            if open[key]?.lock == nil { open[key] = nil }
        }
    }

    /// The process's shared lock on the vault at `vault`, taken (waiting
    /// while a `gc` holds it exclusively, at most ``FileLock/defaultWaitLimit``) if
    /// the process does not hold it yet. Nil if the lock file cannot be
    /// opened or created (a read-only vault, where no `gc` can run either).
    /// Without `create`, a missing lock file is not created (read-only
    /// access changes nothing in the vault) and no lock is taken.
    /// - Throws: ``UnsafeEntryError`` if `VAULT/lock` is a symbolic link
    ///   or not a regular file (nothing is created where a link points);
    ///   ``LockError`` if another process holds it too long.
    static func shared(for vault: String, create: Bool = true) throws -> VaultLock? {
        let key = FileSystem.realPath(vault)
        return try registry.withLock { open -> VaultLock? in
            if let existing = open[key]?.lock { return existing }
            let file: FileLock
            do {
                file = try FileLock(FileSystem.join(key, "lock"), exclusive: false, mode: 0o644, create: create)
            } catch is FileError {
                return nil
            }
            let lock = VaultLock(file: file, key: key)
            open[key] = WeakLock(lock: lock)
            return lock
        }
    }

    /// Runs `body` holding the lock exclusively: first waits until no other
    /// process has the vault open, and keeps new ones waiting until `body`
    /// returns; then holds it shared again.
    /// - Throws: ``LockError`` if other processes keep it open longer than
    ///   ``FileLock/defaultWaitLimit`` (the shared lock is taken again first).
    func exclusively<T>(_ body: () throws -> T) throws -> T {
        do {
            try file.lock(exclusive: true)
        } catch {
            try? file.lock(exclusive: false)  // a failed conversion may have dropped it
            throw error
        }
        defer { try? file.lock(exclusive: false) }
        return try body()
    }

    private struct WeakLock {
        weak var lock: VaultLock?
    }

    private static let registry = Registry()

    /// The process's locks by canonical vault path, under a mutex.
    private final class Registry: @unchecked Sendable {
        private let mutex = NSLock()
        private var open: [String: WeakLock] = [:]

        func withLock<T>(_ body: (inout [String: WeakLock]) throws -> T) rethrows -> T {
            mutex.lock()
            defer { mutex.unlock() }
            return try body(&open)
        }
    }
}

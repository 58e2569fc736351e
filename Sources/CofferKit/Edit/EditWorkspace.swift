import CPlatform
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// A private place for one document's plaintext while an editor has it
/// (`coffer edit`): a new directory only this user can enter (mode 0700),
/// named `coffer-edit-PID-RANDOM`, in memory-backed storage
/// (`$XDG_RUNTIME_DIR`, else `/dev/shm`, which must be tmpfs or ramfs), so
/// that the plaintext is never written to a disk. The editor's own files
/// (swap, backup and undo files that vi and emacs put beside the file) land
/// in the same directory, and ``wipe()`` overwrites every file in it with
/// zeros before removing it.
///
/// A process killed while its editor runs leaves its directory behind:
/// ``wipeAbandoned(in:)`` wipes those whose process is gone.
public final class EditWorkspace {
    /// The directory created for this edit.
    public let directory: String
    /// The plaintext's path: the document's last name component, in ``directory``.
    public let file: String
    /// The memory-backed directory ``directory`` is in.
    private let base: Directory
    /// ``directory``'s name in ``base``.
    private let name: String

    private init(base: Directory, name: String, fileName: String) {
        self.base = base
        self.name = name
        directory = base.path(of: name)
        file = FileSystem.join(directory, fileName)
    }

    /// The prefix of a workspace directory's name; the process id follows.
    static let prefix = "coffer-edit-"
    /// The prefix of a kept workspace's name (see ``keep()``).
    static let keptPrefix = "coffer-kept-"

    /// The memory-backed directory workspaces are made in: a non-empty
    /// `$XDG_RUNTIME_DIR`, else `/dev/shm`.
    public static var standardBase: String {
        ProcessInfo.processInfo.environment["XDG_RUNTIME_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/dev/shm"
    }

    /// Makes a new workspace in `base` for a document named `documentName`.
    /// - Throws: ``EditError/noPrivatePlace(_:)`` if `base` is missing, not
    ///   a directory, another user's (`$XDG_RUNTIME_DIR`) or on a file
    ///   system that is not memory-backed; ``FileError``.
    public static func create(forDocumentNamed documentName: String, in base: String = standardBase) throws -> EditWorkspace {
        let root = try memoryBackedDirectory(base)
        // A name from before names were checked may give no file name.
        let last = FileSystem.baseName(of: documentName)
        let fileName = ["", ".", "..", "/"].contains(last) ? "document" : last
        while true {
            let name = "\(prefix)\(getpid())-\(Hex.encode(Sodium.randomBytes(6)))"
            guard mkdirat(root.descriptor, name, 0o700) == 0 else {
                if errno == EEXIST { continue }
                throw FileError("mkdir", path: root.path(of: name))
            }
            return EditWorkspace(base: root, name: name, fileName: fileName)
        }
    }

    /// Overwrites every file in the workspace with zeros and removes it,
    /// then the directory.
    /// - Throws: ``FileError``.
    public func wipe() throws {
        try base.removeTree(name, wiping: true)
    }

    /// Keeps the workspace for its user (a seal of the edit failed): it is
    /// renamed `coffer-kept-…`, which ``wipeAbandoned(in:)`` leaves alone,
    /// and the plaintext's new path is returned.
    /// - Throws: ``FileError``.
    public func keep() throws -> String {
        let kept = Self.keptPrefix + name.dropFirst(Self.prefix.count)
        guard renameat(base.descriptor, name, base.descriptor, kept) == 0 else { throw FileError("rename", path: directory) }
        return FileSystem.join(base.path(of: kept), FileSystem.baseName(of: file))
    }

    /// Wipes, as ``wipe()`` does, the workspaces in `base` that this user's
    /// processes left when they were killed: those whose process no longer
    /// exists. A base that is not usable has none.
    /// - Returns: the directories wiped.
    @discardableResult
    public static func wipeAbandoned(in base: String = standardBase) -> [String] {
        guard let root = try? memoryBackedDirectory(base), let entries = try? root.entries() else { return [] }
        var wiped: [String] = []
        for entry in entries where entry.kind == .directory && entry.name.hasPrefix(prefix) {
            let rest = entry.name.dropFirst(prefix.count)
            guard let pid = rest.split(separator: "-").first.flatMap({ pid_t($0) }), pid > 0,
                  let st = root.status(of: entry.name), st.st_uid == getuid(),
                  kill(pid, 0) != 0, errno == ESRCH
            else { continue }
            if (try? root.removeTree(entry.name, wiping: true)) != nil { wiped.append(root.path(of: entry.name)) }
        }
        return wiped
    }

    /// Opens `path` if it is a directory on a memory file system that this
    /// user may keep a private directory in.
    private static func memoryBackedDirectory(_ path: String) throws -> Directory {
        let directory: Directory
        do {
            directory = try Directory.open(path)
        } catch {
            throw EditError.noPrivatePlace("\(path) is not a directory (\(error))")
        }
        var st = stat()
        guard fstat(directory.descriptor, &st) == 0 else { throw FileError("stat", path: path) }
        // Another user's directory is theirs to read; /dev/shm is everyone's but sticky.
        guard st.st_uid == getuid() || (st.st_mode & S_ISVTX != 0) else {
            throw EditError.noPrivatePlace("\(path) belongs to another user")
        }
        let type = coffer_file_system_type(directory.descriptor)
        guard type >= 0 else { throw FileError("statfs", path: path) }
        guard Self.memoryFileSystems.contains(Int64(type)) else {
            throw EditError.noPrivatePlace("\(path) is on a disk, not in memory (tmpfs)")
        }
        return directory
    }

    /// `TMPFS_MAGIC` and `RAMFS_MAGIC` (linux/magic.h).
    private static let memoryFileSystems: Set<Int64> = [0x0102_1994, 0x8584_58f6]
}

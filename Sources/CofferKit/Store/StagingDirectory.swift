#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// A private directory (0700) beside a destination that must not exist yet,
/// holding plaintext files until every check passed, then renamed to the
/// destination in one step; removed with its contents if never published.
/// What `bundle open` and `open FOLDER/` write into.
///
/// Files are unnamed (``POSIXFile/createUnnamed(in:mode:)``) until
/// ``publish(as:)`` links them. Past ``unnamedLimit`` files (each holds a
/// descriptor until then), or where the file system lacks unnamed files,
/// they are written under their names in the private directory. Folders
/// inside are created 0700.
///
/// The directory is locked (`flock`) for as long as this value lives. A
/// process killed after naming files and before the rename leaves them,
/// plaintext, in a directory nobody holds locked: the next staging
/// directory of the same kind made in that folder removes it first
/// (``create()``).
final class StagingDirectory {
    /// The private directory.
    let path: String
    /// The name prefix of this kind of staging directory.
    private let prefix: String
    /// The directory, open and locked while this value lives.
    private var held: Directory?
    private var published = false
    /// Unnamed files written, with the path each is to be linked at.
    private var unnamed: [(file: POSIXFile, path: String)] = []
    private let unnamedLimit: Int

    /// Most unnamed files one staging directory may hold open: as many
    /// descriptors as the process may have (its soft limit first raised to
    /// the hard one), less 256 for everything else; 20,000 descriptors allow
    /// 19,744 files.
    static let unnamedLimit: Int = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return max(0, Int(clamping: min(limit.rlim_cur, 1 << 20)) - 256)
    }()

    /// A staging directory for `destination`, named `prefix` and random hex,
    /// in the folder that is to hold `destination` (so that publishing is a rename).
    init(beside destination: String, prefix: String, unnamedLimit: Int = StagingDirectory.unnamedLimit) {
        path = FileSystem.join(FileSystem.directoryName(of: destination), FileSystem.temporaryName(prefix: prefix))
        self.prefix = prefix
        self.unnamedLimit = unnamedLimit
    }

    deinit {
        if !published, let held {
            try? held.removeContents()
            _ = rmdir(path)
        }
    }

    /// A staging directory in ``FileSystem/temporaryDirectory`` for scratch
    /// files that are never published, created and locked at once: removed
    /// with its contents on release, or, if the process was killed, by the
    /// next one of the same `prefix` any process makes.
    /// - Throws: ``FileError``.
    static func scratch(prefix: String) throws -> StagingDirectory {
        let directory = StagingDirectory(beside: FileSystem.join(FileSystem.temporaryDirectory, prefix), prefix: prefix)
        try directory.create()
        return directory
    }

    /// Checks that `destination` can be published to (it does not exist,
    /// and its folder does), and returns it without trailing slashes.
    /// - Throws: ``OutputError/folderExists(path:)``, ``OutputError/noFolder(path:)``.
    static func checkDestination(_ destination: String) throws -> String {
        var destination = destination
        while destination.count > 1, destination.hasSuffix("/") { destination.removeLast() }
        guard !FileSystem.exists(destination) else { throw OutputError.folderExists(path: destination) }
        guard FileSystem.isDirectory(FileSystem.directoryName(of: destination)) else { throw OutputError.noFolder(path: destination) }
        return destination
    }

    /// Removes what killed processes left in this folder, then creates the
    /// private directory, locked. It is made under a provisional name
    /// (`.coffer-new-…`, which nothing removes) and renamed to its own
    /// once locked, so that no other process can take it for abandoned
    /// between the `mkdir` and the lock.
    /// - Throws: ``FileError``.
    func create() throws {
        let parent = try Directory.open(FileSystem.directoryName(of: path))
        Self.removeAbandoned(in: parent, prefix: prefix)
        let provisional = FileSystem.join(parent.path, FileSystem.temporaryName(prefix: ".coffer-new-"))
        guard mkdir(provisional, 0o700) == 0 else { throw FileError("mkdir", path: provisional) }
        let directory = try Directory.open(provisional, followingLink: false)
        guard directory.lockWithoutWaiting() else { throw FileError("flock", path: provisional) }
        try FileSystem.rename(provisional, to: path)
        held = directory
    }

    /// Removes every directory of `parent` named `prefix`… that a process
    /// killed mid-way left: a directory (not a link), owned by this user,
    /// mode 0700, that no live process holds locked. Its contents are
    /// removed through the locked descriptor, then its name if it still
    /// names an empty directory; anything else is left alone.
    private static func removeAbandoned(in parent: Directory, prefix: String) {
        guard let entries = try? parent.entries() else { return }
        for (name, kind) in entries where kind == .directory && name.hasPrefix(prefix) {
            guard let st = parent.status(of: name), st.st_uid == geteuid(), st.st_mode & 0o7777 == 0o700,
                  let abandoned = try? parent.openDirectory(name), abandoned.lockWithoutWaiting()
            else { continue }
            try? abandoned.removeContents()
            _ = unlinkat(parent.descriptor, name, AT_REMOVEDIR)
        }
    }

    /// Creates the file (0600) that will be published at `name` (a safe
    /// relative path, see ``RelativePath``), creating its folders. The
    /// caller writes it; ``publish(as:)`` makes it durable.
    func createFile(_ name: String) throws -> POSIXFile {
        let target = FileSystem.join(path, name)
        let directory = FileSystem.directoryName(of: target)
        try FileSystem.createDirectories(directory, mode: 0o700)
        if unnamed.count < unnamedLimit, let anonymous = POSIXFile.createUnnamed(in: directory, mode: 0o600) {
            unnamed.append((anonymous, target))
            return anonymous
        }
        return try POSIXFile.createExclusive(target, mode: 0o600)
    }

    /// Writes a small file (0600) at the top of the directory.
    func store(_ name: String, _ bytes: [UInt8]) throws {
        let file = try createFile(name)
        try bytes.withUnsafeBytes { try file.write($0) }
    }

    /// Makes every file durable (one `syncfs` of the file system, not one
    /// `fsync` per file), names the unnamed files, fsyncs their folders,
    /// renames the directory to `destination` and makes that durable.
    func publish(as destination: String) throws {
        try POSIXFile.openDirectory(path).syncFileSystem()
        var directories: Set<String> = []
        for (file, target) in unnamed {
            try file.linkUnnamed(to: target)
            directories.insert(FileSystem.directoryName(of: target))
        }
        unnamed.removeAll()
        for directory in directories.sorted() { try FileSystem.syncDirectory(directory) }
        try FileSystem.syncDirectory(path)
        try FileSystem.rename(path, to: destination)
        published = true
        try FileSystem.syncDirectory(FileSystem.directoryName(of: destination))
    }
}

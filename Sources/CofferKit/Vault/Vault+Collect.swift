#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// What `coffer gc` removed, or with `--plan` would remove.
public struct CollectionReport: Codable, Sendable, Equatable {
    /// True if nothing was deleted.
    public var planned: Bool
    /// Objects no current document version references, deleted.
    public var objectsRemoved = 0
    /// Their bytes.
    public var bytesFreed: UInt64 = 0
    /// Unreferenced objects younger than the grace period, kept (a seal may be about to commit them).
    public var objectsKeptRecent = 0
    /// Temporary files left by interrupted writers, deleted.
    public var temporaryFilesRemoved = 0
    /// Objects still referenced.
    public var objectsReferenced = 0
    /// Wall-clock seconds.
    public var seconds: Double = 0
}

extension Vault {
    /// The default grace period: an unreferenced object younger than this
    /// may belong to a seal, re-key or backup restore still running.
    public static let defaultGracePeriod: TimeInterval = 3600

    /// Deletes objects that no document's current version references
    /// (superseded generations after a re-key, content of seals that were
    /// interrupted before their commit) and stray temporary files, if they
    /// are older than `grace`. Administrators only; recorded in the ledger.
    ///
    /// It holds the vault's lock exclusively (``VaultLock``) while it lists
    /// and deletes: it waits until no other process has the vault open,
    /// and other commands wait for it. So a seal between its first object
    /// and its commit, or an `open` reading a generation a re-key has just
    /// superseded, never loses an object. The grace period stays as a second
    /// guard (and the only one where the lock file cannot be created), and
    /// the state is read again, after the listing, before anything is deleted.
    public func collectGarbage(grace: TimeInterval = defaultGracePeriod, plan: Bool) throws -> CollectionReport {
        try requireAdministrator("collect garbage")
        guard let lock else { return try collect(grace: grace, plan: plan) }
        return try lock.exclusively { try collect(grace: grace, plan: plan) }
    }

    private func collect(grace: TimeInterval, plan: Bool) throws -> CollectionReport {
        let started = Date()
        var report = CollectionReport(planned: plan)
        let cutoff = started.addingTimeInterval(-grace).timeIntervalSince1970
        var files: [(path: String, id: ObjectID?, size: UInt64, recent: Bool)] = []
        // Regular files in real fan-out directories only: a link planted in the tree is never followed.
        try objects.forEachEntry { path, id, st in
            files.append((path, id, UInt64(st.st_size), Double(st.st_mtim.tv_sec) >= cutoff))
        }
        // The state after the listing: anything committed meanwhile is referenced.
        try refresh()
        let referenced = Set(state.liveObjects)
        report.objectsReferenced = referenced.count
        var doomed: [String] = []
        for file in files where !(file.id.map(referenced.contains) ?? false) {
            let isObject = file.id != nil
            if file.recent {
                if isObject { report.objectsKeptRecent += 1 }
                continue
            }
            if isObject {
                report.objectsRemoved += 1
                report.bytesFreed += file.size
            } else {
                report.temporaryFilesRemoved += 1
            }
            doomed.append(file.path)
        }
        if !plan && !doomed.isEmpty {
            // Recorded before anything is deleted: a deletion never goes unrecorded.
            let counts = report
            try commit { _ in
                [.garbageCollected(GarbageCollected(objects: counts.objectsRemoved, bytes: counts.bytesFreed, temporaryFiles: counts.temporaryFilesRemoved))]
            }
            try objects.remove(doomed)
        }
        report.seconds = Date().timeIntervalSince(started)
        return report
    }
}

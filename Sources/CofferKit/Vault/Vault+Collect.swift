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
    /// It holds the vault's lock exclusively (`VaultLock`) while it lists
    /// and deletes: it waits until no other process has the vault open,
    /// and other commands wait for it. So a seal between its first object
    /// and its commit, or an `open` reading a generation a re-key has just
    /// superseded, never loses an object. The grace period stays as a second
    /// guard (and the only one where the lock file cannot be created), and
    /// the state is read again after the listing: if anything was committed
    /// meanwhile, the store is walked again, and the `gc` entry commits only
    /// on the head the walk was planned against.
    public func collectGarbage(grace: TimeInterval = defaultGracePeriod, plan: Bool) throws -> CollectionReport {
        guard let objects = objects as? any SweepableObjectStore else { throw VaultError.notPermitted("this vault's object store cannot be listed") }
        try requireAdministrator("collect garbage")
        // A shared vault's lock spans every client (an advisory lock in its database).
        if let ledger = catalog as? PostgresLedger { return try ledger.exclusively { try collect(grace: grace, plan: plan, in: objects) } }
        guard let lock else { return try collect(grace: grace, plan: plan, in: objects) }
        return try lock.exclusively { try collect(grace: grace, plan: plan, in: objects) }
    }

    private func collect(grace: TimeInterval, plan: Bool, in objects: any SweepableObjectStore) throws -> CollectionReport {
        let started = Date()
        let cutoff = started.addingTimeInterval(-grace).timeIntervalSince1970
        for attempt in 1... {
            try refresh()
            let head = state.head
            let (surveyed, doomed) = try survey(of: objects, olderThan: cutoff)
            var report = surveyed
            report.planned = plan
            // Anything committed while the store was walked (only possible
            // without the lock) may reference what the walk found unreferenced:
            // walk again, from the newer state.
            try refresh()
            guard state.head == head else {
                guard attempt < Self.planningAttempts else { throw VaultError.changedConcurrently("documents were committed while gc walked the store") }
                continue
            }
            if !plan && !doomed.isEmpty {
                // Recorded before anything is deleted: a deletion never goes unrecorded.
                let counts = report
                try commit { draft in
                    guard draft.state.head == head else { throw VaultError.changedConcurrently("documents were committed while gc walked the store") }
                    try draft.append(.garbageCollected(GarbageCollected(
                        objects: counts.objectsRemoved, bytes: counts.bytesFreed, temporaryFiles: counts.temporaryFilesRemoved)))
                }
                try objects.remove(doomed)
            }
            report.seconds = Date().timeIntervalSince(started)
            return report
        }
        preconditionFailure("unreachable")
    }

    /// What the store holds that no kept revision references: objects
    /// and temporary files last modified before `cutoff` (doomed, by path
    /// relative to the store), and younger ones (counted, kept), compared a
    /// fan-out directory at a time (``ObjectReferences/unreferenced(in:modifiedBefore:)``).
    private func survey(of objects: any SweepableObjectStore, olderThan cutoff: TimeInterval) throws -> (report: CollectionReport, doomed: [String]) {
        let found = try ObjectReferences(usedBy: state.documents).unreferenced(in: objects, modifiedBefore: cutoff)
        var report = CollectionReport(planned: true)
        report.objectsRemoved = found.objects
        report.bytesFreed = found.bytes
        report.objectsKeptRecent = found.objectsKeptRecent
        report.temporaryFilesRemoved = found.temporaryFiles
        report.objectsReferenced = found.referenced
        return (report, found.doomed)
    }
}

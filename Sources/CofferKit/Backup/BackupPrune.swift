import Foundation

/// What `coffer backup prune` removed, or with `--plan` would remove.
public struct PruneReport: Codable, Sendable, Equatable {
    /// True if nothing was deleted.
    public var planned: Bool
    /// The snapshots kept, oldest first.
    public var kept: [String] = []
    /// The snapshots removed, oldest first.
    public var removed: [String] = []
    /// Folders of interrupted backups (no manifest) removed.
    public var interruptedRemoved = 0
    /// Objects no kept snapshot references, deleted.
    public var objectsRemoved = 0
    /// Their bytes.
    public var bytesFreed: UInt64 = 0
    /// Temporary files left by interrupted backups, deleted.
    public var temporaryFilesRemoved = 0
    /// Objects the kept snapshots reference.
    public var objectsKept = 0
}

extension BackupStore {
    /// Keeps the newest `keep` complete snapshots and deletes the others,
    /// the folders of interrupted backups, and every object and temporary
    /// file in `DEST/objects` that no kept snapshot references.
    ///
    /// Holds the directory's exclusive lock, so no backup is writing. The
    /// kept snapshots' references come from replaying each one's ledger
    /// (chain, signatures, authorisation); if any of them fails, nothing is
    /// deleted. Old manifests go first, objects last: an interruption at
    /// any point leaves every kept snapshot whole, and the next prune
    /// finishes the job.
    /// - Throws: ``BackupError/noSnapshot(_:)``; a ledger or catalog error
    ///   from a kept snapshot.
    public static func prune(_ destination: String, keep: Int, plan: Bool) throws -> PruneReport {
        precondition(keep >= 1, "prune keeps at least one snapshot")
        let lock = try lock(try existing(destination), exclusive: true)
        defer { withExtendedLifetime(lock) {} }
        let snapshots = FileSystem.join(destination, "snapshots")
        let complete = try list(destination).map(\.id)
        guard !complete.isEmpty else { throw BackupError.noSnapshot("\(destination) holds no complete snapshot") }
        var report = PruneReport(planned: plan)
        report.kept = Array(complete.suffix(keep))
        report.removed = Array(complete.dropLast(keep))
        let interrupted = try FileSystem.contents(of: snapshots).filter { !complete.contains($0) }.sorted()
        report.interruptedRemoved = interrupted.count

        // Each kept snapshot's references, from its replay (saved to a
        // temporary store as it goes), into one set of temporary files; the
        // store is then compared with them a fan-out directory at a time, as `gc` does.
        let references = try ObjectReferences()
        for id in report.kept {
            let (descriptor, catalog) = try Vault.openStorage(at: FileSystem.join(snapshots, id))
            let state = try Vault.replay(
                catalog: catalog, descriptor: descriptor, trustedThrough: nil,
                spillingTo: LedgerVerifier.Spill(store: try StateStore.temporary(vault: descriptor.vault)))
            try references.insert(objectsOf: state.documents, referencedBy: { _, _ in "" })
        }
        let store = ObjectStore(root: FileSystem.join(destination, "objects"))
        let found = try references.unreferenced(in: store)
        report.objectsKept = found.referenced
        report.objectsRemoved = found.objects
        report.bytesFreed = found.bytes
        report.temporaryFilesRemoved = found.temporaryFiles
        if plan { return report }

        // Manifests first: from then on these are interrupted backups, which every command ignores.
        for id in report.removed {
            let folder = FileSystem.join(snapshots, id)
            FileSystem.remove(FileSystem.join(folder, "manifest.json"))
            try FileSystem.syncDirectory(folder)
        }
        for name in report.removed + interrupted {
            try FileManager.default.removeItem(atPath: FileSystem.join(snapshots, name))
        }
        try FileSystem.syncDirectory(snapshots)
        // Through no link: a fan-out directory swapped for one deletes nothing elsewhere.
        try store.remove(found.doomed)
        return report
    }
}

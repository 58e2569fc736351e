#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// What each identity has seen of each vault, in small files under the
/// user's state directory:
///
/// - the last ledger head it verified (`<fingerprint>/<vault id>.head`:
///   `<sequence> <hash hex> <canonical vault path>`, the path where it was
///   seen): a vault whose ledger no longer contains that head (rolled back
///   to an older copy, or forked) is reported instead of trusted
///   (``HeadConflict``, which uses the path to tell a rollback of this
///   directory from a record made on a copy elsewhere), and entries up to
///   it need no second signature check, since their hashes chain to it;
/// - the vault state it verified (`<fingerprint>/<vault id>.sqlite`, see
///   ``StateStore``), from which the next open replays only newer entries
///   and reads only the documents it needs;
/// - which vault it met at each directory (`<fingerprint>/paths/<hash of the
///   canonical path>`): a different vault swapped in at a known path (one an
///   attacker administers, say) is reported instead of used.
struct HeadStore {
    /// The last verified head.
    struct Head: Equatable {
        /// Sequence number of the entry.
        let sequence: Int64
        /// Its hash.
        let hash: [UInt8]
        /// The canonical path of the vault directory where it was seen (nil
        /// in a record written before paths were kept).
        var seenAt: String? = nil
    }

    let directory: String

    private func headPath(fingerprint: String, vault: VaultID) -> String {
        FileSystem.join(FileSystem.join(directory, fingerprint), vault.description + ".head")
    }

    /// The files of `fingerprint`'s state store of `vault` (the database and
    /// SQLite's companions), and the whole-state checkpoint earlier versions wrote.
    private func stateFiles(fingerprint: String, vault: VaultID) -> [String] {
        let base = FileSystem.join(FileSystem.join(directory, fingerprint), vault.description)
        return [".sqlite", ".sqlite-wal", ".sqlite-shm", ".state"].map { base + $0 }
    }

    /// `identity`'s state store of `vault` (created empty if it has none).
    /// A checkpoint file of an earlier version is removed: the ledger is
    /// replayed once into the store instead.
    /// - Throws: ``FileError``, ``DatabaseError``.
    func stateStore(of identity: Identity, vault: VaultID) throws -> StateStore {
        let files = stateFiles(fingerprint: identity.fingerprint, vault: vault)
        if FileSystem.exists(files[3]) { FileSystem.remove(files[3]) }
        return try StateStore(path: files[0], identity: identity, vault: vault)
    }

    private func pinPath(fingerprint: String, vaultPath: String) -> String {
        let key = Hex.encode(Array(Blake2b.hash(Array(FileSystem.realPath(vaultPath).utf8)).prefix(16)))
        return FileSystem.join(FileSystem.join(FileSystem.join(directory, fingerprint), "paths"), key)
    }

    /// The remembered head, if any.
    /// - Throws: ``VaultError/integrity(_:)`` if the file exists but is damaged
    ///   (silently forgetting it would disable rollback detection).
    func head(fingerprint: String, vault: VaultID) throws -> Head? {
        let file = headPath(fingerprint: fingerprint, vault: vault)
        guard let text = try Self.readSmall(file, limit: 8192) else { return nil }
        let parts = text.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, let seq = Int64(parts[0]), seq >= 0, let hash = Hex.decode(String(parts[1])), hash.count == 32 else {
            throw VaultError.integrity("the remembered ledger head \(file) is damaged; run `coffer state reset --vault DIR` to trust the vault as it is now")
        }
        return Head(sequence: seq, hash: hash, seenAt: parts.count == 3 ? String(parts[2]) : nil)
    }

    /// Every identity's remembered head for `vault` in this state directory,
    /// for keyless checks.
    func heads(vault: VaultID) throws -> [(fingerprint: String, head: Head)] {
        guard FileSystem.isDirectory(directory) else { return [] }
        return try FileSystem.contents(of: directory).sorted().compactMap { fingerprint in
            try head(fingerprint: fingerprint, vault: vault).map { (fingerprint, $0) }
        }
    }

    /// Records a newer head (never moves backwards), with the canonical
    /// path of the vault directory where it was seen.
    func remember(_ head: Head, fingerprint: String, vault: VaultID) throws {
        if let old = try? self.head(fingerprint: fingerprint, vault: vault), old.sequence >= head.sequence { return }
        let file = headPath(fingerprint: fingerprint, vault: vault)
        try FileSystem.createDirectories(FileSystem.directoryName(of: file))
        let seenAt = head.seenAt.map { " " + $0.replacingOccurrences(of: "\n", with: "?") } ?? ""
        try AtomicFile.write(Array("\(head.sequence) \(Hex.encode(head.hash))\(seenAt)\n".utf8), to: file, overwrite: true)
    }

    /// Forgets `fingerprint`'s remembered head and checkpoint of `vault`
    /// (`coffer state reset`): the next open trusts the vault as it is,
    /// after replaying and checking its whole ledger.
    /// - Returns: the head forgotten, if there was one (nil also for a damaged record, which is removed).
    @discardableResult
    func forget(fingerprint: String, vault: VaultID) throws -> Head? {
        let old = try? head(fingerprint: fingerprint, vault: vault)
        let file = headPath(fingerprint: fingerprint, vault: vault)
        for path in [file] + stateFiles(fingerprint: fingerprint, vault: vault) where FileSystem.exists(path) {
            guard unlink(path) == 0 else { throw FileError("unlink", path: path) }
        }
        if FileSystem.isDirectory(FileSystem.directoryName(of: file)) { try FileSystem.syncDirectory(FileSystem.directoryName(of: file)) }
        return old
    }

    /// Checks that the vault at `vaultPath` is the one this identity met
    /// there before (if it met one).
    /// - Returns: whether a pin exists.
    /// - Throws: ``VaultError/replaced(path:expected:found:)``.
    @discardableResult
    func checkPin(fingerprint: String, vaultPath: String, vault: VaultID) throws -> Bool {
        guard let text = try Self.readSmall(pinPath(fingerprint: fingerprint, vaultPath: vaultPath)) else { return false }
        guard text == vault.description else {
            throw VaultError.replaced(path: vaultPath, expected: text, found: vault.description)
        }
        return true
    }

    /// Checks every identity's pin for `vaultPath` in this state directory (keyless).
    func checkAllPins(vaultPath: String, vault: VaultID) throws {
        guard FileSystem.isDirectory(directory) else { return }
        for fingerprint in try FileSystem.contents(of: directory).sorted() {
            if let text = try Self.readSmall(pinPath(fingerprint: fingerprint, vaultPath: vaultPath)), text != vault.description {
                throw VaultError.replaced(path: vaultPath, expected: text, found: vault.description)
            }
        }
    }

    /// Remembers that `vault` lives at `vaultPath` (a new vault replaces any earlier one there).
    func pin(fingerprint: String, vaultPath: String, vault: VaultID) throws {
        let file = pinPath(fingerprint: fingerprint, vaultPath: vaultPath)
        try FileSystem.createDirectories(FileSystem.directoryName(of: file))
        try AtomicFile.write(Array("\(vault)\n".utf8), to: file, overwrite: true)
    }

    /// A small text file's contents without surrounding whitespace; nil if it does not exist.
    private static func readSmall(_ path: String, limit: Int = 255) throws -> String? {
        do {
            return String(decoding: try FileSystem.readSmallFile(path, limit: limit), as: UTF8.self).trimmingWhitespace()
        } catch let error as FileError where error.kind == .notFound {
            return nil
        }
    }
}

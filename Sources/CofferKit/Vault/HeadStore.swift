/// What each identity has seen of each vault, in small files under the
/// user's state directory:
///
/// - the last ledger head it verified (`<fingerprint>/<vault id>.head`): a
///   vault whose ledger no longer contains that head (rolled back to an older
///   copy, or forked) is reported instead of trusted, and entries up to it
///   need no second signature check, since their hashes chain to it;
/// - a checkpoint of the vault state it verified (`<fingerprint>/<vault
///   id>.state`, see ``StateCheckpoint``), from which the next open replays
///   only newer entries;
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
    }

    let directory: String

    private func headPath(fingerprint: String, vault: VaultID) -> String {
        FileSystem.join(FileSystem.join(directory, fingerprint), vault.description + ".head")
    }

    private func checkpointPath(fingerprint: String, vault: VaultID) -> String {
        FileSystem.join(FileSystem.join(directory, fingerprint), vault.description + ".state")
    }

    /// The state `identity` checkpointed for `vault`, if it saved one that
    /// still authenticates (a damaged or foreign file is ignored: the
    /// ledger is then replayed from the start, which is always correct).
    func checkpoint(of identity: Identity, vault: VaultID) -> VaultState? {
        let path = checkpointPath(fingerprint: identity.fingerprint, vault: vault)
        guard let state = try? StateCheckpoint.read(at: path, key: StateCheckpoint.key(of: identity)), state.vaultID == vault else {
            return nil
        }
        return state
    }

    /// Saves `state` as `identity`'s checkpoint of its vault (mode 0600, atomically).
    func saveCheckpoint(_ state: VaultState, of identity: Identity) throws {
        let file = checkpointPath(fingerprint: identity.fingerprint, vault: state.vaultID)
        try FileSystem.createDirectories(FileSystem.directoryName(of: file))
        try AtomicFile.write(StateCheckpoint.encode(state, key: StateCheckpoint.key(of: identity)), to: file, overwrite: true)
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
        guard let text = try Self.readSmall(file) else { return nil }
        let parts = text.split(separator: " ")
        guard parts.count == 2, let seq = Int64(parts[0]), seq >= 0, let hash = Hex.decode(String(parts[1])), hash.count == 32 else {
            throw VaultError.integrity("the remembered ledger head \(file) is damaged; remove it to trust the vault as it is now")
        }
        return Head(sequence: seq, hash: hash)
    }

    /// Every identity's remembered head for `vault` in this state directory,
    /// for keyless checks.
    func heads(vault: VaultID) throws -> [(fingerprint: String, head: Head)] {
        guard FileSystem.isDirectory(directory) else { return [] }
        return try FileSystem.contents(of: directory).sorted().compactMap { fingerprint in
            try head(fingerprint: fingerprint, vault: vault).map { (fingerprint, $0) }
        }
    }

    /// Records a newer head (never moves backwards).
    func remember(_ head: Head, fingerprint: String, vault: VaultID) throws {
        if let old = try? self.head(fingerprint: fingerprint, vault: vault), old.sequence >= head.sequence { return }
        let file = headPath(fingerprint: fingerprint, vault: vault)
        try FileSystem.createDirectories(FileSystem.directoryName(of: file))
        try AtomicFile.write(Array("\(head.sequence) \(Hex.encode(head.hash))\n".utf8), to: file, overwrite: true)
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
    private static func readSmall(_ path: String) throws -> String? {
        do {
            return String(decoding: try FileSystem.readSmallFile(path, limit: 255), as: UTF8.self).trimmingWhitespace()
        } catch let error as FileError where error.kind == .notFound {
            return nil
        }
    }
}

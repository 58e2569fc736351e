/// Remembers, per identity and vault, the last ledger head this identity
/// verified, in a small file under the user's state directory. A vault
/// whose ledger no longer contains that head (rolled back to an older copy,
/// or replaced) is reported instead of trusted. Entries up to the remembered
/// head need no second signature check: their hashes chain to it.
struct HeadStore {
    /// The last verified head.
    struct Head: Equatable {
        /// Sequence number of the entry.
        let sequence: Int64
        /// Its hash.
        let hash: [UInt8]
    }

    let directory: String

    private func path(fingerprint: String, vault: VaultID) -> String {
        FileSystem.join(FileSystem.join(directory, fingerprint), vault.description + ".head")
    }

    /// The remembered head, if any.
    func head(fingerprint: String, vault: VaultID) -> Head? {
        guard let file = try? POSIXFile.openForReading(path(fingerprint: fingerprint, vault: vault)) else { return nil }
        var buffer = [UInt8](repeating: 0, count: 128)
        guard let count = try? buffer.withUnsafeMutableBytes({ try file.read(into: $0) }) else { return nil }
        let parts = String(decoding: buffer[..<count], as: UTF8.self).trimmingWhitespace().split(separator: " ")
        guard parts.count == 2, let seq = Int64(parts[0]), let hash = Hex.decode(String(parts[1])), hash.count == 32 else { return nil }
        return Head(sequence: seq, hash: hash)
    }

    /// Records a newer head (never moves backwards).
    func remember(_ head: Head, fingerprint: String, vault: VaultID) throws {
        if let old = self.head(fingerprint: fingerprint, vault: vault), old.sequence >= head.sequence { return }
        let file = path(fingerprint: fingerprint, vault: vault)
        try FileSystem.createDirectories(FileSystem.directoryName(of: file))
        try AtomicFile.write(Array("\(head.sequence) \(Hex.encode(head.hash))\n".utf8), to: file, overwrite: true)
    }
}

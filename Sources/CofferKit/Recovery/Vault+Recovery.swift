import Foundation

/// What `coffer recovery setup` made.
public struct RecoverySetup: Codable, Sendable, Equatable {
    /// The recovery identity's fingerprint (an administrator of the vault).
    public let recovery: String
    /// How many shares rebuild it.
    public let threshold: Int
    /// The share files written, share 1 first.
    public let files: [String]
}

/// What `coffer recovery use` did.
public struct RecoveryUse: Codable, Sendable, Equatable {
    /// The recovery identity that signed.
    public let recovery: String
    /// The administrator added.
    public let added: String
    /// The shares used (their numbers).
    public let sharesUsed: [Int]
    /// Shares given that were damaged, and why (ignored).
    public let damaged: [String]
}

extension Vault {
    /// Break-glass recovery, step 1 (administrators): makes a recovery
    /// identity, adds it as an administrator (signed `identity.add` and
    /// `admin.add` entries), and writes its seed as `count` Shamir shares
    /// into the new directory `directory` (0700), any `threshold` of which
    /// rebuild it: `share-N-of-COUNT.txt`, or, with one age recipient per
    /// share in `officers`, `share-N-of-COUNT.txt.age` encrypted to that
    /// officer (the stock `age -d` opens it). The seed exists only in locked
    /// memory and is wiped when this returns.
    /// - Throws: ``VaultError/notPermitted(_:)``, ``VaultError/invalidRequest(_:)``
    ///   (counts, officers), ``FileError`` (the directory exists), age errors for a bad recipient.
    public func setUpRecovery(shares count: Int, threshold: Int, into directory: String, officers: [String] = []) throws -> RecoverySetup {
        try requireAdministrator("set up recovery")
        guard (2...255).contains(count), (2...count).contains(threshold) else {
            throw VaultError.invalidRequest("recovery needs 2 ≤ threshold ≤ shares ≤ 255")
        }
        guard officers.isEmpty || officers.count == count else {
            throw VaultError.invalidRequest("give one officer recipient per share (\(count)), or none")
        }
        let recipients = try officers.map { try AgeRecipient.partner($0).recipient }
        try FileSystem.createNewPrivateDirectory(directory)
        let recovery = Identity.generate(name: "recovery")
        try addAdministrator(recovery.publicIdentity, name: "recovery-\(recovery.fingerprint.prefix(8))")
        let shares = SecretSharing.split(try recovery.localSecrets(for: "recovery").seed, count: count, threshold: threshold)
        let digests = shares.map { RecoveryShare.digest(recovery: recovery.fingerprint, number: Int($0.number), share: $0.bytes) }
        var files: [String] = []
        for (index, share) in shares.enumerated() {
            let file = RecoveryShare(
                vault: state.vaultID, recovery: recovery.fingerprint, number: Int(share.number), count: count, threshold: threshold, digests: digests,
                secret: share.bytes)
            var bytes = file.encoded()
            defer { Sodium.wipe(&bytes) }
            let name = "share-\(share.number)-of-\(count).txt" + (recipients.isEmpty ? "" : ".age")
            let path = FileSystem.join(directory, name)
            try AtomicFile.write(recipients.isEmpty ? bytes : try Age.encrypt(bytes, to: [recipients[index]]), to: path, overwrite: false)
            files.append(path)
        }
        return RecoverySetup(recovery: recovery.fingerprint, threshold: threshold, files: files)
    }

    /// Break-glass recovery, step 2: rebuilds the recovery identity from
    /// the share files `shareFiles` (their plaintext: an officer decrypts an
    /// age-encrypted share with `age -d`), opens the vault at `path` as it,
    /// and adds `newAdministrator` as an administrator in a signed entry.
    /// Damaged shares are named and left out while enough intact ones remain;
    /// the rebuilt seed is checked against the recovery identity's
    /// fingerprint, and wiped when this returns.
    /// - Throws: ``RecoveryError``, ``VaultError``, and the errors of opening the vault.
    public static func recover(
        vaultAt path: String, shareFiles: [[UInt8]], addingAdministrator newAdministrator: PublicIdentity, name: String?,
        stateDirectory: StateLocation = .standard
    ) throws -> RecoveryUse {
        let shares = try shareFiles.map { try RecoveryShare(parsing: $0) }
        guard let first = shares.first else { throw RecoveryError.notEnoughShares(have: 0, need: 2) }
        for share in shares where (share.vault, share.recovery, share.count, share.threshold) != (first.vault, first.recovery, first.count, first.threshold) {
            throw RecoveryError.mismatchedShares("share \(share.number) is for \(share.recovery) in vault \(share.vault), \(share.threshold) of \(share.count)")
        }
        // The digest list most files agree on; a file that lists others, or whose share does not match it, is damaged.
        let lists = Dictionary(grouping: shares, by: { $0.digests.map(Hex.encode).joined() })
        let agreed = lists.max { ($0.value.count, $0.key) < ($1.value.count, $1.key) }!.value[0].digests
        var damaged: [String] = []
        var intact: [Int: RecoveryShare] = [:]
        for share in shares {
            if share.digests != agreed {
                damaged.append("share \(share.number): its list of digests differs from the other shares'")
            } else if !share.matches(agreed[share.number - 1]) {
                damaged.append("share \(share.number): its secret does not match its digest")
            } else {
                intact[share.number] = share
            }
        }
        if intact.count < first.threshold, let reason = damaged.first { throw RecoveryError.damagedShare(reason) }
        guard intact.count >= first.threshold else { throw RecoveryError.notEnoughShares(have: intact.count, need: first.threshold) }
        let used = intact.keys.sorted().prefix(first.threshold)
        let seed = SecretSharing.combine(used.map { SecretSharing.Share(number: UInt8($0), bytes: intact[$0]!.secret) })
        let recovery = Identity(seed: seed, name: "recovery")
        guard recovery.fingerprint == first.recovery else { throw RecoveryError.wrongSeed }
        let found = try Vault.readDescriptor(at: path).vault
        guard found == first.vault else { throw RecoveryError.mismatchedShares("the shares are for vault \(first.vault), and \(path) holds vault \(found)") }
        let vault = try Vault.open(at: path, identity: recovery, stateDirectory: stateDirectory)
        try vault.addAdministrator(newAdministrator, name: name)
        return RecoveryUse(recovery: recovery.fingerprint, added: newAdministrator.fingerprint, sharesUsed: Array(used), damaged: damaged)
    }
}

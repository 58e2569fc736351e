import CSodium
import Foundation

@_spi(Fuzzing)
extension FuzzEntryPoints {
    /// Valid inputs for every fuzz target, written by the product's own code:
    /// a real vault in a scratch folder (sealed document, role, share, a
    /// member joining by a version-1 public identity and publishing its
    /// X-Wing key, bundle, backup), its ledger rows and state checkpoint, identity
    /// files, minisign keys and signatures, age files (X25519 and scrypt,
    /// binary and armored) and tar archives. `scripts/fuzz --seeds` commits
    /// them under `Fuzz/corpus/<target>/`.
    /// - Parameter scratch: an empty folder to build the vault in.
    /// - Returns: the seeds by target name.
    /// - Throws: the errors of the operations it runs.
    public static func seeds(scratch: String) throws -> [String: [[UInt8]]] {
        var seeds: [String: [[UInt8]]] = [:]
        let passphrase = Array("correct horse".utf8).withUnsafeBytes { SecureBytes(copying: $0) }
        let owner = Identity.generate(name: "owner")
        let bob = Identity.generate(name: "bob")
        let vaultPath = FileSystem.join(scratch, "vault")
        let state = FileSystem.join(scratch, "state")
        let input = FileSystem.join(scratch, "report.txt")
        try Data("quarterly figures\n".utf8).write(to: URL(fileURLWithPath: input))

        // A vault with a document shared with a role, a bundle and a backup.
        let vault = try Vault.create(at: vaultPath, creator: owner, stateDirectory: .directory(state))
        _ = try vault.seal(paths: [input], name: "report.txt")
        _ = try vault.createRole(named: "finance", clearance: nil)
        _ = try vault.addMember(bob.publicIdentity, name: "bob", toRole: "finance")
        _ = try vault.share(["report.txt"], withRole: "finance")
        // Carol joins by her version-1 public identity; her first command publishes her X-Wing key (`identity.publish`).
        let carol = Identity.generate(name: "carol")
        _ = try vault.addMember(try PublicIdentity(carol.publicIdentity.classicDescription), name: "carol", toRole: "finance")
        try Vault.open(at: vaultPath, identity: carol, stateDirectory: .directory(state))
            .open("report.txt", to: .file(path: FileSystem.join(scratch, "carol.txt"), overwrite: false))
        let manifest = try vault.createBundle(BundleRequest(
            documents: ["report.txt"], recipients: [bob.publicIdentity.ageRecipient],
            output: .file(path: FileSystem.join(scratch, "bundle.age"), overwrite: false)))
        seeds["bundle-manifest"] = [try manifest.encoded()]
        // The document's manifest object, and the same as a vault before schema 4 wrote it (format version 1).
        guard let sealed = vault.state.documents.values.first(where: { _ in true }) else { throw VaultError.documentNotFound("report.txt") }
        let manifestObject = try vault.objects.read(sealed.current.manifest)
        seeds["content-manifest"] = [manifestObject, Array(manifestObject[..<4]) + [Manifest.formatVersion(for: .blake2b256)] + manifestObject[5...]]
        let backup = try vault.backup(to: FileSystem.join(scratch, "backup"))
        let snapshot = FileSystem.join(FileSystem.join(FileSystem.join(scratch, "backup"), "snapshots"), backup.snapshot.id)
        seeds["backup-manifest"] = [try FileSystem.readSmallFile(FileSystem.join(snapshot, "manifest.json"), limit: 1 << 20)]

        // A second document, deleted: a `document.delete` entry and a deleted record.
        _ = try vault.seal(paths: [input], name: "erased.txt")
        _ = try vault.delete(["erased.txt"], plan: false)

        // A hold, a key-age policy and a recovery set-up: their entries, and the share files.
        _ = try vault.hold(["report.txt"], reason: "a matter")
        try vault.setKeyAgePolicy(role: "finance", label: nil, maxKeyAge: 90 * 86_400)
        let shares = try vault.setUpRecovery(shares: 3, threshold: 2, into: FileSystem.join(scratch, "recovery"))
        seeds["recovery-share"] = try shares.files.map { try FileSystem.readSmallFile($0, limit: RecoveryShare.maximumFileSize) }

        // The unlock agent's frames: a request of each kind, and the answers a client reads.
        let digest = [UInt8](repeating: 0xa5, count: 32)
        let hello = AgentResponse.Hello(name: owner.name, publicIdentity: owner.publicIdentity.description)
        seeds["agent-message"] = [
            AgentRequest.Operation.hello, .sign(Array("a ledger entry".utf8)), .openRoleSeal(seal: [UInt8](repeating: 7, count: 80), associatedData: [1, 2, 3]),
            .stateKeys, .lock,
        ].map { AgentRequest(fileDigest: digest, operation: $0).encoded } + [
            AgentResponse(status: .ok, payload: hello.encoded).encoded, AgentResponse(status: .otherIdentity, payload: []).encoded,
        ]

        // Object-reference files: one record, and records of both hash functions with a repeat.
        let blake = try ObjectID(bytes: [UInt8](repeating: 0x5c, count: ObjectID.byteCount), hash: .blake2b256)
        let sha = try ObjectID(bytes: [UInt8](repeating: 0x5c, count: ObjectID.byteCount - 1) + [1], hash: .sha256)
        seeds["object-references"] = [
            ObjectReferences.record(sha, referencedBy: ""),
            ObjectReferences.record(blake, referencedBy: "document 0f (generation 1)") + ObjectReferences.record(sha, referencedBy: "x")
                + ObjectReferences.record(blake, referencedBy: "again"),
        ]

        // The ledger as stored: bodies, and rows (see `catalogRow`).
        let catalog = try Catalog.open(at: Vault.catalogPath(vaultPath))
        let entries = try catalog.ledgerEntries()
        seeds["ledger-entry"] = entries.map(\.body)
        seeds["catalog-row"] = entries.map { entry in
            var w = ByteWriter()
            w.write(UInt8(0b11_11_11_01))  // seq integer; body, signature and hash blobs
            w.write(UInt64(bitPattern: entry.sequence))
            w.write(entry.signature)
            w.write(entry.hash)
            w.write(entry.body)
            return w.bytes
        } + entries.compactMap { entry in
            switch entry.contents.event {
            case .roleRewrapped(let batch), .documentsShared(let batch): Array(batch.records)
            default: nil
            }
        }

        // The owner's saved state: its core, and each document's record.
        let reopened = try Vault.open(at: vaultPath, identity: owner, stateDirectory: .directory(state))
        seeds["state-checkpoint"] = [[0] + StateCodec.encodeCore(reopened.state)] + reopened.state.documents.recordsInSealOrder.map { [1] + StateCodec.encodeDocument($0) }

        seeds["identity-file"] = [
            try IdentityFile.encode(owner, passphrase: nil),
            try IdentityFile.encode(bob, passphrase: passphrase, limits: .minimum),
        ]

        let message = Array("a signed file\n".utf8)
        let signature = try owner.minisignSignature(prehash: MinisignPrehash(of: message), trustedComment: "timestamp:0\tfile:a.txt")
        seeds["minisign-key"] = [owner.publicIdentity.minisignKey.fileContents, Array(owner.publicIdentity.minisignKey.base64.utf8)]
        seeds["minisign-signature"] = [signature.fileContents]

        var binary: [[UInt8]] = []
        var armored: [[UInt8]] = []
        let recipients: [[AgeRecipient]] = [
            [.x25519(try AgeX25519Recipient(bob.publicIdentity.ageRecipient))],
            [.x25519(try AgeX25519Recipient(bob.publicIdentity.ageRecipient)), .x25519(try AgeX25519Recipient(owner.publicIdentity.ageRecipient))],
            [.scrypt(passphrase: passphrase, workFactor: 10)],
        ]
        for (index, to) in recipients.enumerated() {
            for armor in [false, true] {
                var file: [UInt8] = []
                let encryptor = try AgeEncryptor(recipients: to, armored: armor, sink: AgeClosureSink { file += $0 })
                try encryptor.write([UInt8](repeating: UInt8(index), count: 100 * index))
                try encryptor.finish()
                if armor { armored.append(file) } else { binary.append(file) }
            }
        }
        seeds["age-header"] = binary
        seeds["age-armor"] = armored

        // age-keygen's format, a recipients file, and the key file encrypted by `age -p` (binary and armored).
        let secret = Bech32.encode(hrp: "AGE-SECRET-KEY-", data: Array(repeating: 7, count: 32)).uppercased()
        let keyFile = Array("# created: 2026-12-04T00:00:00Z\n# public key: \(try AgeX25519Identity(secret).recipient)\n\(secret)\n".utf8)
        // And an OpenSSH ed25519 key (its private file and .pub line), with an age file to it.
        let (sshKey, sshLine) = openSSHKeyFile()
        seeds["age-key-file"] = [
            keyFile,
            Array("# partners\n\(bob.publicIdentity.ageRecipient)\r\n\(owner.publicIdentity.description)\n\(sshLine)\n".utf8),
            try Age.encrypt(keyFile, to: [.scrypt(passphrase: passphrase, workFactor: 10)]),
            try Age.encrypt(keyFile, to: [.scrypt(passphrase: passphrase, workFactor: 10)], armored: true),
            sshKey,
        ]
        seeds["age-header", default: []].append(try Age.encrypt(Array("to an ssh key".utf8), to: [try AgeRecipient.parse(sshLine)]))
        // A post-quantum key file, and an age file to its recipient.
        let pqSecret = Bech32.encode(hrp: "AGE-SECRET-KEY-PQ-", data: Array(repeating: 9, count: 32)).uppercased()
        let pqRecipient = try AgeHybridIdentity(pqSecret).recipient()
        seeds["age-key-file", default: []].append(Array("# public key: \(pqRecipient)\n\(pqSecret)\n".utf8))
        seeds["age-header", default: []].append(try Age.encrypt(Array("post-quantum".utf8), to: [.hybrid(pqRecipient)]))

        var archives: [[UInt8]] = []
        for files in [
            [("MANIFEST.json", try manifest.encoded()), ("report.txt", Array("quarterly figures\n".utf8))],
            [("reports/" + String(repeating: "long-name-", count: 12) + ".txt", [UInt8](repeating: 0x41, count: 600)), ("empty", [])],
        ] {
            var archive: [UInt8] = []
            let tar = TarWriter { archive += $0 }
            for (name, bytes) in files {
                try tar.beginFile(name: name, size: UInt64(bytes.count))
                try bytes.withUnsafeBytes { try tar.write($0) }
                try tar.endFile()
            }
            try tar.finish()
            archives.append(archive)
        }
        seeds["bundle-tar"] = archives
        return seeds
    }

    /// A throw-away OpenSSH ed25519 private key file, unencrypted, as
    /// `ssh-keygen -t ed25519 -N ""` writes it, and its `.pub` line.
    private static func openSSHKeyFile() -> (privateFile: [UInt8], publicLine: String) {
        var publicKey = [UInt8](repeating: 0, count: 32), secretKey = [UInt8](repeating: 0, count: 64)
        crypto_sign_keypair(&publicKey, &secretKey)
        let type = Array(SSHWire.ed25519.utf8)
        let wirePublic = SSHWire.encode([type, publicKey])
        let check = Sodium.randomBytes(4)
        var section = check + check + SSHWire.encode([type, publicKey, secretKey, Array("fuzz seed".utf8)])
        section += (0..<((8 - section.count % 8) % 8)).map { UInt8($0 + 1) }
        let blob = Array("openssh-key-v1\0".utf8) + SSHWire.encode([Array("none".utf8), Array("none".utf8), []])
            + [0, 0, 0, 1] + SSHWire.encode([wirePublic, section])
        let body = Base64.encode(blob)
        let lines = stride(from: 0, to: body.count, by: 70).map { String(body.dropFirst($0).prefix(70)) }
        let file = ([AgeSSHEd25519Identity.beginLine] + lines + ["-----END OPENSSH PRIVATE KEY-----", ""]).joined(separator: "\n")
        return (Array(file.utf8), "ssh-ed25519 \(Base64.encode(wirePublic)) fuzz seed")
    }
}

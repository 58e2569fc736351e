import Foundation

/// One entry point per parser of untrusted bytes, for the libFuzzer targets
/// under `Fuzz/` (see docs/TESTING.md). Each runs the parser the product uses
/// on `bytes` and discards the result.
///
/// The contract every entry point checks: a parser either returns a value or
/// throws a ``CofferFailure`` (one of CofferKit's typed errors). Any other
/// error (a stray `DecodingError`, an untyped `NSError`) is reported with
/// `fatalError`, so that libFuzzer records it as a crash just like a trap,
/// an out-of-bounds access or a leak.
///
/// Not part of the product API: it is exported as SPI
/// (`@_spi(Fuzzing) import CofferKit`) only for the fuzz package.
@_spi(Fuzzing)
public enum FuzzEntryPoints {
    /// The entry points by target name: the names of `scripts/fuzz` and of
    /// the seed folders `Fuzz/corpus/<name>/`.
    public static let targets: [String: @Sendable ([UInt8]) -> Void] = [
        "age-header": ageHeader,
        "age-armor": ageArmor,
        "identity-file": identityFile,
        "age-key-file": ageKeyFile,
        "minisign-key": minisignPublicKey,
        "minisign-signature": minisignSignature,
        "bundle-tar": bundleTar,
        "bundle-manifest": bundleManifest,
        "ledger-entry": ledgerEntry,
        "state-checkpoint": stateCheckpoint,
        "backup-manifest": backupManifest,
        "catalog-row": catalogRow,
        "content-manifest": contentManifest,
        "recovery-share": recoveryShare,
        "agent-message": agentMessage,
        "object-references": objectReferences,
    ]

    /// A binary age v1 header (`AgeHeader.parse`), then each stanza read
    /// by its type (X25519, scrypt, ssh-ed25519, mlkem768x25519), as decryption does.
    /// - Parameter bytes: the start of an age file.
    public static func ageHeader(_ bytes: [UInt8]) {
        typed {
            let (header, _) = try AgeHeader.parse(bytes)
            for stanza in header.stanzas {  // by type, as AgeWrap.unwrap does; a refused stanza does not stop the others
                switch stanza.type {
                case AgeX25519Stanza.type: do { _ = try AgeX25519Stanza(stanza) } catch is AgeError {}
                case AgeScryptStanza.type: do { _ = try AgeScryptStanza(stanza) } catch is AgeError {}
                case AgeSSHEd25519Stanza.type: do { _ = try AgeSSHEd25519Stanza(stanza) } catch is AgeError {}
                case AgeHybridStanza.type: do { _ = try AgeHybridStanza(stanza) } catch is AgeError {}
                default: break
                }
            }
        }
    }

    /// An armored age file: the armor decoder, the header inside it, then
    /// the rest of the armored body to its END line, as `AgeDecryptor` reads it.
    /// - Parameter bytes: a whole armored file.
    public static func ageArmor(_ bytes: [UInt8]) {
        typed {
            var raw = AgeBufferedReader(source: AgeBytesSource(bytes))
            _ = AgeArmor.looksArmored(try raw.peek(AgeArmor.maxOutsideWhitespace + AgeArmor.beginLine.count))
            var reader = AgeBufferedReader(source: AgeArmorDecoder(reader: raw))
            _ = try AgeHeader.parse(from: &reader)
            var chunk = [UInt8](repeating: 0, count: 4096)
            while try chunk.withUnsafeMutableBytes({ try reader.readFull(into: $0) }) > 0 {}
        }
    }

    /// A Coffer identity file (`IdentityFile.decode`). An encrypted file is
    /// parsed up to the passphrase, which is refused, so that no Argon2id
    /// runs per input.
    /// - Parameter bytes: the file's contents.
    public static func identityFile(_ bytes: [UInt8]) {
        typed {
            _ = try IdentityFile.isEncrypted(bytes, path: "fuzz")
            _ = try IdentityFile.decode(bytes, path: "fuzz") { throw IdentityError.passphraseRequired(path: "fuzz") }
        }
    }

    /// A file given to `coffer age` as `-i` (age identities, a Coffer
    /// identity, an OpenSSH Ed25519 key, or an identity file encrypted by `age -p`, parsed up to its
    /// passphrase, which is refused so that no scrypt runs per input) and as
    /// `-R` (a recipients file).
    /// - Parameter bytes: the file's contents.
    public static func ageKeyFile(_ bytes: [UInt8]) {
        typed {
            _ = try AgeIdentity.parseFile(contents: SecureBytes.copying(bytes), path: "fuzz") {
                throw IdentityError.passphraseRequired(path: "fuzz")
            }
        }
        typed { _ = try AgeRecipient.parseRecipientsFile(bytes) }
    }

    /// A minisign public key file, and the same bytes as a key given on the
    /// command line (base64 or a `coffer1…` public identity).
    /// - Parameter bytes: the file's contents.
    public static func minisignPublicKey(_ bytes: [UInt8]) {
        typed { _ = try MinisignPublicKey(fileContents: bytes) }
        if let text = String(validating: bytes, as: UTF8.self) {
            typed { _ = try MinisignPublicKey(base64OrPublicIdentity: text) }
        }
    }

    /// A minisign signature file (`.minisig`).
    /// - Parameter bytes: the file's contents.
    public static func minisignSignature(_ bytes: [UInt8]) {
        typed { _ = try MinisignSignature(fileContents: bytes) }
    }

    /// A bundle's tar stream: every entry header (ustar and pax), the data of
    /// every other entry read to its end, the rest skipped by the next
    /// `next()`, as `coffer bundle open` reads and skips entries.
    /// - Parameter bytes: the archive.
    public static func bundleTar(_ bytes: [UInt8]) {
        typed {
            var offset = 0
            let tar = TarReader { buffer in
                let n = min(buffer.count, bytes.count - offset)
                if n > 0 { bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: n) } }
                offset += n
                return n
            }
            var data = [UInt8](repeating: 0, count: 4096)
            var index = 0
            while try tar.next() != nil {
                if index % 2 == 0 { while try data.withUnsafeMutableBytes({ try tar.read(into: $0) }) > 0 {} }
                index += 1
            }
        }
    }

    /// A document version's manifest object (`Manifest(parsing:)`), of
    /// either format version (segments named by SHA-256 or BLAKE2b-256).
    /// - Parameter bytes: the object's bytes.
    public static func contentManifest(_ bytes: [UInt8]) {
        typed { _ = try Manifest(parsing: bytes) }
    }

    /// A frame's contents on the unlock agent's socket, read by each side:
    /// as a request (the agent), as a response and, for a hello, its payload (a client).
    /// - Parameter bytes: one frame's contents.
    public static func agentMessage(_ bytes: [UInt8]) {
        typed { _ = try AgentRequest.parse(bytes) }
        typed {
            let response = try AgentResponse.parse(bytes)
            _ = try AgentResponse.Hello.parse(response.payload)
        }
    }

    /// The records of a temporary object-reference file
    /// (`ObjectReferences.parse`), as `gc`, `verify`, backups and copies read
    /// them back a fan-out directory at a time.
    /// - Parameter bytes: a file's contents.
    public static func objectReferences(_ bytes: [UInt8]) {
        typed { _ = try ObjectReferences.parse(bytes) }
    }

    /// A break-glass recovery share file (`RecoveryShare(parsing:)`), and
    /// its digest check when it parses.
    /// - Parameter bytes: the file's contents.
    public static func recoveryShare(_ bytes: [UInt8]) {
        typed {
            let share = try RecoveryShare(parsing: bytes)
            _ = share.matches(share.digests[share.number - 1])
        }
    }

    /// A bundle's `MANIFEST.json` (`BundleManifest.parse`).
    /// - Parameter bytes: the file's contents.
    public static func bundleManifest(_ bytes: [UInt8]) {
        typed { _ = try BundleManifest.parse(bytes) }
    }

    /// A ledger entry body (`LedgerEntry.init`, which decodes the header and
    /// the `LedgerEvent`), stored at row 0 with a zero signature (signatures
    /// are checked later, by the verifier), then the packed wraps of a
    /// `role.rewrap` or `document.share` event and the public identity of a
    /// `vault.create`, `identity.add` or `identity.publish` event (with its
    /// X-Wing key and binding signature) as replay parses them.
    /// - Parameter bytes: the JSON body.
    public static func ledgerEntry(_ bytes: [UInt8]) {
        typed {
            let entry = try LedgerEntry(sequence: 0, body: bytes, signature: [UInt8](repeating: 0, count: Ed25519.signatureByteCount))
            switch entry.contents.event {
            case .roleRewrapped(let batch), .documentsShared(let batch): _ = try PackedWrap.unpack(batch.records)
            case .vaultCreated(let p): _ = try PublicIdentity(p.creator)
            case .identityAdded(let p): _ = try PublicIdentity(p.identity)
            case .identityPublished(let p): _ = try PublicIdentity(p.identity)
            default: break
            }
        }
    }

    /// A part of an identity's saved state (``StateStore``), as it is parsed
    /// once its MAC has verified: the first byte 0 for the core, anything
    /// else for one document's record, then the bytes.
    /// - Parameter bytes: the selector byte and the part.
    public static func stateCheckpoint(_ bytes: [UInt8]) {
        typed {
            guard let selector = bytes.first else { return }
            var reader = ByteReader(Array(bytes.dropFirst()), what: "vault state")
            if selector == 0 { _ = try StateCodec.decodeCore(&reader) } else { _ = try StateCodec.decodeDocument(&reader) }
        }
    }

    /// A backup snapshot's `manifest.json` (`BackupStore.parseManifest`).
    /// - Parameter bytes: the file's contents.
    public static func backupManifest(_ bytes: [UInt8]) {
        typed { _ = try BackupStore.parseManifest(bytes, in: "fuzz") }
    }

    /// A row of the catalog's `ledger` table as `Catalog` reads it
    /// (`seq, body, signature, hash`, each column of any SQLite type), and
    /// the packed-wrap records of the catalog's wrap batches.
    ///
    /// Layout of `bytes`: one byte of column types (two bits per column:
    /// null, integer, text, blob), the 8-byte sequence, the 64-byte
    /// signature, the 32-byte hash, then the body; a text column holds the
    /// same bytes as UTF-8 where they are valid. The whole input is also
    /// unpacked as `PackedWrap` records.
    /// - Parameter bytes: the encoded row.
    public static func catalogRow(_ bytes: [UInt8]) {
        typed { _ = try PackedWrap.unpack(Data(bytes)) }
        guard let kinds = bytes.first else { return }
        var reader = ByteReader(Array(bytes.dropFirst()), what: "fuzz row")
        func column(_ index: Int, _ raw: [UInt8]) -> SQLValue {
            switch (kinds >> (2 * index)) & 3 {
            case 0: .null
            case 1: .integer(raw.reduce(0) { $0 << 8 | Int64($1) })
            case 2: String(validating: raw, as: UTF8.self).map { .text($0) } ?? .null
            default: .blob(raw)
            }
        }
        let seq = (try? reader.read(min(8, reader.remaining))) ?? []
        let signature = (try? reader.read(min(Ed25519.signatureByteCount, reader.remaining))) ?? []
        let hash = (try? reader.read(min(32, reader.remaining))) ?? []
        let body = (try? reader.read(reader.remaining)) ?? []
        let row = [column(0, seq), column(1, body), column(2, signature), column(3, hash)]
        typed { _ = try Catalog.entry(from: row) }
    }

    /// Runs `parse`; a thrown error must be one of CofferKit's typed errors.
    private static func typed(_ parse: () throws -> Void) {
        do {
            try parse()
        } catch is any CofferFailure {
            return
        } catch {
            fatalError("untyped error from a parser: \(type(of: error)): \(error)")
        }
    }
}

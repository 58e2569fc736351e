import Foundation

/// A vault's ledger exported for checking elsewhere (`coffer audit export`):
/// JSON lines, UTF-8. Line 1 is the header: `format`
/// (`coffer-audit-export-v1`), `vault`, `entries`, `head` (hex hash of the
/// last entry), `descriptor` (base64 of the signed vault descriptor file),
/// `identities` (every public identity the ledger names, with its name).
/// Each further line is one entry: `seq`, `hash` (hex), `body` (base64 of the
/// exact signed bytes) and `signature` (base64). The public keys that check
/// the signatures are inside the entries themselves (`vault.create`,
/// `identity.add`); the header's list is for readers, and is checked to agree.
/// The last line is the exporter's signature, `{"signature", "signer"}`:
/// Ed25519 by an identity of the vault over `"coffer-audit-export-v1\0" ‖
/// BLAKE2b-256(every byte before that line)`, so a shortened or edited
/// export, header included, does not check.
public enum AuditExport {
    static let format = "coffer-audit-export-v1"
    /// The longest line read when checking an export (an entry of a rotation of a million documents).
    static let maximumLine = 512 << 20

    struct Header: Codable {
        var format: String
        var vault: VaultID
        var entries: Int64
        var head: String
        var descriptor: Data
        var identities: [ExportedIdentity]
    }

    struct ExportedIdentity: Codable, Equatable {
        var identity: String
        var name: String

        init(identity: String, name: String) {
            self.identity = identity
            self.name = name
        }

        /// The identity an entry registers (`vault.create`'s creator, or `identity.add`), if any.
        init?(registeredBy event: LedgerEvent) {
            switch event {
            case .vaultCreated(let p): self.init(identity: p.creator, name: p.name)
            case .identityAdded(let p): self.init(identity: p.identity, name: p.name)
            default: return nil
            }
        }
    }

    struct Trailer: Codable {
        var signature: Data
        var signer: String
    }

    static let trailerPrefix = Array(#"{"signature":"#.utf8)

    static func signedMessage(digest: [UInt8]) -> [UInt8] { Array("\(format)\0".utf8) + digest }

    struct Line: Codable {
        var seq: Int64
        var hash: String
        var body: Data
        var signature: Data
    }

    /// Writes the export of the vault at `path` to `output`, after verifying
    /// the whole ledger (an export of a ledger that does not verify is refused).
    /// - Returns: the verification of what was exported.
    /// - Parameters:
    ///   - path: the vault.
    ///   - output: where the export goes.
    ///   - signer: the identity that signs the export (one of the vault's).
    public static func write(vaultAt path: String, to output: OutputTarget, signer: Identity) throws -> AuditVerification {
        let verification = try Audit.verify(vaultAt: path)
        if let failure = verification.failure { throw VaultError.integrity("the ledger does not verify, so it is not exported: \(failure.reason)") }
        let (descriptor, catalog, _) = try Vault.openCatalog(at: path, access: .readOnly)
        let descriptorBytes = try VaultDescriptor.readFile(inVault: path)
        var identities: [ExportedIdentity] = []
        try catalog.forEachLedgerEntry { entry in
            guard entry.sequence < verification.entries else { return }  // appended after the verification
            if let registered = ExportedIdentity(registeredBy: entry.contents.event) { identities.append(registered) }
        }
        guard identities.contains(where: { (try? PublicIdentity($0.identity))?.fingerprint == signer.fingerprint }) else {
            throw IdentityError.notInVault(fingerprint: signer.fingerprint)
        }
        let writer = try OutputWriter(output)
        let encoder = LedgerJSON.encoder
        let digest = Blake2b()
        func emit<T: Encodable>(_ value: T, signed: Bool = true) throws {
            let line = Array(try encoder.encode(value)) + [0x0A]
            if signed { digest.update(line) }
            try line.withUnsafeBytes { try writer.write($0) }
        }
        try emit(Header(
            format: format, vault: descriptor.vault, entries: verification.entries, head: verification.head,
            descriptor: Data(descriptorBytes), identities: identities))
        try catalog.forEachLedgerEntry { entry in
            guard entry.sequence < verification.entries else { return }  // entries appended meanwhile are not in this export
            try emit(Line(seq: entry.sequence, hash: Hex.encode(entry.hash), body: Data(entry.body), signature: Data(entry.signature)))
        }
        let signature = try signer.sign(signedMessage(digest: digest.finalize()))
        try emit(Trailer(signature: Data(signature), signer: signer.publicIdentity.description), signed: false)
        try writer.commit()
        return verification
    }

    /// Checks an export with no vault: the descriptor's signature, every
    /// entry's signature, hash link and authorisation from the first entry,
    /// the stored hashes, that the header's count, head and identities
    /// match what the entries establish, and the exporter's signature over
    /// it all by an identity of the vault (`signer`, if given, must be that
    /// identity: a `coffer1…` string or a fingerprint).
    public static func check(_ path: String, signer expectedSigner: String? = nil) throws -> AuditVerification {
        let file = try POSIXFile.openForReading(path)
        var lines = LineReader(file: file, limit: maximumLine)
        let decoder = LedgerJSON.decoder
        let digest = Blake2b()
        var trailer: Trailer?
        guard let first = try lines.next() else { throw FormatError.truncated("audit export") }
        digest.update(first + [0x0A])
        let header: Header
        do {
            header = try decoder.decode(Header.self, from: Data(first))
        } catch {
            throw FormatError.malformed("audit export", "the first line is not an export header")
        }
        guard header.format == format else { throw FormatError.malformed("audit export", "unknown format \(header.format)") }
        let descriptor = try VaultDescriptor.parse(Array(header.descriptor))
        guard descriptor.vault == header.vault else { throw FormatError.malformed("audit export", "the descriptor is for another vault") }
        var identities: [ExportedIdentity] = []
        var verification = try Audit.verify(vault: header.vault, descriptor: descriptor) { _, body in
            var expected: Int64 = 0
            while let line = try lines.next() {
                if line.starts(with: trailerPrefix) {
                    trailer = try? decoder.decode(Trailer.self, from: Data(line))
                    guard trailer != nil, try lines.next() == nil else {
                        throw LedgerError.malformed(sequence: expected, reason: "the export's signature line is malformed or not last")
                    }
                    break
                }
                digest.update(line + [0x0A])
                let parsed: Line
                do {
                    parsed = try decoder.decode(Line.self, from: Data(line))
                } catch {
                    throw LedgerError.malformed(sequence: expected, reason: "line \(expected + 2) of the export is not an entry")
                }
                let entry = try LedgerEntry(sequence: parsed.seq, body: Array(parsed.body), signature: Array(parsed.signature))
                guard Hex.encode(entry.hash) == parsed.hash else {
                    throw LedgerError.malformed(sequence: parsed.seq, reason: "the exported hash does not match the entry")
                }
                if let registered = ExportedIdentity(registeredBy: entry.contents.event) { identities.append(registered) }
                try body(entry)
                expected += 1
            }
        }
        if verification.isValid {
            var problem: String?
            if verification.entries != header.entries { problem = "the header says \(header.entries) entries, the export holds \(verification.entries)" }
            else if verification.head != header.head { problem = "the header's head does not match the last entry" }
            else if identities != header.identities { problem = "the header's identities do not match the ledger's" }
            else if let problemWithSignature = signatureProblem(trailer, digest: digest.finalize(), identities: identities, expected: expectedSigner) {
                problem = problemWithSignature
            }
            if let problem {
                verification = AuditVerification(
                    vault: verification.vault, entries: verification.entries, head: verification.head,
                    failure: AuditVerification.Failure(sequence: verification.entries, reason: problem))
            }
        }
        return verification
    }
}

extension AuditExport {
    /// Why the trailer does not sign the export, or nil if it does.
    fileprivate static func signatureProblem(_ trailer: Trailer?, digest: [UInt8], identities: [ExportedIdentity], expected: String?) -> String? {
        guard let trailer else { return "the export is not signed (its last line is not the exporter's signature): it may have been cut short" }
        guard let signer = try? PublicIdentity(trailer.signer) else { return "the export's signer is not a public identity" }
        guard identities.contains(where: { $0.identity == trailer.signer }) else { return "the export is signed by \(signer.fingerprint), who is not an identity of this vault" }
        if let expected, expected != trailer.signer, expected.lowercased() != signer.fingerprint {
            return "the export is signed by \(signer.fingerprint), not by the expected \(expected)"
        }
        guard Ed25519.isValid(signature: Array(trailer.signature), message: signedMessage(digest: digest), publicKey: signer.signingKey) else {
            return "the exporter's signature does not match the export: it was changed or cut short"
        }
        return nil
    }
}

/// Reads `\n`-terminated lines of at most `limit` bytes from a file.
private struct LineReader {
    private let file: POSIXFile
    private let limit: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var ended = false

    init(file: POSIXFile, limit: Int) {
        self.file = file
        self.limit = limit
    }

    /// The next line without its newline, or nil at the end.
    mutating func next() throws -> [UInt8]? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                defer { start = newline + 1 }
                return Array(buffer[start..<newline])
            }
            if ended {
                guard start < buffer.count else { return nil }
                defer { start = buffer.count }
                return Array(buffer[start...])
            }
            guard buffer.count - start <= limit else { throw FormatError.oversized("audit export line", limit) }
            buffer.removeFirst(start)
            start = 0
            var chunk = [UInt8](repeating: 0, count: 1 << 20)
            let count = try chunk.withUnsafeMutableBytes { try file.read(into: $0) }
            if count == 0 { ended = true } else { buffer.append(contentsOf: chunk[0..<count]) }
        }
    }
}

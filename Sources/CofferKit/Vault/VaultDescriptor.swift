import Foundation

/// The small signed file at the root of a vault (`coffer-vault`): format
/// version, vault id, creation time and creator. Line 1 is the JSON body
/// (sorted keys), line 2 the base64 Ed25519 signature by the creator over
/// `"coffer-descriptor-v1\0" ‖ body`. Ledger entry 0 records the body's
/// BLAKE2b-256, so descriptor and ledger vouch for each other.
public struct VaultDescriptor: Codable, Sendable, Equatable {
    /// The file name inside the vault directory.
    public static let fileName = "coffer-vault"
    static let maximumSize = 4096

    /// The bytes of the descriptor file of the vault directory `vault`
    /// (at most ``maximumSize`` + 1): a regular file, opened through no
    /// symbolic link and without blocking on a FIFO.
    /// - Throws: ``UnsafeEntryError`` for a link, FIFO, device or directory
    ///   in its place; ``FileError``.
    static func readFile(inVault vault: String) throws -> [UInt8] {
        try Directory.open(vault).readSmallFile(fileName, limit: maximumSize)
    }

    /// The on-disk format version (1).
    public let format: Int
    /// The vault's id.
    public let vault: VaultID
    /// When it was created (RFC 3339).
    public let created: String
    /// The creator's public identity.
    public let creator: String

    /// The exact body bytes that were signed (set when parsed or created).
    private(set) var body: [UInt8] = []

    enum CodingKeys: String, CodingKey { case format, vault, created, creator }

    /// BLAKE2b-256 of the body, hex.
    var bodyHash: String { Hex.encode(Blake2b.hash(body)) }

    static func signedMessage(_ body: [UInt8]) -> [UInt8] { Array("coffer-descriptor-v1\0".utf8) + body }

    /// Creates and signs a descriptor; returns it and the file's bytes.
    static func make(vault: VaultID, creator: Identity, time: Date) throws -> (VaultDescriptor, [UInt8]) {
        var descriptor = VaultDescriptor(
            format: 1, vault: vault, created: Timestamp.format(time), creator: creator.publicIdentity.description)
        descriptor.body = Array(try LedgerJSON.encoder.encode(descriptor))
        let signature = try creator.sign(signedMessage(descriptor.body))
        let file = descriptor.body + Array("\n".utf8) + Array(Base64.encode(signature).utf8) + Array("\n".utf8)
        return (descriptor, file)
    }

    private init(format: Int, vault: VaultID, created: String, creator: String) {
        self.format = format
        self.vault = vault
        self.created = created
        self.creator = creator
    }

    /// Parses a descriptor file and checks its signature.
    /// - Throws: ``VaultError/badDescriptor(_:)`` or ``FormatError``.
    static func parse(_ file: [UInt8]) throws -> VaultDescriptor {
        guard file.count <= maximumSize else { throw FormatError.oversized("vault descriptor", file.count) }
        let lines = file.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count == 3, lines[2].isEmpty else { throw FormatError.malformed("vault descriptor", "expected two lines") }
        let body = Array(lines[0])
        guard let signature = Base64.decode(String(decoding: lines[1], as: UTF8.self)), signature.count == 64 else {
            throw FormatError.malformed("vault descriptor", "signature line")
        }
        var descriptor: VaultDescriptor
        do {
            descriptor = try LedgerJSON.decoder.decode(VaultDescriptor.self, from: Data(body))
        } catch {
            throw FormatError.malformed("vault descriptor", "body is not the expected JSON")
        }
        guard descriptor.format == 1 else { throw FormatError.unsupportedVersion("vault", descriptor.format) }
        let creator = try PublicIdentity(descriptor.creator)
        guard Ed25519.isValid(signature: signature, message: signedMessage(body), publicKey: creator.signingKey) else {
            throw VaultError.badDescriptor("signature does not match the creator's key")
        }
        descriptor.body = body
        return descriptor
    }
}

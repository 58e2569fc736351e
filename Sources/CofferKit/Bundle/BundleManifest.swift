import Crypto
import Foundation

/// `MANIFEST.json` inside a transfer bundle: who sent what to whom, when it
/// expires, and each file's size and SHA-256. The sender signs it with
/// minisign (`MANIFEST.json.minisig`), so a partner checks it with stock
/// tools; `SHA256SUMS` repeats the hashes in `sha256sum -c` format.
public struct BundleManifest: Codable, Sendable, Equatable {
    /// The manifest's format.
    public static let formatName = "coffer-bundle-v1"
    /// Names of the files Coffer adds next to the documents.
    public static let fileName = "MANIFEST.json"
    /// The signature's file name.
    public static let signatureName = "MANIFEST.json.minisig"
    /// The checksum list's file name.
    public static let sumsName = "SHA256SUMS"
    /// The largest manifest accepted when opening a bundle.
    static let maximumSize = 16 << 20

    /// One file of the bundle.
    public struct File: Codable, Sendable, Equatable {
        /// Its path inside the bundle.
        public let name: String
        /// Its size in bytes.
        public let size: UInt64
        /// Its SHA-256, lowercase hex.
        public let sha256: String
    }

    /// Who sent the bundle.
    public struct Sender: Codable, Sendable, Equatable {
        /// Display name.
        public let name: String
        /// Public identity (`coffer1…`).
        public let identity: String
        /// Minisign public key (base64 line) that signed this manifest.
        public let minisignKey: String
    }

    /// Always ``formatName``.
    public let format: String
    /// Random bundle id (hex), recorded in the vault's ledger.
    public let bundle: String
    /// The sender.
    public let sender: Sender
    /// Recipient names (partners), `age1…` recipients, or `passphrase`.
    public let recipients: [String]
    /// When it was made (RFC 3339, UTC).
    public let created: String
    /// When it stops being valid (RFC 3339, UTC), if ever.
    public let expires: String?
    /// The sender's note.
    public let note: String?
    /// The documents, in archive order.
    public let files: [File]

    /// The JSON as written into the bundle: sorted keys, indented, final newline.
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return Array(try encoder.encode(self)) + [0x0A]
    }

    /// Parses a manifest strictly.
    /// - Throws: ``BundleError/malformed(_:)``.
    static func parse(_ bytes: [UInt8]) throws -> BundleManifest {
        guard bytes.count <= maximumSize else { throw BundleError.malformed("MANIFEST.json is larger than 16 MiB") }
        let manifest: BundleManifest
        do {
            manifest = try JSONDecoder().decode(BundleManifest.self, from: Data(bytes))
        } catch {
            throw BundleError.malformed("MANIFEST.json is not a Coffer bundle manifest")
        }
        guard manifest.format == formatName else { throw BundleError.malformed("unknown bundle format \(manifest.format.debugDescription)") }
        return manifest
    }

    /// `SHA256SUMS` for the files, as `sha256sum` writes it (`<hex>  <name>`).
    var sums: [UInt8] {
        Array(files.map { "\($0.sha256)  \($0.name)\n" }.joined().utf8)
    }
}

/// Failures specific to transfer bundles.
public enum BundleError: CofferFailure, Equatable {
    /// The bundle's contents are not what a bundle holds.
    case malformed(String)
    /// A file's hash or size differs from the signed manifest.
    case hashMismatch(name: String)
    /// The bundle's expiry date has passed.
    case expired(String)
    /// The request cannot be carried out as asked (names, recipients, policy).
    case invalidRequest(String)
    /// The identity may not do this (administrators only).
    case notPermitted(String)
    /// Exporting a document above the vault's export limit needs an administrator's approval.
    case approvalRequired(document: String, label: String, limit: String)

    public var kind: FailureKind {
        switch self {
        case .malformed, .hashMismatch: .integrity
        case .expired: .integrity
        case .invalidRequest: .usage
        case .approvalRequired, .notPermitted: .accessDenied
        }
    }

    public var description: String {
        switch self {
        case .malformed(let detail): "not a valid Coffer bundle: \(detail)"
        case .hashMismatch(let name): "\(name) does not match the SHA-256 in the signed manifest"
        case .expired(let date): "the bundle expired on \(date); pass --allow-expired to open it anyway"
        case .invalidRequest(let detail): detail
        case .notPermitted(let detail): "not permitted: \(detail)"
        case .approvalRequired(let document, let label, let limit):
            "\(document) is labelled \(label), above the export limit \(limit); an administrator must create the bundle with --approve"
        }
    }
}

/// SHA-256 of whole files, streamed (for `bundle trace FILE`).
public enum FileDigest {
    /// The SHA-256 of `input`, lowercase hex.
    /// - Throws: ``FileError``.
    public static func sha256(of input: InputSource) throws -> String {
        let reader = try BlockReader(input, blockByteCount: 256 * 1024)
        var hash = SHA256()
        try reader.forEachBlock { hash.update(bufferPointer: $0) }
        return Hex.encode(Array(hash.finalize()))
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Crypto
import Foundation

/// Opens and checks transfer bundles, with no vault: what a partner who
/// uses Coffer instead of the stock tools runs.
public enum BundleOpener {
    /// What `coffer bundle inspect` can tell without a key.
    public struct Inspection: Codable, Sendable, Equatable {
        /// Whether the file is ASCII-armored.
        public let armored: Bool
        /// The recipient stanza types, in order (`X25519`, `scrypt`, …).
        public let recipients: [String]
        /// The file's size in bytes.
        public let size: UInt64
    }

    /// Reads a bundle's age header: its recipients' kinds and whether it is armored.
    /// - Throws: ``AgeError`` for a file that is not age; ``FileError``.
    public static func inspect(_ path: String) throws -> Inspection {
        let file = try POSIXFile.openForReading(path)
        let size = UInt64(try file.status().st_size)
        var raw = AgeBufferedReader(source: POSIXFileSource(file: file))
        let armored = AgeArmor.looksArmored(try raw.peek(AgeArmor.maxOutsideWhitespace + AgeArmor.beginLine.count))
        var reader = armored ? AgeBufferedReader(source: AgeArmorDecoder(reader: raw)) : raw
        let header = try AgeHeader.parse(from: &reader)
        return Inspection(armored: armored, recipients: header.stanzas.map(\.type), size: size)
    }

    /// Decrypts a bundle into a new directory, and keeps it only if every
    /// check passes: the manifest's minisign signature by `sender`, every
    /// file's size and SHA-256 against the manifest (and `SHA256SUMS`), no
    /// file missing or extra, and the expiry. Files are written, unnamed
    /// where the file system allows, under a private temporary directory
    /// beside `destination`, and named and renamed into place at the end.
    /// - Parameters:
    ///   - path: the bundle file.
    ///   - identities: age identities to try (an identity's X25519 key, or a passphrase).
    ///   - sender: the sender's minisign public key, obtained out of band.
    ///   - destination: a directory that must not exist yet.
    ///   - now: the time the expiry is checked against.
    ///   - allowExpired: accept a bundle past its expiry (every other check still applies).
    /// - Returns: the verified manifest.
    /// - Throws: ``BundleError`` (`.integrity` for any failed check, among
    ///   them a name that is both a file and a folder;
    ///   ``OutputError/folderExists(path:)`` if `destination` exists),
    ///   ``MinisignError``, ``TarError``, ``AgeError``.
    @discardableResult
    public static func open(
        _ path: String, identities: [AgeIdentity], sender: MinisignPublicKey, destination: String,
        allowExpired: Bool = false, now: Date = Date()
    ) throws -> BundleManifest {
        try open(
            path, identities: identities, sender: sender, destination: destination, allowExpired: allowExpired, now: now,
            unnamedLimit: StagingDirectory.unnamedLimit)
    }

    /// ``open(_:identities:sender:destination:allowExpired:now:)``, holding
    /// at most `unnamedLimit` extracted files unnamed.
    static func open(
        _ path: String, identities: [AgeIdentity], sender: MinisignPublicKey, destination: String,
        allowExpired: Bool = false, now: Date = Date(), unnamedLimit: Int
    ) throws -> BundleManifest {
        let destination = try StagingDirectory.checkDestination(destination)
        let decryptor = try AgeDecryptor(source: POSIXFileSource(file: try POSIXFile.openForReading(path)), identities: identities)
        let staging = StagingDirectory(beside: destination, prefix: ".coffer-bundle-", unnamedLimit: unnamedLimit)
        try staging.create()
        let tar = TarReader { try decryptor.read(into: $0) }
        var extracted: [String: BundleManifest.File] = [:]
        var own: [String: [UInt8]] = [:]
        var names = TreeNames()
        let ownNames: Set = [BundleManifest.fileName, BundleManifest.signatureName, BundleManifest.sumsName]
        while let entry = try tar.next() {
            if entry.isDirectory { continue }  // folders are made as files need them
            do { try names.place(entry.name) } catch let clash as TreeNames.Clash { throw BundleError.malformed(clash.description) }
            if ownNames.contains(entry.name) {
                guard entry.size <= UInt64(BundleManifest.maximumSize) else { throw BundleError.malformed("\(entry.name) is too large") }
                var bytes = [UInt8](repeating: 0, count: Int(entry.size))
                try bytes.withUnsafeMutableBytes { try readAll(tar, into: $0) }
                own[entry.name] = bytes
            } else {
                extracted[entry.name] = try Self.extract(entry, from: tar, into: staging)
            }
        }
        guard let manifestBytes = own[BundleManifest.fileName], let signatureBytes = own[BundleManifest.signatureName] else {
            throw BundleError.malformed("MANIFEST.json or its signature is missing")
        }
        try MinisignSignature(fileContents: signatureBytes).verify(message: manifestBytes, publicKey: sender)
        let manifest = try BundleManifest.parse(manifestBytes)
        for file in manifest.files {
            guard let found = extracted.removeValue(forKey: file.name) else { throw BundleError.malformed("\(file.name) is listed but missing") }
            guard found == file else { throw BundleError.hashMismatch(name: file.name) }
        }
        if let extra = extracted.keys.sorted().first { throw BundleError.malformed("\(extra) is not in the signed manifest") }
        guard own[BundleManifest.sumsName] == manifest.sums else { throw BundleError.malformed("SHA256SUMS does not match the signed manifest") }
        if let expires = manifest.expires, !allowExpired {
            guard let date = Timestamp.parse(expires) else { throw BundleError.malformed("expiry \(expires.debugDescription)") }
            if date < now { throw BundleError.expired(expires) }
        }
        // The evidence travels with the files: the manifest, its signature, the sums.
        for name in ownNames.sorted() { try staging.store(name, own[name] ?? []) }
        try staging.publish(as: destination)
        return manifest
    }

    /// Writes one entry (0600) into `staging`, hashing it on the way.
    private static func extract(_ entry: TarEntry, from tar: TarReader, into staging: StagingDirectory) throws -> BundleManifest.File {
        let file = try staging.createFile(entry.name)
        var hash = SHA256()
        var size: UInt64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 256 * 1024, alignment: 16)
        defer {
            Sodium.wipe(buffer)
            buffer.deallocate()
        }
        while true {
            let n = try tar.read(into: buffer)
            if n == 0 { break }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<n])
            hash.update(bufferPointer: chunk)
            try file.write(chunk)
            size += UInt64(n)
        }
        guard size == entry.size else { throw BundleError.malformed("\(entry.name) ends early") }
        return BundleManifest.File(name: entry.name, size: size, sha256: Hex.encode(Array(hash.finalize())))
    }

    private static func readAll(_ tar: TarReader, into buffer: UnsafeMutableRawBufferPointer) throws {
        var filled = 0
        while filled < buffer.count {
            let n = try tar.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
            guard n > 0 else { throw BundleError.malformed("a file ends early") }
            filled += n
        }
    }
}

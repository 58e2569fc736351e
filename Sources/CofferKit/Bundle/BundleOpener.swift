#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
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
    ///   - identities: age identities to try (an identity's X25519 key, or a passphrase).
    ///   - sender: the sender's minisign public key, obtained out of band.
    ///   - destination: a directory that must not exist yet.
    ///   - now: the time the expiry is checked against.
    /// - Returns: the verified manifest.
    /// - Throws: ``BundleError`` (`.integrity` for any failed check, among
    ///   them a name that is both a file and a folder;
    ///   ``BundleError/destinationExists(path:)`` if `destination` exists),
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
        var destination = destination
        while destination.count > 1, destination.hasSuffix("/") { destination.removeLast() }
        guard !FileSystem.exists(destination) else { throw BundleError.destinationExists(path: destination) }
        guard FileSystem.isDirectory(FileSystem.directoryName(of: destination)) else {
            throw BundleError.invalidRequest("the folder that would hold \(destination) does not exist")
        }
        let decryptor = try AgeDecryptor(source: POSIXFileSource(file: try POSIXFile.openForReading(path)), identities: identities)
        let staging = StagingDirectory(beside: destination, unnamedLimit: unnamedLimit)
        try staging.create()
        let tar = TarReader { try decryptor.read(into: $0) }
        var extracted: [String: BundleManifest.File] = [:]
        var own: [String: [UInt8]] = [:]
        // Every folder some extracted file lies in: a file may not also be one.
        var folders: Set<String> = []
        let ownNames: Set = [BundleManifest.fileName, BundleManifest.signatureName, BundleManifest.sumsName]
        while let entry = try tar.next() {
            if entry.isDirectory { continue }  // folders are made as files need them
            guard extracted[entry.name] == nil, own[entry.name] == nil else {
                throw BundleError.malformed("\(entry.name) appears twice")
            }
            guard !folders.contains(entry.name) else { throw BundleError.malformed("\(entry.name) is both a file and a folder") }
            if ownNames.contains(entry.name) {
                guard entry.size <= UInt64(BundleManifest.maximumSize) else { throw BundleError.malformed("\(entry.name) is too large") }
                var bytes = [UInt8](repeating: 0, count: Int(entry.size))
                try bytes.withUnsafeMutableBytes { try readAll(tar, into: $0) }
                own[entry.name] = bytes
            } else {
                let parents = Self.parentFolders(of: entry.name)
                if let clash = parents.first(where: { extracted[$0] != nil || own[$0] != nil }) {
                    throw BundleError.malformed("\(clash) is both a file and a folder")
                }
                folders.formUnion(parents)
                extracted[entry.name] = try staging.extract(entry, from: tar)
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

    /// `a` and `a/b` for `a/b/c`.
    static func parentFolders(of name: String) -> [String] {
        var parents: [String] = []
        var index = name.startIndex
        while let slash = name[index...].firstIndex(of: "/") {
            parents.append(String(name[..<slash]))
            index = name.index(after: slash)
        }
        return parents
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

/// A private directory (0700) beside the destination, holding extracted
/// files until every check passed; removed with its contents if not published.
///
/// Extracted files are unnamed (``POSIXFile/createUnnamed(in:mode:)``) until
/// ``publish(as:)`` links them, so a process killed mid-way leaves at most
/// empty folders behind, no plaintext. Past ``unnamedLimit`` files (each
/// holds a descriptor until then), or where the file system lacks unnamed
/// files, they are written under their names in the private directory.
private final class StagingDirectory {
    let path: String
    private var published = false
    /// Unnamed files written, with the path each is to be linked at.
    private var unnamed: [(file: POSIXFile, path: String)] = []
    private let unnamedLimit: Int

    /// Most unnamed files one bundle may hold open: as many descriptors as
    /// the process may have (its soft limit first raised to the hard one),
    /// less 256 for everything else; 20,000 descriptors allow 19,744 files.
    static let unnamedLimit: Int = {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return max(0, Int(clamping: min(limit.rlim_cur, 1 << 20)) - 256)
    }()

    init(beside destination: String, unnamedLimit: Int) {
        path = FileSystem.join(FileSystem.directoryName(of: destination), FileSystem.temporaryName(prefix: ".coffer-bundle-"))
        self.unnamedLimit = unnamedLimit
    }

    deinit {
        if !published { try? FileManager.default.removeItem(atPath: path) }
    }

    func create() throws {
        guard mkdir(path, 0o700) == 0 else { throw FileError("mkdir", path: path) }
    }

    /// Writes one entry (0600), hashing it on the way.
    func extract(_ entry: TarEntry, from tar: TarReader) throws -> BundleManifest.File {
        let target = FileSystem.join(path, entry.name)
        let directory = FileSystem.directoryName(of: target)
        try FileSystem.createDirectories(directory, mode: 0o700)
        let file: POSIXFile
        if unnamed.count < unnamedLimit, let anonymous = POSIXFile.createUnnamed(in: directory, mode: 0o600) {
            file = anonymous
            unnamed.append((anonymous, target))
        } else {
            file = try POSIXFile.createExclusive(target, mode: 0o600)
        }
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
            hash.update(chunk)
            try file.write(chunk)
            size += UInt64(n)
        }
        guard size == entry.size else { throw BundleError.malformed("\(entry.name) ends early") }
        try file.sync()
        return BundleManifest.File(name: entry.name, size: size, sha256: Hex.encode(hash.finalize()))
    }

    /// Writes a small file (0600) at the top of the directory.
    func store(_ name: String, _ bytes: [UInt8]) throws {
        let file = try POSIXFile.createExclusive(FileSystem.join(path, name), mode: 0o600)
        try bytes.withUnsafeBytes { try file.write($0) }
        try file.sync()
    }

    /// Names the unnamed files, fsyncs their folders, renames the directory
    /// to `destination` and makes that durable.
    func publish(as destination: String) throws {
        var directories: Set<String> = []
        for (file, target) in unnamed {
            try file.linkUnnamed(to: target)
            directories.insert(FileSystem.directoryName(of: target))
        }
        unnamed.removeAll()
        for directory in directories.sorted() { try FileSystem.syncDirectory(directory) }
        try FileSystem.syncDirectory(path)
        try FileSystem.rename(path, to: destination)
        published = true
        try FileSystem.syncDirectory(FileSystem.directoryName(of: destination))
    }
}

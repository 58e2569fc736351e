import CPostgres
import Foundation

/// Where a shared vault's ledger and objects live (docs/SHARED.md): a
/// PostgreSQL database (a libpq connection string without a password, and
/// the schema holding this vault) and an S3 bucket and prefix. Each client
/// keeps it in its vault directory as `coffer-shared`, beside the vault's
/// signed descriptor; nothing in it is secret: the database's password comes
/// from libpq's conventions and the bucket's keys from the AWS ones.
public struct SharedStorage: Codable, Sendable, Equatable {
    /// The file name inside the vault directory.
    static let fileName = "coffer-shared"
    /// The largest `coffer-shared` file read.
    static let maximumSize = 4096

    /// The libpq connection string (URI or `key=value`), with no password.
    public let catalog: String
    /// The PostgreSQL schema holding this vault's tables.
    public let schema: String
    /// `s3://BUCKET/PREFIX`.
    public let objects: String

    /// Checks the parts: a connection string libpq parses and that holds no
    /// password, a schema name `PostgresLedger` accepts, an `s3://` location.
    /// - Throws: ``VaultError/invalidRequest(_:)``, ``S3Error`` (usage).
    public init(catalog: String, schema: String, objects: String) throws {
        try Self.requireNoPassword(in: catalog)
        _ = try S3Location(objects)
        self.catalog = catalog
        self.schema = schema
        self.objects = try S3Location(objects).description
        try PostgresLedger.requireValidSchemaName(schema)
    }

    /// The schema a new vault's tables go in: `coffer_` and its id.
    static func schema(for vault: VaultID) -> String { "coffer_\(vault)" }

    /// Refuses a connection string that libpq cannot parse or that carries
    /// a password (which would then sit in a file and on command lines).
    static func requireNoPassword(in conninfo: String) throws {
        var error: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(conninfo, &error) else {
            let message = error.map { String(cString: $0).trimmingWhitespace() } ?? "out of memory"
            if let error { PQfreemem(error) }
            throw VaultError.invalidRequest("the catalog location is not a PostgreSQL connection string libpq understands: \(message)")
        }
        defer { PQconninfoFree(options) }
        var option = options
        while let keyword = option.pointee.keyword {
            if String(cString: keyword) == "password", let value = option.pointee.val, value.pointee != 0 {
                throw VaultError.invalidRequest(
                    "the catalog location holds a password; keep it in PGPASSWORD, ~/.pgpass or a service file (PGSERVICE) instead")
            }
            option += 1
        }
    }

    /// Reads and checks `coffer-shared` in the vault directory `vault`.
    /// - Returns: nil if the directory has none (a local vault).
    /// - Throws: ``FormatError`` for a file that is not one; ``UnsafeEntryError``.
    static func read(inVault vault: String) throws -> SharedStorage? {
        let directory = try Directory.open(vault)
        guard directory.status(of: fileName) != nil else { return nil }
        let bytes = try directory.readSmallFile(fileName, limit: maximumSize)
        guard bytes.count <= maximumSize, let parsed = try? LedgerJSON.decoder.decode(SharedStorage.self, from: Data(bytes)) else {
            throw FormatError.malformed(fileName, "expected the JSON `coffer init --catalog` writes")
        }
        do {
            return try SharedStorage(catalog: parsed.catalog, schema: parsed.schema, objects: parsed.objects)
        } catch {
            throw FormatError.malformed(fileName, "\(error)")
        }
    }

    /// The file's bytes (sorted-key JSON and a newline).
    func encoded() throws -> [UInt8] {
        Array(try LedgerJSON.encoder.encode(self)) + [UInt8(ascii: "\n")]
    }

    /// Connects to the database (libpq's conventions supply the password and TLS settings).
    func connectCatalog() throws -> PostgresLedger {
        try PostgresLedger(connection: try PostgresConnection(catalog), schema: schema)
    }

    /// The bucket, with the AWS settings of this process's environment.
    func connectObjects() throws -> S3ObjectStore {
        try S3ObjectStore(location: try S3Location(objects), configuration: try S3Configuration.fromEnvironment())
    }
}

/// Where a new vault keeps its catalog and objects (``Vault/create(at:creator:labels:exportLimit:stateDirectory:storage:)``).
public enum VaultStorage: Sendable, Equatable {
    /// In the vault's own directory: the SQLite catalog and `objects/`.
    case local
    /// In a PostgreSQL database (a libpq connection string, without a
    /// password) and an S3 bucket (`s3://BUCKET/PREFIX`), shared by every
    /// client; the directory holds only the descriptor and these locations.
    case shared(catalog: String, objects: String)
}

/// What `coffer attach` found and checked.
public struct AttachReport: Sendable, Encodable {
    /// The vault's id.
    public let id: VaultID
    /// Ledger entries verified.
    public let entries: Int64
    /// The fingerprint of the vault's creator.
    public let creator: String
    /// Where its ledger and objects are.
    public let storage: SharedStorage
}

extension Vault {
    /// Joins a shared vault from this machine: finds the vault in the
    /// database (the only one there, or the one `expectedID` names), checks
    /// its signed descriptor and replays and verifies its whole ledger
    /// without a key, checks the bucket, then writes the descriptor and
    /// ``SharedStorage`` into `path` (a new or empty directory), the
    /// descriptor last.
    ///
    /// Without `expectedID` this trusts the vault on first use, as ssh does
    /// a host key: whoever controls the database could have put another
    /// vault there. Give the id an administrator read from `coffer init`
    /// (or `coffer doctor`) to rule that out. Each identity then pins the
    /// vault on its first open, as for a local vault.
    /// - Throws: ``VaultError/notFound(_:)`` (no vault, or not the expected
    ///   one), ``VaultError/invalidRequest(_:)`` (several vaults and no id),
    ///   ``VaultError/directoryNotEmpty(path:)``, ``LedgerError`` and
    ///   ``VaultError/badDescriptor(_:)`` (tampering), ``PostgresError``, ``S3Error``.
    public static func attach(at path: String, catalog location: String, objects: String, expectedID: VaultID?) throws -> AttachReport {
        try SharedStorage.requireNoPassword(in: location)
        let connection = try PostgresConnection(location)
        let schema: String
        if let expectedID {
            schema = SharedStorage.schema(for: expectedID)
        } else {
            let found = try connection.query(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'coffer\\_%' ORDER BY nspname"
            ).compactMap { $0.first?.text }.filter { (try? VaultID(hex: String($0.dropFirst(7)))) != nil }
            guard let only = found.first else { throw VaultError.notFound("no Coffer vault in that database") }
            guard found.count == 1 else {
                throw VaultError.invalidRequest(
                    "that database holds \(found.count) vaults (\(found.prefix(8).map { String($0.dropFirst(7)) }.joined(separator: ", "))\(found.count > 8 ? ", …" : "")); give --expect-id ID")
            }
            schema = only
        }
        let storage = try SharedStorage(catalog: location, schema: schema, objects: objects)
        let ledger = try PostgresLedger(connection: connection, schema: schema)
        guard let stored = try? ledger.meta("descriptor"), let file = Base64.decode(stored), !file.isEmpty else {
            throw VaultError.notFound("no Coffer vault \(expectedID.map { "\($0) " } ?? "")in that database")
        }
        let descriptor = try VaultDescriptor.parse(file)
        if let expectedID, descriptor.vault != expectedID {
            throw VaultError.badDescriptor("the database's vault is \(descriptor.vault), not the expected \(expectedID)")
        }
        try requireSameVault(ledger, descriptor)
        let state = try replay(catalog: ledger, descriptor: descriptor, trustedThrough: nil)
        try storage.connectObjects().requireUsableBucket()
        try makeEmptyDirectory(path)
        try AtomicFile.write(try storage.encoded(), to: FileSystem.join(path, SharedStorage.fileName), mode: 0o600, overwrite: false)
        try AtomicFile.write(file, to: FileSystem.join(path, VaultDescriptor.fileName), mode: 0o600, overwrite: false)
        return AttachReport(id: descriptor.vault, entries: state.entryCount, creator: try PublicIdentity(descriptor.creator).fingerprint, storage: storage)
    }
}

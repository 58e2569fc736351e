import Foundation
import Testing

@testable import CofferKit

/// A real vault in a scratch directory: real files, a real SQLite catalog,
/// and a per-fixture state directory for remembered ledger heads.
final class VaultFixture {
    let scratch: ScratchDirectory
    let owner: Identity
    let path: String
    let stateDirectory: String

    init(owner: Identity = .generate(name: "owner")) throws {
        scratch = try ScratchDirectory()
        self.owner = owner
        path = scratch.join("vault")
        stateDirectory = scratch.join("state")
        _ = try Vault.create(at: path, creator: owner, stateDirectory: .directory(stateDirectory))
    }

    /// Opens the vault as `identity` (the owner by default).
    func open(as identity: Identity? = nil) throws -> Vault {
        try Vault.open(at: path, identity: identity ?? owner, stateDirectory: .directory(stateDirectory))
    }

    /// Seals `bytes` as one document named `name` and returns it.
    @discardableResult
    func seal(_ name: String, _ bytes: [UInt8], label: String? = nil) throws -> SealedDocument {
        let input = try scratch.write("inputs/\(UUID().uuidString)", bytes)
        return try open().seal(paths: [input], name: name, label: label)[0]
    }

    /// Opens a document into memory through a real output file.
    func read(_ query: String, as identity: Identity? = nil) throws -> [UInt8] {
        let output = scratch.join("out-\(UUID().uuidString)")
        try open(as: identity).open(query, to: .file(path: output, overwrite: false))
        defer { try? FileManager.default.removeItem(atPath: output) }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: output)))
    }

    /// Verifies the vault as its owner.
    func verify(deep: Bool = false) throws -> VerificationReport {
        try VaultVerifier.verify(at: path, identity: owner, stateDirectory: .directory(stateDirectory), deep: deep)
    }

    /// The raw catalog, as an attacker with write access to the directory sees it.
    func database() throws -> SQLiteDatabase {
        try SQLiteDatabase(path: Vault.catalogPath(path), create: false)
    }

    /// The ledger-recorded objects of a document's current version.
    func objects(of id: DocumentID) throws -> (manifest: ObjectID, segments: [ObjectID]) {
        let version = try open().state.documents[id]!.current
        return (version.manifest, version.segments)
    }

    /// The path of an object file.
    func objectPath(_ id: ObjectID) -> String {
        ObjectStore(root: Vault.objectsPath(path)).path(of: id)
    }

    /// Replaces an object file's bytes in place (as an attacker could).
    func replaceObject(_ id: ObjectID, with bytes: [UInt8]) throws {
        try? FileManager.default.removeItem(atPath: objectPath(id))
        try Data(bytes).write(to: URL(fileURLWithPath: objectPath(id)))
    }

    /// Reads an object file's bytes.
    func objectBytes(_ id: ObjectID) throws -> [UInt8] {
        [UInt8](try Data(contentsOf: URL(fileURLWithPath: objectPath(id))))
    }
}

extension VerificationReport {
    /// Findings of one check, for assertions.
    func findings(_ check: String) -> [Finding] { findings.filter { $0.check == check } }
}

import Foundation
import Testing

@testable import CofferKit

@Suite("Vault: seal, list, open")
struct VaultTests {
    @Test("a first init or copy killed while writing its first file leaves a temporary file, which a rerun removes; any other file keeps the directory taken (CI found a copy rerun refused)")
    func temporaryFileOfAKilledRun() throws {
        let fixture = try VaultFixture()
        _ = try fixture.seal("a.txt", Array("a".utf8))
        let stray = ".coffer-0123456789abcdef.tmp"
        for target in ["copy", "init"] {
            let directory = fixture.scratch.join(target)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try Data("half".utf8).write(to: URL(fileURLWithPath: directory + "/" + stray))
        }
        _ = try Vault.copy(from: fixture.path, to: fixture.scratch.join("copy"), storage: .local)
        #expect(!FileManager.default.fileExists(atPath: fixture.scratch.join("copy/" + stray)))
        _ = try Vault.create(at: fixture.scratch.join("init"), creator: .generate(name: "x"), stateDirectory: .withoutRollbackDetection)
        // Anything else, even a name close to Coffer's, is someone's file: refused, untouched.
        let taken = fixture.scratch.join("taken")
        try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: taken + "/.coffer-notours.tmp"))
        #expect(throws: VaultError.directoryNotEmpty(path: taken)) { _ = try Vault.copy(from: fixture.path, to: taken, storage: .local) }
        #expect(FileManager.default.fileExists(atPath: taken + "/.coffer-notours.tmp"))
    }

    @Test("sealed files, folders and empty files open byte-identical")
    func sealAndOpen() throws {
        let fixture = try VaultFixture()
        let folder = fixture.scratch.join("docs")
        try fixture.scratch.write("docs/empty.txt", [])
        try fixture.scratch.write("docs/tiny.txt", Array("hi".utf8))
        try fixture.scratch.write("docs/sub/bigger.bin", patternBytes(5 << 20))
        let sealed = try fixture.open().seal(paths: [folder], label: "secret")
        #expect(Set(sealed.map(\.name)) == ["docs/empty.txt", "docs/tiny.txt", "docs/sub/bigger.bin"])
        #expect(sealed.allSatisfy { $0.label == "secret" })
        let listed = try fixture.open().list().documents
        #expect(listed.map(\.name) == ["docs/empty.txt", "docs/sub/bigger.bin", "docs/tiny.txt"])
        #expect(listed.allSatisfy { $0.sealedBy == fixture.owner.fingerprint && $0.sealedByName == "owner" })
        #expect(try fixture.read("docs/empty.txt") == [])
        #expect(try fixture.read("docs/tiny.txt") == Array("hi".utf8))
        #expect(try fixture.read("docs/sub/bigger.bin") == patternBytes(5 << 20))
        // To a file, each segment is written at its offset by the worker that opened it.
        for name in ["docs/empty.txt", "docs/tiny.txt", "docs/sub/bigger.bin"] {
            let output = fixture.scratch.join("opened-\(name.split(separator: "/").last!)")
            try fixture.open().open(name, to: .file(path: output, overwrite: false))
            #expect(FileManager.default.contents(atPath: output) == Data(try fixture.read(name)), "\(name)")
        }
        #expect(try fixture.verify(deep: true).isClean)
        #expect(try fixture.verify(deep: true).counts.documentsDecrypted == 3)
    }

    @Test("documents resolve by id, unique prefix and exact name")
    func resolve() throws {
        let fixture = try VaultFixture()
        let doc = try fixture.seal("report.pdf", Array("content".utf8))
        let vault = try fixture.open()
        #expect(try vault.resolve(doc.id.description).id == doc.id)
        #expect(try vault.resolve(String(doc.id.description.prefix(6))).id == doc.id)
        #expect(try vault.resolve("report.pdf").id == doc.id)
        expectFailure(.notFound) { _ = try vault.resolve("nothing.pdf") }
        // The name sealed again is the same document's revision 2 (an ambiguous name: RevisionTests).
        #expect(try fixture.seal("report.pdf", Array("second".utf8)).id == doc.id)
        #expect(try fixture.open().resolve("report.pdf").revision == 2)
    }

    @Test("names and sizes are not stored in the clear")
    func metadataIsEncrypted() throws {
        let fixture = try VaultFixture()
        try fixture.seal("project-nightingale-merger.txt", Array("the secret plan".utf8))
        for file in try FileManager.default.subpathsOfDirectory(atPath: fixture.path) {
            let full = fixture.path + "/" + file
            guard let data = FileManager.default.contents(atPath: full) else { continue }
            #expect(data.range(of: Data("nightingale".utf8)) == nil, "\(file) holds the name")
            #expect(data.range(of: Data("secret plan".utf8)) == nil, "\(file) holds the content")
        }
    }

    @Test("an identity that is not in the vault is refused")
    func strangerRefused() throws {
        let fixture = try VaultFixture()
        try fixture.seal("a", [1, 2, 3])
        expectFailure(.authentication) { _ = try fixture.open(as: .generate(name: "mallory")) }
    }

    @Test("an existing output file is never overwritten without overwrite")
    func existingOutput() throws {
        let fixture = try VaultFixture()
        try fixture.seal("a", [1, 2, 3])
        let output = try fixture.scratch.write("existing", Array("keep me".utf8))
        expectFailure(.conflict) { try fixture.open().open("a", to: .file(path: output, overwrite: false)) }
        #expect(FileManager.default.contents(atPath: output) == Data("keep me".utf8))
        try fixture.open().open("a", to: .file(path: output, overwrite: true))
        #expect(FileManager.default.contents(atPath: output) == Data([1, 2, 3]))
    }

    @Test("unknown labels and unreadable inputs are refused before anything is stored")
    func badInputs() throws {
        let fixture = try VaultFixture()
        let input = try fixture.scratch.write("in", [1])
        expectFailure(.usage) { try fixture.open().seal(paths: [input], label: "ultra") }
        expectFailure(.notFound) { try fixture.open().seal(paths: [fixture.scratch.join("missing")]) }
        let unreadable = try fixture.scratch.write("unreadable", [1])
        chmod(unreadable, 0)
        if getuid() != 0 {  // root reads anything
            expectFailure(.io) { try fixture.open().seal(paths: [unreadable]) }
        }
        #expect(try fixture.open().list().documents.isEmpty)
        #expect(try fixture.verify().isClean)
    }

    @Test("opening records a read in the ledger")
    func openIsAudited() throws {
        let fixture = try VaultFixture()
        try fixture.seal("a", [1])
        let before = try fixture.open().state.entryCount
        _ = try fixture.read("a")
        #expect(try fixture.open().state.entryCount == before + 1)
    }
}

import Foundation
import Testing

@testable import CofferKit

/// Issue 15, finding 6, in the library: the private place an edit's
/// plaintext lives in (memory-backed, 0700, wiped with zeros, abandoned
/// ones found), and `beginEdit`/`finishEdit` (a revision, or none when
/// unchanged; concurrent revisions kept; a deleted document or a swapped
/// file refused with the file left alone).
@Suite("Edit")
struct EditTests {
    /// A directory of the test's own in /dev/shm (tmpfs), removed on release.
    final class MemoryDirectory {
        let path: String
        init() throws {
            var template = Array("/dev/shm/coffer-test-XXXXXX".utf8CString)
            guard let made = mkdtemp(&template) else { throw FileError(operation: "mkdtemp", path: "/dev/shm", code: errno) }
            path = String(cString: made)
        }
        deinit { try? FileManager.default.removeItem(atPath: path) }
        func entries() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: path).sorted() }
    }

    @Test("a workspace is a new 0700 folder in memory named for the process; wipe zeros every file (a hard link shows it), read-only ones and subfolders too, and removes it; keep renames it")
    func workspaceWipes() throws {
        let base = try MemoryDirectory()
        let workspace = try EditWorkspace.create(forDocumentNamed: "reports/q3 notes.txt", in: base.path)
        #expect(workspace.directory.hasPrefix(base.path + "/coffer-edit-\(getpid())-") && workspace.file == workspace.directory + "/q3 notes.txt")
        var st = stat()
        #expect(stat(workspace.directory, &st) == 0 && st.st_mode & 0o7777 == 0o700)
        let secret = Data(repeating: 0x41, count: 3 * (1 << 20) + 17)
        try secret.write(to: URL(fileURLWithPath: workspace.file))
        try FileManager.default.createDirectory(atPath: workspace.directory + "/.undo", withIntermediateDirectories: false)
        try Data("swap".utf8).write(to: URL(fileURLWithPath: workspace.directory + "/.undo/swap"))
        chmod(workspace.directory + "/.undo/swap", 0o400)
        // A second name for the file's pages, outside the workspace: what wipe leaves in them.
        #expect(link(workspace.file, base.path + "/witness") == 0)
        #expect(link(workspace.directory + "/.undo/swap", base.path + "/witness2") == 0)
        try workspace.wipe()
        #expect(try base.entries() == ["witness", "witness2"])
        let left = try Data(contentsOf: URL(fileURLWithPath: base.path + "/witness"))
        #expect(left.count == secret.count && left.allSatisfy { $0 == 0 })
        #expect(try Data(contentsOf: URL(fileURLWithPath: base.path + "/witness2")) == Data(count: 4))

        let kept = try EditWorkspace.create(forDocumentNamed: "..", in: base.path)
        #expect(kept.file.hasSuffix("/document"))
        try Data("edited".utf8).write(to: URL(fileURLWithPath: kept.file))
        let keptFile = try kept.keep()
        #expect(keptFile.hasPrefix(base.path + "/coffer-kept-\(getpid())-") && (try? String(contentsOfFile: keptFile, encoding: .utf8)) == "edited")
    }

    @Test("wipeAbandoned wipes only the workspaces whose process is gone: not a live process's, not a kept one, not anything else")
    func abandoned() throws {
        let base = try MemoryDirectory()
        let finished = Process()
        finished.executableURL = URL(fileURLWithPath: "/bin/true")
        try finished.run()
        finished.waitUntilExit()
        let dead = base.path + "/coffer-edit-\(finished.processIdentifier)-0011aabbccdd"
        for directory in [dead, base.path + "/coffer-kept-\(finished.processIdentifier)-0011aabbccdd", base.path + "/other-\(finished.processIdentifier)"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
            try Data("plaintext".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
        }
        let live = try EditWorkspace.create(forDocumentNamed: "notes.txt", in: base.path)
        try Data("mine".utf8).write(to: URL(fileURLWithPath: live.file))
        #expect(EditWorkspace.wipeAbandoned(in: base.path) == [dead])
        #expect(try base.entries() == [
            "coffer-kept-\(finished.processIdentifier)-0011aabbccdd", FileSystem.baseName(of: live.directory), "other-\(finished.processIdentifier)",
        ].sorted())
        try live.wipe()
    }

    @Test("a place that is not in memory, not a directory, or missing is refused (exit 2), and wipeAbandoned finds nothing there")
    func notInMemory() throws {
        // The build's products are on a disk (the scratch directory may be a tmpfs /tmp).
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().path
        for base in [products, products + "/missing", "/proc"] {
            #expect {
                _ = try EditWorkspace.create(forDocumentNamed: "x", in: base)
            } throws: { error in
                guard case EditError.noPrivatePlace = error else { return false }
                return (error as? any CofferFailure)?.kind == .usage
            }
            #expect(EditWorkspace.wipeAbandoned(in: base).isEmpty)
        }
    }

    @Test("beginEdit writes the current revision; finishEdit seals the next one keeping name and mode, or nothing when unchanged; a non-owner is refused before anything is written")
    func editRevision() throws {
        let fixture = try VaultFixture()
        let input = try fixture.scratch.write("inputs/run.sh", Array("echo one\n".utf8))
        chmod(input, 0o750)
        let sealed = try fixture.open().seal(paths: [input], name: "ops/run.sh")[0]
        let base = try MemoryDirectory()

        let same = try EditWorkspace.create(forDocumentNamed: "ops/run.sh", in: base.path)
        let untouched = try fixture.open().beginEdit("ops/run.sh", into: same.file)
        #expect(untouched.revision == 1 && untouched.document == sealed.id)
        #expect(try String(contentsOfFile: same.file, encoding: .utf8) == "echo one\n")
        let unchanged = try fixture.open().finishEdit(untouched)
        #expect(unchanged.sealed.unchanged && unchanged.sealed.revision == 1 && unchanged.concurrentRevisions.isEmpty)
        try same.wipe()

        let workspace = try EditWorkspace.create(forDocumentNamed: "ops/run.sh", in: base.path)
        let edit = try fixture.open().beginEdit(String(sealed.id.description.prefix(8)), into: workspace.file)
        try Data("echo two\n".utf8).write(to: URL(fileURLWithPath: workspace.file))
        let edited = try fixture.open().finishEdit(edit)
        #expect(!edited.sealed.unchanged && edited.sealed.revision == 2 && edited.editedRevision == 1 && edited.sealed.name == "ops/run.sh" && edited.sealed.size == 9)
        #expect(try fixture.read("ops/run.sh") == Array("echo two\n".utf8))
        // One flat JSON object, which reads back as it was.
        let json = try JSONEncoder().encode(edited)
        let keys = try #require(try JSONSerialization.jsonObject(with: json) as? [String: Any]).keys.sorted()
        #expect(keys == ["concurrentRevisions", "editedRevision", "id", "label", "name", "revision", "size", "unchanged"])
        #expect(try JSONDecoder().decode(EditedDocument.self, from: json) == edited)
        let history = try fixture.open().history(of: "ops/run.sh")
        #expect(history.map(\.revision) == [1, 2])
        // The mode it was sealed with is kept, not the workspace file's 0600.
        let restored = fixture.scratch.join("restored")
        _ = try fixture.open().open(folder: "ops/", to: restored)
        var st = stat()
        #expect(stat(restored + "/run.sh", &st) == 0 && st.st_mode & 0o777 == 0o750)
        try workspace.wipe()

        let bob = Identity.generate(name: "bob")
        let vault = try fixture.open()
        try vault.createRole(named: "eng", clearance: nil)
        try vault.addMember(bob.publicIdentity, name: "bob", toRole: "eng")
        _ = try vault.share(["ops/run.sh"], withRole: "eng")
        let theirs = try EditWorkspace.create(forDocumentNamed: "ops/run.sh", in: base.path)
        #expect(throws: VaultError.self) { _ = try fixture.open(as: bob).beginEdit("ops/run.sh", into: theirs.file) }
        #expect(!FileManager.default.fileExists(atPath: theirs.file))
        try theirs.wipe()
    }

    @Test("a revision sealed while the file was edited is kept and listed; an edit identical to it adds nothing; a deleted document or a file swapped for a link is refused and the file left alone")
    func editRaces() throws {
        let fixture = try VaultFixture()
        _ = try fixture.seal("notes.txt", Array("v1\n".utf8))
        let base = try MemoryDirectory()

        let workspace = try EditWorkspace.create(forDocumentNamed: "notes.txt", in: base.path)
        let edit = try fixture.open().beginEdit("notes.txt", into: workspace.file)
        _ = try fixture.seal("notes.txt", Array("v2 by someone else\n".utf8))
        try Data("v1, edited\n".utf8).write(to: URL(fileURLWithPath: workspace.file))
        let edited = try fixture.open().finishEdit(edit)
        #expect(edited.sealed.revision == 3 && edited.editedRevision == 1 && edited.concurrentRevisions == [2] && !edited.sealed.unchanged)
        #expect(try fixture.open().contents(of: "notes.txt", revision: 2) == Array("v2 by someone else\n".utf8))
        #expect(try fixture.read("notes.txt") == Array("v1, edited\n".utf8))
        try workspace.wipe()

        let again = try EditWorkspace.create(forDocumentNamed: "notes.txt", in: base.path)
        let second = try fixture.open().beginEdit("notes.txt", into: again.file)
        _ = try fixture.seal("notes.txt", Array("the same words\n".utf8))
        try Data("the same words\n".utf8).write(to: URL(fileURLWithPath: again.file))
        let same = try fixture.open().finishEdit(second)
        #expect(same.sealed.unchanged && same.sealed.revision == 4 && same.concurrentRevisions == [4])
        #expect(try fixture.open().history(of: "notes.txt").count == 4)

        // Swapped for a link: refused, nothing sealed.
        let third = try fixture.open().beginEdit("notes.txt", into: again.file + ".2")
        try FileManager.default.removeItem(atPath: again.file + ".2")
        try FileManager.default.createSymbolicLink(atPath: again.file + ".2", withDestinationPath: again.file)
        #expect(throws: (any Error).self) { _ = try fixture.open().finishEdit(third) }

        let fourth = try fixture.open().beginEdit("notes.txt", into: again.file + ".3")
        try Data("written after the delete\n".utf8).write(to: URL(fileURLWithPath: again.file + ".3"))
        _ = try fixture.open().delete(["notes.txt"], plan: false)
        #expect {
            _ = try fixture.open().finishEdit(fourth)
        } throws: { error in
            if case VaultError.documentDeleted = error { return true } else { return false }
        }
        #expect(try String(contentsOfFile: again.file + ".3", encoding: .utf8) == "written after the delete\n")
        #expect(try fixture.verify(deep: true).findings.isEmpty)
        try again.wipe()
    }
}

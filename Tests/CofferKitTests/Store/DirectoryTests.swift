import CPlatform
import Foundation
import Testing

@testable import CofferKit

/// A scratch tree with a real file, a directory, a link to a directory
/// outside it, a link to a file and a FIFO: what an insider can plant.
private final class PlantedTree {
    let scratch: ScratchDirectory
    let root: String
    let outside: String

    init() throws {
        scratch = try ScratchDirectory()
        root = scratch.join("root")
        outside = scratch.join("outside")
        try scratch.write("outside/victim", Array("victim".utf8))
        try scratch.write("root/dir/file", Array("inside".utf8))
        try FileManager.default.createSymbolicLink(atPath: scratch.join("root/linked"), withDestinationPath: outside)
        try FileManager.default.createSymbolicLink(atPath: scratch.join("root/dir/file-link"), withDestinationPath: scratch.join("outside/victim"))
        #expect(mkfifo(scratch.join("root/dir/fifo"), 0o600) == 0)
    }
}

@Suite("Directory: opens and removals beneath a descriptor, through no link")
struct DirectoryTests {
    @Test("a file below the root opens; a link anywhere on the way is refused, not followed")
    func opensBeneath() throws {
        let tree = try PlantedTree()
        let root = try Directory.open(tree.root)
        #expect(try root.readSmallFile("dir/file", limit: 100) == Array("inside".utf8))
        for relative in ["linked/victim", "dir/file-link"] {
            #expect(throws: UnsafeEntryError.self, "\(relative)") { _ = try root.openFile(relative, flags: O_RDONLY) }
        }
        #expect(throws: UnsafeEntryError.self) { _ = try root.openDirectory("linked") }
        #expect(throws: UnsafeEntryError.self) { _ = try Directory.open(tree.scratch.join("root/linked"), followingLink: false) }
        // The root itself may be reached through a link the user chose.
        #expect(try Directory.open(tree.scratch.join("root/linked")).entries().map(\.name) == ["victim"])
    }

    @Test("the per-component fallback (kernels without openat2) refuses links, '..' and absolute paths too", arguments: [
        ("linked/victim", [ELOOP, ENOTDIR]), ("dir/file-link", [ELOOP]), ("../outside/victim", [EXDEV]), ("/etc/passwd", [EXDEV]),
    ])
    func fallback(relative: String, codes: [Int32]) throws {
        let tree = try PlantedTree()
        let root = try Directory.open(tree.root)
        let good = coffer_open_beneath_by_component(root.descriptor, "dir/file", O_RDONLY | O_CLOEXEC, 0)
        #expect(good >= 0)
        close(good)
        #expect(coffer_open_beneath_by_component(root.descriptor, relative, O_RDONLY | O_CLOEXEC, 0) == -1)
        #expect(codes.contains(errno), "\(relative): errno \(errno)")
        #expect(coffer_open_beneath(root.descriptor, relative, O_RDONLY | O_CLOEXEC, 0) == -1)
    }

    @Test("a FIFO, a directory or a device opened as a regular file is refused at once, not read")
    func regularOnly() throws {
        let tree = try PlantedTree()
        let root = try Directory.open(tree.root)
        for (relative, kind) in [("dir/fifo", EntryKind.fifo), ("dir", .directory)] {
            do {
                _ = try root.openRegularFile(relative)
                Issue.record("\(relative) opened")
            } catch let error as UnsafeEntryError {
                #expect(error.found == kind && error.kind == .integrity)
                #expect(error.description.contains(kind.rawValue))
            }
        }
        let dev = try Directory.open("/dev")
        #expect(throws: UnsafeEntryError.self) { _ = try dev.openRegularFile("null") }
    }

    @Test("specialEntries lists every link and FIFO at any depth, and walks into no link")
    func specialEntries() throws {
        let tree = try PlantedTree()
        let found = try Directory.open(tree.root).specialEntries()
        #expect(found.map(\.path) == [tree.root + "/dir/fifo", tree.root + "/dir/file-link", tree.root + "/linked"])
        #expect(found.map(\.kind) == [.fifo, .symbolicLink, .symbolicLink])
    }

    @Test("remove deletes a link itself, never what it points to")
    func removeLink() throws {
        let tree = try PlantedTree()
        let dir = try Directory.open(tree.root).openDirectory("dir")
        try dir.remove("file-link")
        try dir.remove("file-link")  // already gone: not an error
        #expect(dir.status(of: "file-link") == nil)
        #expect(FileManager.default.fileExists(atPath: tree.scratch.join("outside/victim")))
    }
}

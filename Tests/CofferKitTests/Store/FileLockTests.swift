import Foundation
import Testing

@testable import CofferKit

@Suite("FileLock: the lock file is never a link or a FIFO, and the wait is bounded")
struct FileLockTests {
    @Test("a link as the lock file is refused and nothing is created at its target")
    func linkRefused() throws {
        let scratch = try ScratchDirectory()
        try FileManager.default.createSymbolicLink(atPath: scratch.join("lock"), withDestinationPath: scratch.join("planted"))
        #expect(throws: UnsafeEntryError.self) { _ = try FileLock(scratch.join("lock"), exclusive: false, mode: 0o644) }
        #expect(!FileManager.default.fileExists(atPath: scratch.join("planted")))
    }

    @Test("a FIFO as the lock file is refused at once")
    func fifoRefused() throws {
        let scratch = try ScratchDirectory()
        #expect(mkfifo(scratch.join("lock"), 0o600) == 0)
        #expect(throws: UnsafeEntryError.self) { _ = try FileLock(scratch.join("lock"), exclusive: false, mode: 0o644) }
    }

    @Test("a Unix socket as the lock file is refused, not skipped (commands would run unlocked)")
    func socketRefused() throws {
        let scratch = try ScratchDirectory()
        let path = scratch.join("lock")
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.prefix(raw.count - 1).enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        do {
            _ = try FileLock(path, exclusive: false, mode: 0o644)
            Issue.record("a socket was taken as the lock file")
        } catch let error as UnsafeEntryError {
            #expect(error.found == .socket)
        }
    }

    @Test("a missing lock file is created; a held lock times out with LockError naming it")
    func boundedWait() throws {
        let scratch = try ScratchDirectory()
        let held = try FileLock(scratch.join("lock"), exclusive: true, mode: 0o600)
        let started = Date()
        do {
            _ = try FileLock(scratch.join("lock"), exclusive: false, mode: 0o600, waitLimit: 0.2)
            Issue.record("took a lock another holder has")
        } catch let error as LockError {
            #expect(error == .timedOut(path: scratch.join("lock"), seconds: 0.2))
            #expect(error.description.contains(scratch.join("lock")) && error.kind == .concurrentChange)
        }
        #expect(Date().timeIntervalSince(started) < 5)
        withExtendedLifetime(held) {}
    }
}

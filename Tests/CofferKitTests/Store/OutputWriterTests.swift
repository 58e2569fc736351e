import Foundation
import Testing

@testable import CofferKit

@Suite("OutputWriter: devices and FIFOs are written in place, links refused")
struct OutputWriterTests {
    /// The kind of what is at `path`, without following a link.
    static func kind(_ path: String) -> EntryKind? {
        var st = stat()
        return lstat(path, &st) == 0 ? EntryKind(mode: st.st_mode) : nil
    }

    @Test("an existing FIFO is written in place, --force or not, and stays a FIFO", arguments: [false, true])
    func fifo(overwrite: Bool) throws {
        let scratch = try ScratchDirectory()
        let fifo = scratch.join("out")
        #expect(mkfifo(fifo, 0o600) == 0)
        let received = Received()
        let reader = Thread {
            received.data = FileHandle(forReadingAtPath: fifo)?.readDataToEndOfFile()
            received.done.signal()
        }
        reader.start()
        do {  // released at the end of the block: the FIFO closes and the reader sees its end
            let writer = try OutputWriter(.file(path: fifo, overwrite: overwrite))
            #expect(try writer.cacheBypassingWriter() == nil)
            try Array("through the pipe".utf8).withUnsafeBytes { try writer.write($0) }
            try writer.commit()
        }
        #expect(received.done.wait(timeout: .now() + 30) == .success)
        #expect(received.data == Data("through the pipe".utf8))
        #expect(Self.kind(fifo) == .fifo)
    }

    @Test("/dev/null is written in place without --force and stays a character device")
    func devNull() throws {
        try OutputTarget.file(path: "/dev/null", overwrite: false).checkAvailable()
        let writer = try OutputWriter(.file(path: "/dev/null", overwrite: true))
        try Array("discarded".utf8).withUnsafeBytes { try writer.write($0) }
        try writer.commit()
        #expect(Self.kind("/dev/null") == .characterDevice)
    }

    @Test("a symbolic link is refused, --force or not, and neither it nor its target changes", arguments: [false, true])
    func link(overwrite: Bool) throws {
        let scratch = try ScratchDirectory()
        let target = try scratch.write("target", Array("precious".utf8))
        try FileManager.default.createSymbolicLink(atPath: scratch.join("link"), withDestinationPath: target)
        #expect(throws: OutputError.symbolicLink(path: scratch.join("link"))) { _ = try OutputWriter(.file(path: scratch.join("link"), overwrite: overwrite)) }
        expectFailure(.conflict) { try OutputTarget.file(path: scratch.join("link"), overwrite: overwrite).checkAvailable() }
        #expect(Self.kind(scratch.join("link")) == .symbolicLink)
        #expect(FileManager.default.contents(atPath: target) == Data("precious".utf8))
    }
}

/// What the reader thread got, handed over through the semaphore.
private final class Received: @unchecked Sendable {
    var data: Data?
    let done = DispatchSemaphore(value: 0)
}

import Foundation
import Testing

@testable import CofferKit

@Suite("Tar archives")
struct TarTests {
    static let files: [(String, [UInt8])] = [
        ("empty.txt", []),
        ("one.bin", [7]),
        ("dir/block-511.bin", patternBytes(511, seed: 1)),
        ("dir/block-512.bin", patternBytes(512, seed: 2)),
        ("dir/sub/block-513.bin", patternBytes(513, seed: 3)),
        (String(repeating: "long-folder-name/", count: 8) + "file.txt", Array("long name".utf8)),
        ("naïve résumé.txt", Array("unicode".utf8)),
    ]

    static func archive(_ files: [(String, [UInt8])] = files) throws -> [UInt8] {
        var out: [UInt8] = []
        let writer = TarWriter { out += $0 }
        for (name, bytes) in files {
            try writer.beginFile(name: name, size: UInt64(bytes.count), mode: 0o600, modified: 1_700_000_000)
            // In two pieces, as a stream would arrive.
            try bytes.withUnsafeBytes { all in
                try writer.write(UnsafeRawBufferPointer(rebasing: all[0..<(all.count / 2)]))
                try writer.write(UnsafeRawBufferPointer(rebasing: all[(all.count / 2)...]))
            }
            try writer.endFile()
        }
        try writer.finish()
        return out
    }

    /// A reader over `archive` in memory.
    static func reader(over archive: [UInt8]) -> TarReader {
        var offset = 0
        return TarReader { buffer in
            let n = min(buffer.count, archive.count - offset)
            archive.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + n)])) }
            offset += n
            return n
        }
    }

    static func read(_ archive: [UInt8]) throws -> [(TarEntry, [UInt8])] {
        let reader = reader(over: archive)
        var entries: [(TarEntry, [UInt8])] = []
        while let entry = try reader.next() {
            var content = [UInt8](repeating: 0, count: Int(entry.size))
            var filled = 0
            while filled < content.count {
                let n = try content.withUnsafeMutableBytes { try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...])) }
                filled += n
            }
            entries.append((entry, content))
        }
        return entries
    }

    static func shell(_ script: String, in directory: String) throws -> TestSupport.RunResult {
        try TestSupport.run("/bin/sh", ["-c", "cd '\(directory)' && " + script])
    }

    @Test("what we write reads back identically, long and unicode names included")
    func roundTrip() throws {
        let entries = try Self.read(try Self.archive())
        #expect(entries.map(\.0.name) == Self.files.map(\.0))
        #expect(entries.map(\.1) == Self.files.map(\.1))
        #expect(entries.allSatisfy { $0.0.mode == 0o600 && !$0.0.isDirectory })
    }

    @Test("GNU tar extracts what we write")
    func gnuTarReadsOurs() throws {
        let scratch = try ScratchDirectory()
        try scratch.write("bundle.tar", try Self.archive())
        try FileManager.default.createDirectory(atPath: scratch.join("out"), withIntermediateDirectories: true)
        let result = try Self.shell("tar -xf bundle.tar -C out && tar -tf bundle.tar", in: scratch.path)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n").map(String.init) == Self.files.map(\.0))
        for (name, bytes) in Self.files {
            #expect(FileManager.default.contents(atPath: scratch.join("out", name)) == Data(bytes), "\(name)")
        }
    }

    @Test("we read what GNU tar writes, in its default, ustar and pax formats", arguments: ["gnu", "ustar", "pax"])
    func weReadGNUTar(format: String) throws {
        let scratch = try ScratchDirectory()
        try scratch.write("src/a.txt", Array("alpha".utf8))
        try scratch.write("src/deep/b.bin", patternBytes(70_000))
        try scratch.write("src/" + String(repeating: "n", count: 90) + "/c.txt", Array("gamma".utf8))
        let result = try Self.shell("tar --format=\(format) -cf out.tar src", in: scratch.path)
        #expect(result.status == 0, "\(result.stderr)")
        let entries = try Self.read(TestSupport.read(URL(fileURLWithPath: scratch.join("out.tar"))))
        let files = Dictionary(uniqueKeysWithValues: entries.filter { !$0.0.isDirectory }.map { ($0.0.name, $0.1) })
        #expect(files["src/a.txt"] == Array("alpha".utf8))
        #expect(files["src/deep/b.bin"] == patternBytes(70_000))
        #expect(files["src/" + String(repeating: "n", count: 90) + "/c.txt"] == Array("gamma".utf8))
        #expect(entries.contains { $0.0.isDirectory && $0.0.name == "src/deep" })
    }

    @Test("links, devices, absolute paths and .. are refused", arguments: [
        "t.addfile(f('/etc/evil'))",
        "t.addfile(f('../evil'))",
        "t.addfile(f('a/../../evil'))",
        "t.addfile(f('sym', tarfile.SYMTYPE, '/etc/passwd'))",
        "t.addfile(f('hard', tarfile.LNKTYPE, 'a.txt'))",
        "t.addfile(f('dev', tarfile.CHRTYPE))",
        "t.addfile(f('fifo', tarfile.FIFOTYPE))",
    ])
    func unsafeEntries(statement: String) throws {
        let scratch = try ScratchDirectory()
        let script = """
            import io, sys, tarfile
            def f(name, kind=tarfile.REGTYPE, link=''):
                i = tarfile.TarInfo(name); i.type = kind; i.linkname = link; return i
            with tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT) as t:
                \(statement)
            """
        let result = try TestSupport.run("/usr/bin/env", ["python3", "-c", script, scratch.join("evil.tar")])
        #expect(result.status == 0, "\(result.stderr)")
        do {
            _ = try Self.read(TestSupport.read(URL(fileURLWithPath: scratch.join("evil.tar"))))
            Issue.record("\(statement) was accepted")
        } catch let error as TarError {
            guard case .unsafeEntry = error else { Issue.record("\(statement): \(error)"); return }
        }
    }

    @Test("the writer refuses unsafe names and wrong sizes")
    func writerChecks() throws {
        let writer = TarWriter { _ in }
        for name in ["", "/abs", "../up", "a//b", "a/./b", "a\\b"] {
            #expect(throws: TarError.self, "\(name)") { try writer.beginFile(name: name, size: 0) }
        }
        try writer.beginFile(name: "short", size: 3)
        #expect(throws: TarError.self) { try [UInt8]([1, 2, 3, 4]).withUnsafeBytes { try writer.write($0) } }
        try [UInt8]([1, 2]).withUnsafeBytes { try writer.write($0) }
        #expect(throws: TarError.self) { try writer.endFile() }
    }

    @Test("every truncation is refused; flipped header bits are caught by the checksum")
    func damage() throws {
        let archive = try Self.archive(Array(Self.files.prefix(3)))
        // The archive ends with two zero blocks; any cut before them is an error.
        for (label, bytes) in Damage.truncations(of: archive) where bytes.count < archive.count - 512 {
            #expect(throws: TarError.self, "\(label)") { try Self.read(bytes) }
        }
        // Header blocks are at 0, 512 and 1024+512 (file 2's data takes one block).
        for headerStart in [0, 512, 1536] {
            for (label, bytes) in Damage.bitFlips(of: Array(archive[headerStart..<(headerStart + 512)])) {
                var damaged = archive
                damaged.replaceSubrange(headerStart..<(headerStart + 512), with: bytes)
                // Either the checksum catches it, or the flip was in a byte
                // tar ignores (a checksum's leading zero or trailing space)
                // and the archive means exactly the same.
                if let entries = try? Self.read(damaged) {
                    let original = try Self.read(archive)
                    #expect(entries.map(\.0) == original.map(\.0) && entries.map(\.1) == original.map(\.1), "header at \(headerStart) \(label)")
                    let index = Int(label.split(separator: " ")[1])!
                    #expect((148..<156).contains(index), "header at \(headerStart) \(label) accepted outside the checksum field")
                } else {
                    expectFailure(.integrity, "header at \(headerStart) \(label)") { _ = try Self.read(damaged) }
                }
            }
        }
        // A pax header claiming more than the limit is refused before reading it.
        var out: [UInt8] = []
        let writer = TarWriter { out += $0 }
        try writer.beginFile(name: String(repeating: "x", count: 200), size: 0)
        try writer.endFile()
        try writer.finish()
        var oversized = out
        let size = Array(String(format: "%011o", TarReader.maximumPAXSize + 1).utf8)
        oversized.replaceSubrange(124..<135, with: size)
        // Recompute the checksum so only the size is wrong.
        oversized.replaceSubrange(148..<156, with: Array(repeating: UInt8(ascii: " "), count: 8))
        let sum = oversized[0..<512].reduce(0) { $0 + Int($1) }
        oversized.replaceSubrange(148..<156, with: Array(String(format: "%06o", sum).utf8) + [0, 32])
        #expect(throws: TarError.malformed("pax header of \(TarReader.maximumPAXSize + 1) bytes")) { try Self.read(oversized) }
    }
}

/// Archives that crashed the reader (found while writing the `bundle-tar`
/// fuzz target and confirmed as traps under it; see docs/TESTING.md). Each
/// is now a ``TarError``.
@Suite("Tar reader regressions")
struct TarRegressionTests {
    /// A ustar header block with a valid checksum.
    static func header(_ name: String, size: Int, type: Character) -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int) { h.replaceSubrange(offset..<(offset + text.utf8.count), with: Array(text.utf8)) }
        put(name, at: 0)
        put("0000644\0", at: 100)
        put("0000000\0", at: 108)
        put("0000000\0", at: 116)
        put(String(size, radix: 8).leftPadded(to: 11) + "\0", at: 124)
        put("00000000000\0", at: 136)
        h[156] = type.asciiValue!
        put("ustar\0" + "00", at: 257)
        put("        ", at: 148)
        put(String(h.reduce(0) { $0 + Int($1) }, radix: 8).leftPadded(to: 6) + "\0 ", at: 148)
        return h
    }

    /// `bytes` padded to whole blocks.
    static func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

    /// Reads every entry; the data of the first only, the rest skipped by `next()`.
    static func readSkipping(_ archive: [UInt8]) throws {
        let reader = TarTests.reader(over: archive)
        var first = true
        var scratch = [UInt8](repeating: 0, count: 512)
        while try reader.next() != nil {
            if first { while try scratch.withUnsafeMutableBytes({ try reader.read(into: $0) }) > 0 {} }
            first = false
        }
    }

    @Test("a pax size of 2^64 - 1 on an entry skipped by next() is a truncated archive, not an overflow")
    func paxSizeNearTwoToThe64() {
        let pax = Array("29 size=18446744073709551615\n".utf8)
        let archive = Self.header("a", size: 1, type: "0") + Self.padded([0x78])
            + Self.header("PaxHeader", size: pax.count, type: "x") + Self.padded(pax)
            + Self.header("b", size: 0, type: "0") + Self.header("c", size: 0, type: "0") + [UInt8](repeating: 0, count: 1024)
        #expect(throws: TarError.malformed("the archive ends inside file data")) { try Self.readSkipping(archive) }
    }

    @Test("a pax record whose length is Int.max, after a valid record, is a malformed record, not an overflow")
    func paxRecordLengthIntMax() {
        let pax = Array("10 path=a\n9223372036854775807 k=v\n".utf8)
        let archive = Self.header("PaxHeader", size: pax.count, type: "x") + Self.padded(pax)
            + Self.header("b", size: 0, type: "0") + [UInt8](repeating: 0, count: 1024)
        #expect(throws: TarError.malformed("pax record")) { try Self.readSkipping(archive) }
        #expect(throws: TarError.malformed("pax record")) { _ = try TarPAX.parse(pax) }
    }
}

private extension String {
    /// The string with leading zeros up to `width` characters.
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

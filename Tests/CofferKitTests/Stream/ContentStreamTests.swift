import Foundation
import Testing

@testable import CofferKit

@Suite("Content streams: STREAM frames in segment objects")
struct ContentStreamTests {
    /// 1 KiB frames, 4 per segment: every boundary is a few KiB away.
    static let small = StreamGeometry(frameSize: 1024, framesPerSegment: 4)!

    /// A sealed stream in a scratch object store.
    struct Sealed {
        let scratch: ScratchDirectory
        let stream: ContentStream
        let key: DataKey
        let plaintext: [UInt8]
        let result: ContentStream.Sealed
        var store: ObjectStore { stream.store as! ObjectStore }
    }

    static func seal(_ plaintext: [UInt8], geometry: StreamGeometry = small) throws -> Sealed {
        let scratch = try ScratchDirectory()
        let store = try ObjectStore.create(at: scratch.join("objects"))
        var stream = ContentStream(store: store)
        stream.geometry = geometry
        let key = DataKey.generate()
        let input = try scratch.write("input", plaintext)
        let batch = PublishBatch(store: store)
        let result = try stream.seal(
            from: try POSIXFile.openForReading(input), key: key, documentID: DocumentID.random(), generation: 1, into: batch)
        try batch.finish()
        return Sealed(scratch: scratch, stream: stream, key: key, plaintext: plaintext, result: result)
    }

    /// Opens `manifest`, collecting whatever the sink receives even on failure.
    static func open(_ sealed: Sealed, manifest: Manifest? = nil, key: DataKey? = nil) -> (output: [UInt8], error: (any Error)?) {
        var output: [UInt8] = []
        do {
            _ = try sealed.stream.open(manifest ?? sealed.result.manifest, key: key ?? sealed.key) { output += $0 }
            return (output, nil)
        } catch {
            return (output, error)
        }
    }

    /// Opens the stream into a file, each segment written at its offset by
    /// the worker that opened it; returns the file's bytes.
    static func openIntoFile(_ sealed: Sealed, manifest: Manifest? = nil) throws -> [UInt8] {
        let path = sealed.scratch.join("opened-\(UUID().uuidString)")
        let writer = CacheBypassingWriter(try POSIXFile.createExclusive(path))
        let count = try sealed.stream.open(manifest ?? sealed.result.manifest, key: sealed.key, placingIn: writer) { _ in
            Issue.record("a stream placed in a file passed plaintext to the sink")
        }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(UInt64(bytes.count) == count)
        return bytes
    }

    @Test("round trips at every frame and segment boundary", arguments: [
        0, 1, 1023, 1024, 1025, 4095, 4096, 4097, 8192, 3 * 4096 + 1024 + 7,
    ])
    func roundTrip(size: Int) throws {
        let sealed = try Self.seal(patternBytes(size, seed: UInt64(size)))
        #expect(sealed.result.size == UInt64(size))
        let expectedSegments = max(1, (size + 4095) / 4096)
        #expect(sealed.result.manifest.segments.count == expectedSegments)
        let (output, error) = Self.open(sealed)
        #expect(error == nil)
        #expect(output == sealed.plaintext)
        #expect(try Self.openIntoFile(sealed) == sealed.plaintext)
    }

    @Test("the standard geometry round-trips a stream of more than one 4 MiB segment")
    func standardGeometry() throws {
        let sealed = try Self.seal(patternBytes((4 << 20) + 65537), geometry: .standard)
        #expect(sealed.result.manifest.segments.count == 2)
        let (output, error) = Self.open(sealed)
        #expect(error == nil)
        #expect(output == sealed.plaintext)
        #expect(try Self.openIntoFile(sealed) == sealed.plaintext)
    }

    @Test("a shared vault's 8 MiB segments round-trip and record the content digest 4 MiB segments record, which is SHA-256 over the tag, 4 MiB and each 4 MiB piece's SHA-256, as before", arguments: [
        0, 1, 4 << 20, (4 << 20) + 1, 8 << 20, (8 << 20) + 1, (12 << 20) + 5,
    ])
    func largeGeometry(size: Int) throws {
        let plaintext = patternBytes(size)
        let large = try Self.seal(plaintext, geometry: .large)
        let standard = try Self.seal(plaintext, geometry: .standard)
        #expect(large.result.manifest.segments.count == max(1, (size + (8 << 20) - 1) / (8 << 20)))
        #expect(Self.open(large).output == plaintext)
        #expect(try Self.openIntoFile(large) == plaintext)
        func sha256(_ bytes: ArraySlice<UInt8>) -> [UInt8] { bytes.withUnsafeBytes { ObjectHash.sha256.digest($0) } }
        var hashed = ByteWriter()
        hashed.write(Array("coffer-content-digest-v1".utf8))
        hashed.write(UInt64(4 << 20))
        for start in stride(from: 0, to: max(size, 1), by: 4 << 20) {
            hashed.write(sha256(plaintext[start..<min(start + (4 << 20), size)]))
        }
        let digest = Hex.encode(sha256(hashed.bytes[...]))
        #expect(large.result.contentDigest == digest && standard.result.contentDigest == digest)
        let input = try large.scratch.write("again", plaintext)
        #expect(try large.stream.contentDigest(of: POSIXFile.openForReading(input)) == digest)
        // Segments that are not a multiple of 4 MiB are digested whole, as before.
        #expect(ContentDigest(segmentSize: Self.small.segmentPlaintextSize).pieceSize == Self.small.segmentPlaintextSize)
    }

    @Test("identical plaintexts under two keys share no object")
    func freshKeysFreshObjects() throws {
        let a = try Self.seal(patternBytes(5000))
        let b = try Self.seal(patternBytes(5000))
        #expect(Set(a.result.manifest.segments).isDisjoint(with: b.result.manifest.segments))
    }

    @Test("a wrong data key fails the commitment check before any output")
    func wrongKey() throws {
        let sealed = try Self.seal(patternBytes(9000))
        let (output, error) = Self.open(sealed, key: .generate())
        #expect(output.isEmpty)
        #expect((error as? VaultError).map { $0.kind == .integrity } == true)
    }

    @Test("reordered, dropped, duplicated or foreign segments are refused")
    func segmentListTampering() throws {
        let sealed = try Self.seal(patternBytes(3 * 4096 + 100))
        let other = try Self.seal(patternBytes(3 * 4096 + 100, seed: 7))
        let segments = sealed.result.manifest.segments
        // Copy the other stream's first segment into this store.
        let foreign = try other.store.read(other.result.manifest.segments[0])
        let foreignID = try sealed.store.put(foreign)
        let variants: [(String, [ObjectID])] = [
            ("swapped", [segments[1], segments[0]] + segments[2...]),
            ("last dropped", Array(segments.dropLast())),
            ("first dropped", Array(segments.dropFirst())),
            ("duplicated", [segments[0]] + segments),
            ("final segment repeated", segments + [segments.last!]),
            ("foreign segment", [foreignID] + segments.dropFirst()),
        ]
        for (label, list) in variants {
            var manifest = sealed.result.manifest
            manifest.segments = list
            let (output, error) = Self.open(sealed, manifest: manifest)
            #expect((error as? any CofferFailure)?.kind == .integrity, "\(label): \(String(describing: error))")
            // Whatever reached the sink was authentic, in order, from the start.
            #expect(sealed.plaintext.starts(with: output), "\(label)")
            #expect(output.count < sealed.plaintext.count, "\(label)")
        }
    }

    @Test("a stream bound to another document or generation does not open")
    func boundToDocument() throws {
        let sealed = try Self.seal(patternBytes(2000))
        var manifest = sealed.result.manifest
        manifest.documentID = DocumentID.random()
        #expect(Self.open(sealed, manifest: manifest).error != nil)
        manifest = sealed.result.manifest
        manifest.generation = 2
        #expect(Self.open(sealed, manifest: manifest).error != nil)
    }

    @Test("every truncation and bit flip of a segment is refused, releasing only authentic frames")
    func segmentDamage() throws {
        let sealed = try Self.seal(patternBytes(4096 + 1500))
        let manifest = sealed.result.manifest
        let cipher = SegmentCipher(
            contentKey: sealed.key.contentKey, salt: manifest.salt, documentID: manifest.documentID,
            generation: manifest.generation, geometry: manifest.geometry)
        var output = [UInt8](repeating: 0, count: 4096)
        for (position, id) in manifest.segments.enumerated() {
            let original = try sealed.store.read(id)
            let isLast = position == manifest.segments.count - 1
            let expected = Array(sealed.plaintext[(position * 4096)...].prefix(4096))
            let damaged = Damage.truncations(of: original) + Damage.bitFlips(of: original)
                + Damage.oversized(original, limit: 64)
            // Exhaustively, in memory, against the segment cipher itself.
            for (label, bytes) in damaged {
                output = [UInt8](repeating: 0, count: 4096)
                do {
                    _ = try bytes.withUnsafeBytes { sealedBytes in
                        try output.withUnsafeMutableBytes { try cipher.open(sealedBytes, index: position, isLast: isLast, into: $0) }
                    }
                    Issue.record("segment \(position) \(label) opened")
                } catch is FormatError {
                } catch is CryptoError {
                }
                // Whatever was written holds only authenticated frames (or zeros).
                for frame in 0..<4 where frame * 1024 < expected.count {
                    let range = (frame * 1024)..<min((frame + 1) * 1024, expected.count)
                    let got = Array(output[range])
                    #expect(got == Array(expected[range]) || got.allSatisfy { $0 == 0 }, "segment \(position) \(label) frame \(frame)")
                }
            }
            // A sample, on disk, through the whole read path.
            for (label, bytes) in damaged where label.hasPrefix("truncated to 0") || label.contains("byte 5 ") || label.contains("trailing") {
                try Self.replace(id, in: sealed.store, with: bytes)
                let (opened, error) = Self.open(sealed)
                #expect((error as? any CofferFailure)?.kind == .integrity, "segment \(position) \(label)")
                #expect(sealed.plaintext.starts(with: opened), "segment \(position) \(label)")
                expectFailure(.integrity, "segment \(position) \(label), into a file") { _ = try Self.openIntoFile(sealed) }
            }
            try Self.replace(id, in: sealed.store, with: original)
        }
        #expect(Self.open(sealed).output == sealed.plaintext)
    }

    /// Replaces an object's file without going through the store (no fsync).
    static func replace(_ id: ObjectID, in store: ObjectStore, with bytes: [UInt8]) throws {
        let path = store.path(of: id)
        try FileManager.default.removeItem(atPath: path)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test("manifests parse strictly")
    func manifestParsing() throws {
        let sealed = try Self.seal(patternBytes(9000))
        let bytes = sealed.result.manifest.encoded()
        #expect(try Manifest(parsing: bytes) == sealed.result.manifest)
        for (label, damaged) in Damage.truncations(of: bytes) + Damage.oversized(bytes, limit: 1 << 16) {
            #expect(throws: FormatError.self, "\(label)") { try Manifest(parsing: damaged) }
        }
        for (label, damaged) in Damage.bitFlips(of: bytes, allBits: true) {
            // A manifest has no integrity of its own (its object name does
            // that): a flip either fails to parse or parses to a different manifest.
            if let parsed = try? Manifest(parsing: damaged) {
                #expect(parsed != sealed.result.manifest, "\(label)")
                #expect(Self.open(sealed, manifest: parsed).error != nil, "\(label) still opened")
            }
        }
        // A segment count of 2^40 is refused without allocating.
        var huge = Array(bytes[..<(Manifest.fixedSize - 8)])
        var writer = ByteWriter()
        writer.write(UInt64(1) << 40)
        huge += writer.bytes
        #expect(throws: FormatError.self) { try Manifest(parsing: huge) }
    }
}

import Crypto
import Foundation
/// Where a seal reads a document's plaintext from, in order: a file, a
/// pipe, or bytes in memory.
protocol ByteSource: AnyObject {
    /// Fills `buffer` from the next bytes, or as much of it as is left;
    /// returns the count (0 at the end).
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

extension POSIXFile: ByteSource {}

/// Bytes in memory as a ``ByteSource`` (``Vault/seal(bytes:name:label:)``): no file, no copy.
final class MemorySource: ByteSource {
    private let bytes: [UInt8]
    private var offset = 0

    init(_ bytes: [UInt8]) {
        self.bytes = bytes
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, bytes.count - offset)
        bytes.withUnsafeBytes { buffer.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
        offset += count
        return count
    }
}

/// A ``ByteSource`` that hashes what it passes on (SHA-256): the content
/// digest a sealed document records, so that sealing unchanged content
/// again can be recognised (``Vault/seal(paths:name:label:onSealed:)``).
final class DigestingSource<Source: ByteSource>: ByteSource {
    private let source: Source
    private var hasher = SHA256()

    init(_ source: Source) {
        self.source = source
    }

    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try source.read(into: buffer)
        hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        return count
    }

    /// The digest of everything read so far, lowercase hex.
    var digest: String { Hex.encode(Array(hasher.finalize())) }

    /// The SHA-256 of everything `source` holds from where it stands, read to its end in 1 MiB steps.
    static func digest(of source: Source) throws -> String {
        let digesting = DigestingSource(source)
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while try digesting.read(into: buffer) > 0 {}
        return digesting.digest
    }
}

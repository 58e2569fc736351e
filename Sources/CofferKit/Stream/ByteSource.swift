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

/// The SHA-256 of a whole plaintext, as documents sealed before
/// ``ContentDigest`` recorded it (``DocumentMetadata/digest``): still
/// computed for a file sealed over such a document, to recognise it unchanged.
enum WholeContentDigest {
    /// The SHA-256 of everything `source` holds from where it stands, read to its end in 1 MiB steps; lowercase hex.
    static func of(_ source: some ByteSource) throws -> String {
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while case let count = try source.read(into: buffer), count > 0 {
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return Hex.encode(Array(hasher.finalize()))
    }
}

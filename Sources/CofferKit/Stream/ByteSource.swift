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

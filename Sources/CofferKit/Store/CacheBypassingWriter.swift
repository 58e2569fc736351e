#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// Writes a big file at given offsets, moving whole aligned blocks straight
/// from the caller's buffers to the device (direct I/O, through a second
/// descriptor opened for it) and everything else through the page cache.
///
/// Direct I/O spares the kernel a copy of every byte and the pages to hold
/// them, and keeps a big file written once from evicting what the cache
/// holds; the data is still durable only after a sync. Writes are
/// positional, so several threads may write different parts at once, which
/// also keeps several requests in flight to the device.
final class CacheBypassingWriter: @unchecked Sendable {
    /// The file, through the page cache.
    private let file: POSIXFile
    /// The same file with direct I/O; nil where the file system refuses it.
    private let direct: POSIXFile?

    /// A writer to `file` (open for writing).
    init(_ file: POSIXFile) {
        self.file = file
        direct = file.reopenedForDirectWrites()
    }

    /// Writes all of `buffer` at `offset`: its largest block-aligned part
    /// directly when `buffer` and `offset` are aligned, the rest (and
    /// anything direct I/O refuses) through the page cache, which reports a
    /// real error.
    /// - Throws: ``FileError`` (`ENOSPC`, `EFBIG`, …).
    func write(_ buffer: UnsafeRawBufferPointer, at offset: Int) throws {
        let alignment = POSIXFile.directIOAlignment
        var done = 0
        if let direct, offset % alignment == 0, Int(bitPattern: buffer.baseAddress) % alignment == 0 {
            let directCount = buffer.count / alignment * alignment
            while done < directCount {
                let n = pwrite(direct.descriptor, buffer.baseAddress! + done, directCount - done, off_t(offset + done))
                if n > 0 { done += n } else if n < 0, errno == EINTR { continue } else { break }
            }
        }
        try file.write(UnsafeRawBufferPointer(rebasing: buffer[done...]), at: offset + done)
    }
}

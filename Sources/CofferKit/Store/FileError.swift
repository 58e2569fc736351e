#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif

/// A failed system call on a file, with the path and the operating system's
/// reason. Never carries file contents.
public struct FileError: CofferFailure, Equatable {
    /// What was being done ("open", "write", "rename", …).
    public let operation: String
    /// The path involved.
    public let path: String
    /// The `errno` value reported by the system.
    public let code: Int32

    /// A failure of `operation` on `path` with the given `errno` value.
    public init(operation: String, path: String, code: Int32) {
        self.init(operation, path: path, code: code)
    }

    /// Records the current `errno` for `operation` on `path`.
    init(_ operation: String, path: String, code: Int32 = errno) {
        self.operation = operation
        self.path = path
        self.code = code
    }

    public var kind: FailureKind {
        switch code {
        case ENOENT, ENOTDIR: .notFound
        case EEXIST: .conflict
        default: .io
        }
    }

    public var description: String {
        let reason = String(cString: strerror(code))
        switch code {
        case ENOSPC, EDQUOT: return "\(operation) \(path): \(reason); free some space and run the command again"
        case EFBIG: return "\(operation) \(path): \(reason) (file size limit reached)"
        case EACCES, EPERM: return "\(operation) \(path): \(reason); check the file's owner and mode"
        default: return "\(operation) \(path): \(reason)"
        }
    }
}

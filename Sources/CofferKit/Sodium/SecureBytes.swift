import CSodium

/// A fixed-size buffer of secret bytes in `sodium_malloc` memory: guarded
/// by inaccessible pages, locked out of swap, excluded from core dumps where
/// the platform allows, and wiped when released.
///
/// The bytes are reachable only through ``withUnsafeBytes(_:)``. The type has
/// no `description`, `Codable` or `Hashable` conformance on purpose. It is
/// immutable once built, which is what makes sharing it between threads safe.
public final class SecureBytes: @unchecked Sendable {
    private let pointer: UnsafeMutableRawPointer
    /// The number of secret bytes.
    public let count: Int

    /// Allocates `count` bytes and lets `initialise` fill them before the
    /// buffer becomes visible to anyone else.
    init(count: Int, initialise: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        Sodium.ensureInitialised()
        guard let raw = sodium_malloc(Swift.max(count, 1)) else {
            preconditionFailure("sodium_malloc could not allocate \(count) bytes of locked memory")
        }
        // Fill before the stored properties are set: if `initialise` throws,
        // the object is then not fully initialised, so `deinit` does not run
        // and free the memory a second time.
        do {
            try initialise(UnsafeMutableRawBufferPointer(start: raw, count: count))
        } catch {
            sodium_free(raw)
            throw error
        }
        pointer = raw
        self.count = count
    }

    /// `count` bytes from the system CSPRNG.
    convenience init(randomCount count: Int) {
        self.init(count: count) { Sodium.fillRandom($0) }
    }

    /// A locked copy of `bytes`. The caller remains responsible for wiping its
    /// own copy.
    convenience init(copying bytes: UnsafeRawBufferPointer) {
        self.init(count: bytes.count) { $0.copyMemory(from: bytes) }
    }

    /// A locked copy of `bytes` (for a passphrase read by the caller, which
    /// must then wipe its own copy).
    public static func copying(_ bytes: [UInt8]) -> SecureBytes {
        bytes.withUnsafeBytes { SecureBytes(copying: $0) }
    }

    deinit {
        sodium_free(pointer)  // wipes before unmapping
    }

    /// Calls `body` with a read-only view of the secret bytes. Do not let the
    /// pointer escape.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Compares with another secret in constant time.
    public func constantTimeEquals(_ other: SecureBytes) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in Sodium.constantTimeEqual(a, b) } }
    }

    /// Compares with public bytes in constant time.
    func constantTimeEquals(_ other: [UInt8]) -> Bool {
        withUnsafeBytes { a in other.withUnsafeBytes { b in Sodium.constantTimeEqual(a, b) } }
    }
}

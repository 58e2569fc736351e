import CSodium

/// Process-wide libsodium set-up and the few helpers every other file needs.
///
/// This folder (`Sodium/`) holds the only files that import `CSodium`; the rest
/// of CofferKit works with the typed wrappers defined here.
public enum Sodium {
    /// The version of the libsodium Coffer runs with (`1.0.18`).
    public static var libraryVersion: String { String(cString: sodium_version_string()) }

    private static let initialised: Bool = sodium_init() >= 0

    /// Initialises libsodium once. A failure is a broken invariant of the
    /// platform (no entropy source), so it stops the process.
    static func ensureInitialised() {
        precondition(initialised, "libsodium could not be initialised (no usable random source)")
    }

    /// Fills `buffer` with bytes from the operating system's CSPRNG.
    static func fillRandom(_ buffer: UnsafeMutableRawBufferPointer) {
        ensureInitialised()
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        randombytes_buf(base, buffer.count)
    }

    /// Returns `count` random bytes. For public values only (ids, salts, nonces);
    /// secrets are generated directly into ``SecureBytes``.
    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        bytes.withUnsafeMutableBytes { fillRandom($0) }
        return bytes
    }

    /// Compares two byte sequences in time independent of their contents.
    static func constantTimeEqual(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
        guard a.count == b.count else { return false }
        if a.count == 0 { return true }
        return sodium_memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0
    }

    /// Compares two byte arrays in time independent of their contents.
    static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBytes { ra in b.withUnsafeBytes { rb in constantTimeEqual(ra, rb) } }
    }

    /// Overwrites `buffer` with zeros in a way the compiler cannot elide.
    static func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return }
        sodium_memzero(base, buffer.count)
    }

    /// Wipes an ordinary array in place (for transient copies that had to leave
    /// locked memory, such as a passphrase read from a file).
    public static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { wipe($0) }
    }
}

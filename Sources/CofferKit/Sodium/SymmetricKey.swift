/// A 256-bit symmetric key in locked memory: the common storage behind every
/// typed key (``DataKey``, ``RoleKey`` and the derived subkeys). It is internal
/// on purpose; the public API speaks only in typed keys.
struct SymmetricKey: Sendable {
    /// Key length in bytes for every AEAD and KDF Coffer uses.
    static let byteCount = 32

    /// The locked key bytes.
    let bytes: SecureBytes

    /// A fresh key from the system CSPRNG.
    static func random() -> SymmetricKey {
        SymmetricKey(unchecked: SecureBytes(randomCount: byteCount))
    }

    /// Adopts locked bytes that are already a key.
    /// - Throws: ``CryptoError/invalidInput(_:)`` if the length is not 32.
    init(_ bytes: SecureBytes) throws {
        guard bytes.count == Self.byteCount else {
            throw CryptoError.invalidInput("a key must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// Adopts locked bytes whose length the caller has already fixed at 32.
    init(unchecked bytes: SecureBytes) {
        precondition(bytes.count == Self.byteCount, "key length")
        self.bytes = bytes
    }

    /// Calls `body` with the raw key bytes.
    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeBytes(body)
    }
}

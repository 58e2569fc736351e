import CSodium
import Foundation

/// A fixed-size buffer of secret bytes in `sodium_malloc` memory: locked
/// out of swap, excluded from core dumps where the platform allows, and wiped
/// when released. Buffers larger than `SecureSlab/slotSize` get their own
/// allocation between inaccessible guard pages; keys and other small secrets
/// share locked slabs (see `SecureSlab`), because a rotation handles
/// hundreds of thousands of data keys and a guarded allocation costs several
/// system calls.
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
        let raw = count <= SecureSlab.slotSize ? SecureSlab.shared.allocate() : Self.guardedAllocation(count)
        // Fill before the stored properties are set: if `initialise` throws,
        // the object is then not fully initialised, so `deinit` does not run
        // and free the memory a second time.
        do {
            try initialise(UnsafeMutableRawBufferPointer(start: raw, count: count))
        } catch {
            Self.release(raw, count: count)
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
        Self.release(pointer, count: count)
    }

    private static func guardedAllocation(_ count: Int) -> UnsafeMutableRawPointer {
        guard let raw = sodium_malloc(count) else {
            preconditionFailure("sodium_malloc could not allocate \(count) bytes of locked memory")
        }
        return raw
    }

    private static func release(_ pointer: UnsafeMutableRawPointer, count: Int) {
        if count <= SecureSlab.slotSize {
            SecureSlab.shared.free(pointer)  // wipes the slot
        } else {
            sodium_free(pointer)  // wipes before unmapping
        }
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

/// Locked memory for small secrets: slabs of `sodium_malloc` memory cut into
/// fixed slots. A slot is wiped (`sodium_memzero`) when it is freed and
/// handed out again; slabs are never returned, so the locked total is
/// bounded by the most small secrets alive at once.
final class SecureSlab: @unchecked Sendable {
    /// The largest secret a slot holds.
    static let slotSize = 64
    /// Slots per slab (one slab is 64 KiB).
    static let slotsPerSlab = 1024

    /// The process-wide allocator.
    static let shared = SecureSlab()

    private let lock = NSLock()
    private var freeSlots: [UnsafeMutableRawPointer] = []

    /// A slot of `slotSize` bytes (contents unspecified; callers initialise it).
    func allocate() -> UnsafeMutableRawPointer {
        lock.lock()
        defer { lock.unlock() }
        if freeSlots.isEmpty {
            guard let slab = sodium_malloc(Self.slotSize * Self.slotsPerSlab) else {
                preconditionFailure("sodium_malloc could not allocate a slab of locked memory")
            }
            freeSlots.reserveCapacity(freeSlots.count + Self.slotsPerSlab)
            for i in stride(from: Self.slotsPerSlab - 1, through: 0, by: -1) { freeSlots.append(slab + i * Self.slotSize) }
        }
        return freeSlots.removeLast()
    }

    /// Wipes a slot and makes it available again.
    func free(_ slot: UnsafeMutableRawPointer) {
        sodium_memzero(slot, Self.slotSize)
        lock.lock()
        freeSlots.append(slot)
        lock.unlock()
    }
}

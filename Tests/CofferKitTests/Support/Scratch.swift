import Foundation
import Testing

@testable import CofferKit

/// A fresh directory under the system temporary directory, removed when the
/// value is released. Every test that touches the disk works inside one.
final class ScratchDirectory {
    /// The directory's path.
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/coffer-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestFailure("mkdtemp failed: errno \(errno)") }
        path = String(cString: made)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    /// A path inside the directory.
    func join(_ components: String...) -> String {
        components.reduce(path) { $0 + "/" + $1 }
    }

    /// Writes `bytes` to a file inside the directory and returns its path.
    @discardableResult
    func write(_ name: String, _ bytes: [UInt8]) throws -> String {
        let target = join(name)
        try FileManager.default.createDirectory(
            atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: target))
        return target
    }
}

/// Systematic damage to a well-formed input, for parser robustness tests:
/// every prefix, every single-bit flip, and oversized variants.
enum Damage {
    /// Every strict prefix of `bytes` (lengths 0 ..< count).
    static func truncations(of bytes: [UInt8]) -> [(label: String, bytes: [UInt8])] {
        (0..<bytes.count).map { ("truncated to \($0) of \(bytes.count)", Array(bytes[..<$0])) }
    }

    /// `bytes` with one bit flipped, for every byte; the flipped bit cycles
    /// through 0...7 with the byte index, and `allBits` flips all eight.
    static func bitFlips(of bytes: [UInt8], allBits: Bool = false) -> [(label: String, bytes: [UInt8])] {
        var result: [(String, [UInt8])] = []
        for index in bytes.indices {
            for bit in allBits ? Array(0..<8) : [index % 8] {
                var copy = bytes
                copy[index] ^= 1 << bit
                result.append(("byte \(index) bit \(bit) flipped", copy))
            }
        }
        return result
    }

    /// `bytes` with trailing junk, and `bytes` grown past any sane size.
    static func oversized(_ bytes: [UInt8], limit: Int) -> [(label: String, bytes: [UInt8])] {
        [("one trailing byte", bytes + [0]),
         ("trailing copy", bytes + bytes),
         ("past the size limit", bytes + [UInt8](repeating: 0x41, count: limit + 1))]
    }
}

/// Asserts that `body` throws a ``CofferFailure`` of `kind`.
func expectFailure(
    _ kind: FailureKind, _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
    _ body: () throws -> Void
) {
    do {
        try body()
        Issue.record("expected a \(kind) failure, but it succeeded \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
    } catch let failure as any CofferFailure {
        #expect(failure.kind == kind, "\(comment.map { "\($0): " } ?? "")\(failure)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a CofferFailure of kind \(kind), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
    }
}

/// Asserts that `body` either succeeds or throws a typed ``CofferFailure``
/// (never another error type), and returns whether it threw.
@discardableResult
func expectTypedOutcome(_ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void) -> Bool {
    do {
        try body()
        return false
    } catch is any CofferFailure {
        return true
    } catch {
        Issue.record("untyped error \(type(of: error)): \(error) \(comment.map { "(\($0))" } ?? "")", sourceLocation: sourceLocation)
        return true
    }
}

/// Deterministic pseudo-random bytes (tests that need reproducible content).
func patternBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var out = [UInt8](repeating: 0, count: count)
    for i in 0..<count {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        out[i] = UInt8(truncatingIfNeeded: state >> 56)
    }
    return out
}

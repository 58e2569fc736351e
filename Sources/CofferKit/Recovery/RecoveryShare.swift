import Foundation

/// One officer's share of a vault's recovery identity (`coffer recovery
/// setup`): a small text file that can be printed, stored offline, or
/// age-encrypted to its officer.
///
/// ```
/// coffer-recovery-share v1
/// vault 4f0c…(32 hex)
/// recovery 9a8b…(the recovery identity's fingerprint)
/// share 2 of 5, threshold 3
/// digest 1 <64 hex>
/// …
/// digest 5 <64 hex>
/// secret <base64 of the 32-byte share>
/// ```
///
/// Every file lists the digests of all the shares, so a damaged share is
/// named (its bytes do not match the digest the other files agree on)
/// rather than silently rebuilding a wrong seed; the rebuilt identity's
/// fingerprint is checked against `recovery` too. A digest is
/// BLAKE2b-256("coffer-recovery-share" ‖ recovery fingerprint ‖ share
/// number (one byte) ‖ share): it reveals nothing about a 32-byte random share.
public struct RecoveryShare: Sendable {
    /// The vault.
    public let vault: VaultID
    /// The recovery identity's fingerprint.
    public let recovery: String
    /// This share's number (1…count).
    public let number: Int
    /// How many shares there are.
    public let count: Int
    /// How many rebuild the seed.
    public let threshold: Int
    /// The digests of every share, by number (index 0: share 1).
    public let digests: [[UInt8]]
    /// The share itself.
    let secret: SecureBytes

    /// The longest file accepted.
    public static let maximumFileSize = 64 * 1024
    private static let header = "coffer-recovery-share v1"

    init(vault: VaultID, recovery: String, number: Int, count: Int, threshold: Int, digests: [[UInt8]], secret: SecureBytes) {
        self.vault = vault
        self.recovery = recovery
        self.number = number
        self.count = count
        self.threshold = threshold
        self.digests = digests
        self.secret = secret
    }

    /// The digest of share `number` with bytes `share` for the recovery identity `recovery`.
    static func digest(recovery: String, number: Int, share: SecureBytes) -> [UInt8] {
        var input = Array("coffer-recovery-share".utf8) + Array(recovery.utf8) + [UInt8(number)]
        defer { Sodium.wipe(&input) }
        return share.withUnsafeBytes { input += $0; return Blake2b.hash(input) }
    }

    /// Whether this share's bytes match `digest`.
    func matches(_ digest: [UInt8]) -> Bool {
        Sodium.constantTimeEqual(Self.digest(recovery: recovery, number: number, share: secret), digest)
    }

    /// The file's bytes (the base64 of the share is built and wiped in plain memory once).
    public func encoded() -> [UInt8] {
        var lines = [Self.header, "vault \(vault)", "recovery \(recovery)", "share \(number) of \(count), threshold \(threshold)"]
        lines += digests.enumerated().map { "digest \($0.offset + 1) \(Hex.encode($0.element))" }
        var text = Array((lines.joined(separator: "\n") + "\nsecret ").utf8)
        var secretText = secret.withUnsafeBytes { Base64.encodedBytes($0) }
        defer { Sodium.wipe(&secretText) }
        text += secretText + [UInt8(ascii: "\n")]
        return text
    }

    /// Parses a share file.
    /// - Throws: ``RecoveryError/malformedShare(_:)`` naming what is wrong;
    ///   never a crash, for any input.
    public init(parsing bytes: [UInt8]) throws {
        func bad(_ reason: String) -> RecoveryError { .malformedShare(reason) }
        guard bytes.count <= Self.maximumFileSize else { throw bad("larger than \(Self.maximumFileSize) bytes") }
        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        guard lines.count >= 6 else { throw bad("too short") }
        func text(_ line: ArraySlice<UInt8>) throws -> String {
            guard let string = String(validating: line, as: UTF8.self) else { throw bad("not UTF-8") }
            return string
        }
        func field(_ index: Int, _ name: String) throws -> String {
            let line = try text(lines[index])
            guard line.hasPrefix(name + " ") else { throw bad("line \(index + 1) is not \(name)") }
            return String(line.dropFirst(name.count + 1))
        }
        guard try text(lines[0]) == Self.header else { throw bad("not a Coffer recovery share (v1)") }
        // Lowercase hex only: one file has one spelling.
        func isLowerHex(_ text: some StringProtocol, digits: Int) -> Bool {
            text.utf8.count == digits && text.utf8.allSatisfy { (48...57).contains($0) || (97...102).contains($0) }
        }
        let vaultHex = try field(1, "vault")
        guard isLowerHex(vaultHex, digits: 32), let vault = try? VaultID(hex: vaultHex) else { throw bad("vault id") }
        let recovery = try field(2, "recovery")
        guard isLowerHex(recovery, digits: 32) else { throw bad("recovery fingerprint") }
        let numbers = try field(3, "share").split(whereSeparator: { " ,".contains($0) })
        guard numbers.count == 5, numbers[1] == "of", numbers[3] == "threshold", let number = Int(numbers[0]), let count = Int(numbers[2]),
              let threshold = Int(numbers[4]), (2...255).contains(count), (1...count).contains(number), (2...count).contains(threshold)
        else { throw bad("share line: share N of COUNT, threshold K with 2 ≤ K ≤ COUNT ≤ 255") }
        guard lines.count == 4 + count + 2, lines.last?.isEmpty == true else { throw bad("expected \(count) digest lines, a secret line and a final newline") }
        var digests: [[UInt8]] = []
        for index in 0..<count {
            let parts = try field(4 + index, "digest").split(separator: " ")
            guard parts.count == 2, parts[0] == "\(index + 1)", isLowerHex(parts[1], digits: 64), let digest = Hex.decode(String(parts[1])) else {
                throw bad("digest \(index + 1)")
            }
            digests.append(digest)
        }
        let secretLine = lines[4 + count]
        let prefix = Array("secret ".utf8)
        guard secretLine.starts(with: prefix), var decoded = Base64.decode(bytes: secretLine.dropFirst(prefix.count)) else { throw bad("secret line") }
        defer { Sodium.wipe(&decoded) }
        guard decoded.count == SymmetricKey.byteCount else { throw bad("the secret is not \(SymmetricKey.byteCount) bytes") }
        self.init(
            vault: vault, recovery: recovery, number: number, count: count, threshold: threshold, digests: digests, secret: SecureBytes.copying(decoded))
    }
}

/// Failures of break-glass recovery.
public enum RecoveryError: CofferFailure, Equatable {
    /// A share file does not parse.
    case malformedShare(String)
    /// Shares of different setups (vault, recovery identity, count or threshold) were given together.
    case mismatchedShares(String)
    /// A share's bytes do not match the digest the other shares record for it.
    case damagedShare(String)
    /// Fewer intact, distinct shares than the threshold.
    case notEnoughShares(have: Int, need: Int)
    /// The rebuilt seed is not the recovery identity's (more shares are damaged than the digests can show).
    case wrongSeed

    public var kind: FailureKind {
        switch self {
        case .malformedShare, .notEnoughShares, .mismatchedShares: .usage
        case .damagedShare, .wrongSeed: .integrity
        }
    }

    public var description: String {
        switch self {
        case .malformedShare(let reason): "not a valid recovery share: \(reason)"
        case .mismatchedShares(let reason): "the shares do not belong together: \(reason)"
        case .damagedShare(let which): "damaged recovery share: \(which)"
        case .notEnoughShares(let have, let need): "recovery needs \(need) intact shares, and \(have) were given"
        case .wrongSeed: "the shares rebuilt a seed that is not the recovery identity's; at least one share is damaged"
        }
    }
}

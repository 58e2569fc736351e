/// One part of a vault's objects, for `coffer verify --subset PART/PARTS`:
/// the objects whose name's first four bytes, read as a big-endian number,
/// leave `part − 1` modulo `parts`. Running parts 1 to PARTS in turn (one a
/// night, say) re-hashes every object once, as restic's
/// `check --read-data-subset` does for its packs.
public struct ObjectSubset: Sendable, Equatable, CustomStringConvertible {
    /// Which part, from 1.
    public let part: Int
    /// How many parts.
    public let parts: Int

    /// The most parts a vault's objects are divided into.
    public static let maximumParts = 1000

    /// Part `part` of `parts`.
    /// - Throws: ``VaultError/invalidRequest(_:)`` unless 1 ≤ part ≤ parts ≤ ``maximumParts``.
    public init(part: Int, of parts: Int) throws {
        guard (1...Self.maximumParts).contains(parts), (1...parts).contains(part) else {
            throw VaultError.invalidRequest("a subset is PART/PARTS with 1 ≤ PART ≤ PARTS ≤ \(Self.maximumParts), like 3/7")
        }
        self.part = part
        self.parts = parts
    }

    /// Parses `PART/PARTS`, like `3/7`.
    /// - Throws: ``VaultError/invalidRequest(_:)``.
    public init(parsing text: String) throws {
        let fields = text.split(separator: "/", omittingEmptySubsequences: false)
        guard fields.count == 2, fields.allSatisfy({ !$0.isEmpty && $0.utf8.count <= 4 && $0.allSatisfy(\.isWholeNumber) && $0.allSatisfy(\.isASCII) }),
              let part = Int(fields[0]), let parts = Int(fields[1])
        else { throw VaultError.invalidRequest("a subset is PART/PARTS with 1 ≤ PART ≤ PARTS ≤ \(Self.maximumParts), like 3/7; not \(text.debugDescription)") }
        try self.init(part: part, of: parts)
    }

    public var description: String { "\(part)/\(parts)" }

    /// Whether `id` is in this part.
    public func contains(_ id: ObjectID) -> Bool {
        let bytes = id.bytes
        let leading = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
        return leading % parts == part - 1
    }
}

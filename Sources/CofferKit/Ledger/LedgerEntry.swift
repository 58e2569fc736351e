import Foundation

/// One signed, hash-chained ledger entry.
///
/// The body is a JSON object with sorted keys: `v` (1), `vault`, `seq`,
/// `prev` (hex hash of the previous entry, 64 zeros for entry 0), `time`
/// (RFC 3339 UTC), `actor` (fingerprint), `action` and `data`. The body bytes
/// are stored exactly as signed, so no re-serialisation is ever needed.
///
/// - Signature: Ed25519 by the actor over `"coffer-ledger-v1\0" ‖ vault id ‖ body`.
/// - Hash: BLAKE2b-256 of `body ‖ signature`; the next entry's `prev`.
public struct LedgerEntry: Sendable, Equatable {
    /// Position in the chain, from 0.
    public let sequence: Int64
    /// The exact signed JSON body.
    public let body: [UInt8]
    /// The actor's Ed25519 signature.
    public let signature: [UInt8]

    /// The decoded header fields and event.
    public let contents: Contents
    /// BLAKE2b-256 of `body ‖ signature`: the next entry's `prev`.
    public let hash: [UInt8]
    /// The signature as a reader thread checked it ahead of the replay
    /// (``SigningKeys``); ``LedgerVerifier`` uses it only if the key it
    /// was checked against is the actor's key at this point of the replay.
    var signatureCheckedAhead: SignatureCheck?

    /// The decoded body.
    public struct Contents: Sendable, Equatable {
        /// The vault this entry belongs to.
        public let vault: VaultID
        /// Position in the chain.
        public let sequence: Int64
        /// Hash of the previous entry.
        public let previous: [UInt8]
        /// When the actor recorded it.
        public let time: Date
        /// The actor's fingerprint.
        public let actor: String
        /// What happened.
        public let event: LedgerEvent
    }

    /// Hash of the empty chain: entry 0's `prev`.
    static let genesis = [UInt8](repeating: 0, count: 32)
    /// Bodies larger than this are refused (a single entry for a rotation of
    /// a million documents stays well below it).
    static let maximumBodySize = 256 << 20

    static func hash(body: [UInt8], signature: [UInt8]) -> [UInt8] {
        let h = Blake2b()
        h.update(body)
        h.update(signature)
        return h.finalize()
    }

    static func signedMessage(vault: VaultID, body: [UInt8]) -> [UInt8] {
        Array("coffer-ledger-v1\0".utf8) + vault.bytes + body
    }

    /// Builds and signs a new entry.
    static func make(
        event: LedgerEvent, vault: VaultID, sequence: Int64, previous: [UInt8], time: Date, actor: Identity
    ) throws -> LedgerEntry {
        let header = EntryHeader(
            v: 1, vault: vault, seq: sequence, prev: Hex.encode(previous), time: Timestamp.format(time),
            actor: actor.fingerprint, action: event.action)
        let body = try LedgerJSON.encoder.encode(EncodableEntry(header: header, event: event))
        let bytes = Array(body)
        let signature = try actor.sign(signedMessage(vault: vault, body: bytes))
        return try LedgerEntry(sequence: sequence, body: bytes, signature: signature)
    }

    /// Parses a stored entry (no signature check: see ``LedgerVerifier``).
    /// - Throws: ``LedgerError/malformed(sequence:reason:)``.
    init(sequence: Int64, body: [UInt8], signature: [UInt8]) throws {
        self.sequence = sequence
        self.body = body
        self.signature = signature
        hash = Self.hash(body: body, signature: signature)
        guard body.count <= Self.maximumBodySize else {
            throw LedgerError.malformed(sequence: sequence, reason: "body of \(body.count) bytes")
        }
        guard signature.count == Ed25519.signatureByteCount else {
            throw LedgerError.malformed(sequence: sequence, reason: "signature is not 64 bytes")
        }
        do {
            let decoded = try LedgerJSON.decoder.decode(DecodableEntry.self, from: Data(body))
            let h = decoded.header
            guard h.v == 1 else { throw FormatError.unsupportedVersion("ledger entry", h.v) }
            guard let prev = Hex.decode(h.prev), prev.count == 32 else { throw FormatError.malformed("ledger entry", "prev") }
            guard let time = Timestamp.parse(h.time) else { throw FormatError.malformed("ledger entry", "time") }
            guard h.seq == sequence else { throw FormatError.malformed("ledger entry", "seq \(h.seq) stored at row \(sequence)") }
            contents = Contents(vault: h.vault, sequence: h.seq, previous: prev, time: time, actor: h.actor, event: decoded.event)
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError.malformed(sequence: sequence, reason: "\(error)")
        }
    }

    /// Entries are equal when their stored bytes are (how they were checked does not matter).
    public static func == (a: LedgerEntry, b: LedgerEntry) -> Bool {
        a.sequence == b.sequence && a.body == b.body && a.signature == b.signature
    }
}

/// The header fields of an entry body.
struct EntryHeader: Codable {
    var v: Int
    var vault: VaultID
    var seq: Int64
    var prev: String
    var time: String
    var actor: String
    var action: String
}

private struct EncodableEntry: Encodable {
    let header: EntryHeader
    let event: LedgerEvent

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: EntryCodingKey.self)
        try c.encode(header.v, forKey: .v)
        try c.encode(header.vault, forKey: .vault)
        try c.encode(header.seq, forKey: .seq)
        try c.encode(header.prev, forKey: .prev)
        try c.encode(header.time, forKey: .time)
        try c.encode(header.actor, forKey: .actor)
        try c.encode(header.action, forKey: .action)
        try event.encodePayload(into: &c)
    }
}

private struct DecodableEntry: Decodable {
    let header: EntryHeader
    let event: LedgerEvent

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: EntryCodingKey.self)
        header = try EntryHeader(from: decoder)
        event = try LedgerEvent.decode(action: header.action, from: c)
        guard event.action == header.action else { throw FormatError.malformed("ledger entry", "action") }
    }
}

/// The JSON settings every ledger body uses.
enum LedgerJSON {
    /// Sorted keys, no escaped slashes, base64 for bytes.
    static var encoder: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dataEncodingStrategy = .base64
        return e
    }

    /// The matching decoder.
    static var decoder: JSONDecoder {
        let d = JSONDecoder()
        d.dataDecodingStrategy = .base64
        return d
    }
}

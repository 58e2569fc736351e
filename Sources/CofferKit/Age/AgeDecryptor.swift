/// How the input of an ``AgeDecryptor`` is encoded.
public enum AgeInputFormat: Sendable {
    /// Armored if, after optional whitespace, it starts with `-----BEGIN`;
    /// binary otherwise.
    case automatic
    /// The binary age format.
    case binary
    /// ASCII armor around the binary format.
    case armored
}

/// Streaming age decryption from a source to a sink, in constant memory.
///
/// `init` reads and checks the header (parse, find a matching identity,
/// verify the header MAC, read the payload nonce), so a caller learns that
/// the key is wrong before it creates any output. `decrypt(to:)` then
/// streams the payload:
///
/// ```swift
/// let decryptor = try AgeDecryptor(source: fileSource, identities: [.x25519(identity)])
/// try decryptor.decrypt(to: &plaintextSink)
/// ```
///
/// - Important: plaintext is released chunk by chunk as each 64 KiB chunk
///   authenticates. If `decrypt(to:)` throws ``AgeError/payload(_:)``
///   (or an armor error), what the sink received is a prefix of the
///   plaintext only: the caller must discard it (write to a temporary file
///   and rename only on success).
public final class AgeDecryptor {
    private var reader: AgeBufferedReader
    private var opener: AgePayloadOpener
    private var used = false
    /// For ``read(into:)``: the current chunk and how much of it was handed out.
    private var buffers: AgeChunkBuffers?
    private var chunkCount = 0
    private var chunkOffset = 0

    /// Reads the header of an age file and finds its file key.
    /// - Parameters:
    ///   - source: the encrypted file.
    ///   - identities: X25519 identities and/or passphrases to try, in order.
    ///   - format: binary, armored, or detect (the default).
    /// - Throws: ``AgeError/header(_:)`` (checked first),
    ///   ``AgeError/invalidUse(_:)`` for no identity, ``AgeError/noMatch``, ``AgeError/headerMAC``,
    ///   ``AgeError/armor(_:)``; ``CryptoError`` if scrypt cannot allocate
    ///   its memory; errors of `source`.
    public convenience init(source: some AgeSource, identities: [AgeIdentity], format: AgeInputFormat = .automatic) throws {
        try self.init(source: source, format: format) { _ in identities }
    }

    /// Reads the header of an age file and finds its file key with the
    /// identities `choose` returns once the header is parsed. `choose` is
    /// told whether the file is passphrase-encrypted (its one stanza is
    /// scrypt): as `age -d` does, a caller can then ask for the passphrase
    /// only for such a file, and use its keys for the others.
    /// - Throws: as ``init(source:identities:format:)``, and what `choose` throws.
    public init(source: some AgeSource, format: AgeInputFormat = .automatic, identities choose: (_ passphraseEncrypted: Bool) throws -> [AgeIdentity]) throws {
        var raw = AgeBufferedReader(source: source)
        let armored: Bool
        switch format {
        case .binary: armored = false
        case .armored: armored = true
        case .automatic:
            armored = AgeArmor.looksArmored(try raw.peek(AgeArmor.maxOutsideWhitespace + AgeArmor.beginLine.count))
        }
        var reader = armored ? AgeBufferedReader(source: AgeArmorDecoder(reader: raw)) : raw
        let header = try AgeHeader.parse(from: &reader)
        // Parse first, so a malformed file is reported as such whatever the identities.
        let identities = try choose(header.stanzas.contains { $0.type == AgeScryptStanza.type })
        guard !identities.isEmpty else { throw AgeError.invalidUse("no identity given") }
        let fileKey = try AgeWrap.unwrap(header, identities: identities)
        try AgeHeaderMAC.verify(header, fileKey: fileKey)
        var nonce = [UInt8](repeating: 0, count: AgePayload.nonceByteCount)
        let n = try nonce.withUnsafeMutableBytes { try reader.readFull(into: $0) }
        guard n == AgePayload.nonceByteCount else {
            throw AgeError.header(n == 0 ? "the payload nonce is missing" : "the payload nonce is shorter than 16 bytes")
        }
        opener = AgePayloadOpener(key: AgePayload.key(fileKey: fileKey, nonce: nonce))
        self.reader = reader
    }

    /// Decrypts the payload into `sink`, chunk by chunk.
    /// - Throws: ``AgeError/payload(_:)`` or ``AgeError/armor(_:)`` (after
    ///   releasing the chunks that authenticated), ``AgeError/invalidUse(_:)``
    ///   on a second call; errors of the source and sink.
    public func decrypt<Sink: AgeSink>(to sink: inout Sink) throws {
        guard !used else { throw AgeError.invalidUse("the payload was already decrypted") }
        used = true
        try opener.decrypt(from: &reader, to: &sink)
    }

    /// Pulls plaintext: fills `buffer` with up to `buffer.count` bytes of
    /// authenticated plaintext and returns the count, 0 at the end. The
    /// alternative to `decrypt(to:)` for consumers that read (a tar reader).
    /// - Throws: as `decrypt(to:)`, when the chunk that fails is reached.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        if buffers == nil {
            guard !used else { throw AgeError.invalidUse("the payload was already decrypted") }
            used = true
            buffers = AgeChunkBuffers()
        }
        let buffers = buffers!
        var filled = 0
        while filled < buffer.count {
            if chunkOffset == chunkCount {
                guard let n = try opener.nextBatch(from: &reader, buffers: buffers) else { break }
                chunkCount = n
                chunkOffset = 0
                continue
            }
            let take = min(buffer.count - filled, chunkCount - chunkOffset)
            UnsafeMutableRawBufferPointer(rebasing: buffer[filled..<(filled + take)])
                .copyMemory(from: UnsafeRawBufferPointer(rebasing: buffers.plain[chunkOffset..<(chunkOffset + take)]))
            chunkOffset += take
            filled += take
        }
        return filled
    }

    /// Decrypts the payload, handing each plaintext block to `write`.
    /// - Throws: as `decrypt(to:)`.
    public func decrypt(to write: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        var sink = AgeClosureSink(write)
        try decrypt(to: &sink)
    }
}

/// age v1 (the C2SP `age-encryption.org/v1` format): constants and one-shot
/// helpers over ``AgeEncryptor`` and ``AgeDecryptor`` for data that fits
/// in memory.
public enum Age {
    /// The scrypt work factor (log2 N) used when encrypting to a passphrase:
    /// 18, as age (256 MiB of memory).
    public static let defaultScryptWorkFactor = 18
    /// The largest scrypt work factor accepted when decrypting by default,
    /// and when encrypting: 22, as age's default (4 GiB of memory). The
    /// conformance vectors require 23 to be refused.
    public static let defaultMaxScryptWorkFactor = 22
    /// The largest header accepted, in bytes.
    public static let maxHeaderByteCount = AgeHeader.maxByteCount
    /// The longest header line accepted, in bytes.
    public static let maxHeaderLineByteCount = AgeHeader.maxLineByteCount

    /// Encrypts `plaintext` in memory.
    /// - Returns: the age file (armored if asked).
    /// - Throws: as ``AgeEncryptor/init(recipients:armored:sink:)``.
    public static func encrypt(_ plaintext: [UInt8], to recipients: [AgeRecipient], armored: Bool = false) throws -> [UInt8] {
        let encryptor = try AgeEncryptor(recipients: recipients, armored: armored, sink: AgeBytesSink())
        try encryptor.write(plaintext)
        try encryptor.finish()
        return encryptor.sink.bytes
    }

    /// Decrypts an age file in memory.
    /// - Returns: the plaintext.
    /// - Throws: as ``AgeDecryptor``; on a payload failure nothing is returned.
    public static func decrypt(_ file: [UInt8], identities: [AgeIdentity], format: AgeInputFormat = .automatic) throws -> [UInt8] {
        let decryptor = try AgeDecryptor(source: AgeBytesSource(file), identities: identities, format: format)
        var sink = AgeBytesSink()
        try decryptor.decrypt(to: &sink)
        return sink.bytes
    }
}

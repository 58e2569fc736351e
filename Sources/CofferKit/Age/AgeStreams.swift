extension Age {
    /// Plaintext read per block when encrypting: a few STREAM chunks, so
    /// memory stays constant (the encryptor itself holds one 64 KiB chunk).
    static let inputBlockByteCount = 4 * AgePayload.chunkByteCount

    /// Encrypts `input` to `output` in constant memory, whatever the size.
    ///
    /// A file output appears only once the whole age file was written and
    /// fsynced; on any error nothing is left at the destination.
    /// - Parameters:
    ///   - input: standard input or a file.
    ///   - output: standard output or a file (see ``OutputTarget``).
    ///   - recipients: one or more X25519 recipients, or exactly one passphrase.
    ///   - armored: write ASCII armor.
    /// - Throws: ``OutputError/exists(path:)`` before reading anything;
    ///   ``AgeError/invalidUse(_:)`` / ``AgeError/invalidRecipient(_:)``
    ///   for bad recipients; ``FileError`` for I/O; ``CryptoError`` if
    ///   scrypt cannot allocate its memory.
    public static func encryptStream(
        from input: InputSource, to output: OutputTarget, recipients: [AgeRecipient], armored: Bool
    ) throws {
        let reader = try BlockReader(input, blockByteCount: inputBlockByteCount)
        let writer = try OutputWriter(output)
        let encryptor = try AgeEncryptor(recipients: recipients, armored: armored, sink: AgeClosureSink(writer.write))
        try reader.forEachBlock { try encryptor.write($0) }
        try encryptor.finish()
        try writer.commit()
    }

    /// Decrypts `input` to `output` in constant memory, whatever the size.
    ///
    /// The header is read and checked (identities, header MAC) before the
    /// output is created, so a wrong key leaves nothing behind. To a file,
    /// the plaintext goes to a temporary file that is moved into place only
    /// after the last chunk authenticated; on a payload failure it is
    /// removed. To standard output, each 64 KiB chunk is written as it
    /// authenticates, so a failure leaves the authenticated prefix written.
    /// - Parameters:
    ///   - input: standard input or a file, binary or armored (detected).
    ///   - output: standard output or a file (see ``OutputTarget``).
    ///   - identities: X25519 identities and/or a passphrase, tried in order.
    /// - Throws: ``OutputError/exists(path:)`` before reading anything; the
    ///   errors of ``AgeDecryptor`` (``AgeError/noMatch`` for a wrong key,
    ///   `.integrity` kinds for a changed or truncated file); ``FileError``.
    public static func decryptStream(from input: InputSource, to output: OutputTarget, identities: [AgeIdentity]) throws {
        try decryptStream(from: input, to: output) { _ in identities }
    }

    /// ``decryptStream(from:to:identities:)`` with the identities `choose`
    /// returns once the header tells whether the file is passphrase-encrypted
    /// (see ``AgeDecryptor/init(source:format:identities:)``).
    public static func decryptStream(
        from input: InputSource, to output: OutputTarget, identities choose: (_ passphraseEncrypted: Bool) throws -> [AgeIdentity]
    ) throws {
        try output.checkAvailable()
        let decryptor = try AgeDecryptor(source: POSIXFileSource(file: try input.open()), identities: choose)
        let writer = try OutputWriter(output)
        var sink = AgeClosureSink(writer.write)
        try decryptor.decrypt(to: &sink)
        try writer.commit()
    }
}

/// The link from one revision of a document to the one before it: the
/// previous revision's data key, wrapped (symmetric form of ``KeyWrap``)
/// under the newer version's ``DataKey/historyKey``.
///
/// Only a document's current version has role wraps. Whoever can open it
/// can follow the links back to every earlier revision, and whoever loses
/// its wraps (unshare, revocation, deletion) loses them all at once; sharing,
/// rotation and retirement touch the current version only, however long
/// the history. The links point backwards only: an older data key opens
/// nothing newer.
struct VersionLink: Equatable, Sendable {
    var vaultID: VaultID
    var documentID: DocumentID
    /// The generation of the version that carries the link.
    var generation: UInt32
    /// The generation of the version whose key it wraps.
    var previousGeneration: UInt32

    /// `"coffer-version-link-v1" ‖ vault ‖ document ‖ generation ‖ previous generation`.
    var associatedData: [UInt8] {
        var w = ByteWriter()
        w.write(Array("coffer-version-link-v1".utf8))
        w.write(vaultID.bytes)
        w.write(documentID.bytes)
        w.write(generation)
        w.write(previousGeneration)
        return w.bytes
    }

    /// Wraps `previous` under `newer`'s history key.
    func wrap(_ previous: DataKey, under newer: DataKey) -> [UInt8] {
        KeyWrap.wrap(previous.key.bytes, under: newer.historyKey, associatedData: associatedData)
    }

    /// The previous revision's data key, from the link `wrapped` and the newer version's key.
    /// - Throws: ``FormatError`` for a malformed link; ``CryptoError`` for a wrong key, link or context.
    func unwrap(_ wrapped: [UInt8], under newer: DataKey) throws -> DataKey {
        let bytes = try KeyWrap.unwrap(
            wrapped, under: newer.historyKey, associatedData: associatedData,
            what: "link to generation \(previousGeneration) of document \(documentID)")
        return DataKey(key: try SymmetricKey(bytes))
    }
}

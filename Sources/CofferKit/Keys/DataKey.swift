/// A document's data key (DEK): 256 random bits, one per document version,
/// in locked memory. It never leaves memory unwrapped; it is stored only
/// wrapped under role keys (see `KeyWrap`).
///
/// The DEK itself encrypts nothing. Four subkeys are derived from it with
/// BLAKE2b (`crypto_kdf`), each for one purpose, so that publishing the
/// commitment reveals nothing about the keys that encrypt.
public struct DataKey: Sendable {
    let key: SymmetricKey

    /// A fresh random data key.
    public static func generate() -> DataKey { DataKey(key: .random()) }

    init(key: SymmetricKey) { self.key = key }

    /// Encrypts the content frames.
    var contentKey: SymmetricKey { SubkeyDerivation.derive(from: key, id: 1, context: "cofrcont") }
    /// Encrypts the document's metadata (name, size, type).
    var metadataKey: SymmetricKey { SubkeyDerivation.derive(from: key, id: 2, context: "cofrmeta") }
    /// Wraps the previous revision's data key (see ``VersionLink``).
    var historyKey: SymmetricKey { SubkeyDerivation.derive(from: key, id: 4, context: "cofrhist") }

    /// The key commitment stored in the manifest: a BLAKE2b-based PRF output
    /// under the DEK. Since XChaCha20-Poly1305 does not commit to its key,
    /// opening checks this value before releasing any plaintext, so a
    /// manifest cannot decrypt to two different texts under two keys.
    var commitment: [UInt8] {
        SubkeyDerivation.derive(from: key, id: 3, context: "cofrcmmt").withUnsafeBytes { Array($0) }
    }
}

/// A role's key for one key version: 256 random bits in locked memory that
/// wrap data keys. Members receive it sealed to their identities (see
/// `RoleKeySeal`); administrators receive it wrapped under the `admin`
/// role's key.
///
/// Each version also has an X25519 key pair and an X-Wing key pair derived
/// from it (context `cofrrole`, ids 1 and 2). Their public halves are
/// recorded in the ledger, so that someone who does not hold the role key (a
/// non-admin sealing a document, which must be readable by `admin`) can
/// still wrap a data key for the role, and so that a delivered copy of the
/// key can be checked against the ledger before use.
public struct RoleKey: Sendable {
    let key: SymmetricKey

    /// A fresh random role key.
    public static func generate() -> RoleKey { RoleKey(key: .random()) }

    init(key: SymmetricKey) { self.key = key }

    /// The X25519 secret scalar derived from the role key.
    var agreementSecretKey: SecureBytes { SubkeyDerivation.derive(from: key, id: 1, context: "cofrrole").bytes }

    /// The X25519 public key of this role key version.
    var publicKey: [UInt8] { X25519.publicKey(of: agreementSecretKey) }

    /// The seed of the X-Wing key derived from the role key.
    var postQuantumSeed: SecureBytes { SubkeyDerivation.derive(from: key, id: 2, context: "cofrrole").bytes }

    /// The X-Wing public key of this role key version.
    var postQuantumPublicKey: [UInt8] {
        // A 32-byte seed always expands (ML-KEM and X25519 accept any seed).
        try! XWing.publicKey(seed: postQuantumSeed)
    }
}

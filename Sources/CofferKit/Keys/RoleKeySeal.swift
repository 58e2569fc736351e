import Foundation

/// A role key version sealed to one member, in one of two forms told apart
/// by their length (docs/FORMAT.md "Role key seals"):
/// - *classic*, 80 bytes: `crypto_box_seal` to the member's X25519 key.
///   What Coffer wrote before identities had X-Wing keys, and still writes
///   to a member whose X-Wing key the ledger does not know.
/// - *post-quantum*, 1169 bytes: `0x02 ‖ X-Wing encapsulation (1120) ‖
///   ciphertext+tag (48)`, HPKE (see ``XWing``) to the member's X-Wing key
///   with info `coffer-role-seal-v1` and associated data that binds vault,
///   role, key version and member (``RoleSealContext``).
///
/// The ledger's rules require the post-quantum form for every member whose
/// X-Wing key is known, so an administrator cannot quietly seal a new key
/// version classically to such a member.
enum RoleKeySeal {
    /// Length of the classic form.
    static let classicByteCount = SymmetricKey.byteCount + X25519.sealedBoxOverhead
    /// Length of the post-quantum form.
    static let postQuantumByteCount = 1 + XWing.overhead + SymmetricKey.byteCount
    /// The post-quantum form's first byte.
    private static let postQuantumTag: UInt8 = 2
    /// The HPKE info of the post-quantum form.
    private static let info = "coffer-role-seal-v1"

    /// Seals `key` to `member`: post-quantum when its X-Wing key is known.
    static func seal(_ key: RoleKey, to member: PublicIdentity, context: RoleSealContext) throws -> Data {
        guard let postQuantum = member.postQuantum else { return Data(X25519.seal(key.key.bytes, to: member.agreementKey)) }
        return Data([postQuantumTag] + (try XWing.seal(key.key.bytes, to: postQuantum.key, info: info, associatedData: context.associatedData)))
    }

    /// Whether `seal` has the form the rules require for `member`: the
    /// post-quantum form if its X-Wing key is known, else the classic one.
    static func hasRequiredForm(_ seal: Data, for member: PublicIdentity) -> Bool {
        member.postQuantum == nil ? seal.count == classicByteCount : isPostQuantum(seal)
    }

    /// Whether `seal` is in the post-quantum form.
    static func isPostQuantum<C: Collection<UInt8>>(_ seal: C) -> Bool {
        seal.count == postQuantumByteCount && seal.first == postQuantumTag
    }

    /// Opens either form with an identity's keys; `associatedData` is the
    /// ``RoleSealContext/associatedData`` of where the seal belongs.
    /// - Throws: ``CryptoError/authenticationFailed(_:)`` naming `what` if it
    ///   is not for this identity, was changed, or belongs elsewhere.
    static func open(_ seal: [UInt8], by identity: IdentitySecrets, associatedData: [UInt8], what: String) throws -> SecureBytes {
        guard isPostQuantum(seal) else {
            return try X25519.openSealed(seal, publicKey: identity.publicIdentity.agreementKey, secretKey: identity.agreementSecretKey, what: what)
        }
        return try XWing.open(Array(seal.dropFirst()), seed: identity.postQuantumSeed, info: info, associatedData: associatedData, what: what)
    }
}

/// Where a role key sealed to a member belongs: the associated data of the
/// post-quantum seal form, so a seal moved to another vault, role, version
/// or member fails to open.
struct RoleSealContext: Equatable, Sendable {
    var vaultID: VaultID
    var roleID: RoleID
    var roleVersion: UInt32
    /// The member's fingerprint.
    var member: String

    /// `"coffer-role-seal-v1" ‖ vault ‖ role ‖ role version ‖ fingerprint (32 ASCII hex digits)`.
    var associatedData: [UInt8] {
        var w = ByteWriter()
        w.write(Array("coffer-role-seal-v1".utf8))
        w.write(vaultID.bytes)
        w.write(roleID.bytes)
        w.write(roleVersion)
        w.write(Array(member.utf8))
        return w.bytes
    }
}

extension RoleKey {
    /// This key sealed to `member` as `version` of `role` (see ``RoleKeySeal``).
    func sealed(to member: PublicIdentity, role: RoleID, version: UInt32, vault: VaultID) throws -> Data {
        try RoleKeySeal.seal(
            self, to: member, context: RoleSealContext(vaultID: vault, roleID: role, roleVersion: version, member: member.fingerprint))
    }

    /// The `role.key` payload that issues this key as `version` of `role`:
    /// its public keys, a seal to each of `members`, and (for any role but
    /// `admin`) a wrap under the admin key of `adminVersion`.
    func issued(
        as version: UInt32, of role: RoleID, sealedTo members: [PublicIdentity], vault: VaultID, admin: (key: RoleKey, version: UInt32)?
    ) throws -> RoleKeyIssued {
        var seals: [String: Data] = [:]
        for member in members { seals[member.fingerprint] = try sealed(to: member, role: role, version: version, vault: vault) }
        let adminWrap = admin.map {
            Data(wrapped(under: $0.key, context: RoleKeyWrapContext(vaultID: vault, roleID: role, roleVersion: version, adminVersion: $0.version)))
        }
        return RoleKeyIssued(
            role: role, version: version, publicKey: Data(publicKey), postQuantumKey: Data(postQuantumPublicKey), seals: seals,
            adminWrap: adminWrap, adminVersion: admin?.version)
    }
}

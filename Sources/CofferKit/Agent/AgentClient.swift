/// A client of the unlock agent holding one identity file's identity: each
/// operation is one connection, one request, one answer. What the agent
/// answers is checked where it can be (a signature against the public
/// key), and every answer holding a key is wiped once copied into locked memory.
final class AgentClient: Sendable {
    /// The agent's socket.
    let socket: String
    /// The SHA-256 of the identity file the agent must hold.
    let fileDigest: [UInt8]

    private init(socket: String, fileDigest: [UInt8]) {
        self.socket = socket
        self.fileDigest = fileDigest
    }

    /// The identity of the file at `identityFile`, if an agent of this user
    /// holds it unlocked from that exact file (same bytes); nil otherwise: no
    /// agent, a stopped one, or one holding another file's identity.
    static func identity(forFile identityFile: String) -> Identity? {
        guard let socket = try? AgentSocket.path(forIdentityFile: identityFile), FileSystem.exists(socket),
              let digest = try? AgentSocket.fileDigest(identityFile)
        else { return nil }
        let client = AgentClient(socket: socket, fileDigest: digest)
        guard let answer = try? client.ask(.hello), let hello = try? AgentResponse.Hello.parse(answer),
              let publicIdentity = try? PublicIdentity(hello.publicIdentity)
        else { return nil }
        return Identity(agent: client, publicIdentity: publicIdentity, name: hello.name)
    }

    /// Signs `message`, and checks the signature with `publicIdentity`'s key.
    func sign(_ message: [UInt8], verifyingWith publicIdentity: PublicIdentity) throws -> [UInt8] {
        let signature = try ask(.sign(message))
        guard Ed25519.isValid(signature: signature, message: message, publicKey: publicIdentity.signingKey) else {
            throw IdentityError.agentFailed("the agent's signature does not verify")
        }
        return signature
    }

    /// Opens a role-key seal.
    /// - Throws: ``CryptoError/authenticationFailed(_:)`` naming `what` if it does not open.
    func openRoleSeal(_ seal: [UInt8], associatedData: [UInt8], what: String) throws -> SecureBytes {
        var key = try ask(.openRoleSeal(seal: seal, associatedData: associatedData), refused: CryptoError.authenticationFailed(what))
        defer { Sodium.wipe(&key) }
        return SecureBytes.copying(key)
    }

    /// The keys of the identity's saved states.
    func stateKeys() throws -> IdentitySecrets.StateKeys {
        var keys = try ask(.stateKeys)
        defer { Sodium.wipe(&keys) }
        guard keys.count == 64 else { throw IdentityError.agentFailed("the agent answered \(keys.count) bytes of state keys") }
        return IdentitySecrets.StateKeys(
            records: SymmetricKey(unchecked: SecureBytes.copying(Array(keys[..<32]))),
            names: SymmetricKey(unchecked: SecureBytes.copying(Array(keys[32...]))))
    }

    /// Sends `operation` and returns the answer's payload.
    /// - Throws: `refused` when the agent could not open a seal;
    ///   ``IdentityError/agentFailed(_:)`` when it stopped, holds another
    ///   identity now, or answered what does not parse.
    private func ask(_ operation: AgentRequest.Operation, refused: (any Error)? = nil) throws -> [UInt8] {
        guard let connection = AgentSocket.connect(to: socket) else {
            throw IdentityError.agentFailed("the agent at \(socket) stopped; run the command again (it asks for the passphrase), or `coffer unlock`")
        }
        try connection.send(AgentRequest(fileDigest: fileDigest, operation: operation).encoded)
        let response = try AgentResponse.parse(try connection.receive())
        switch response.status {
        case .ok: return response.payload
        case .otherIdentity: throw IdentityError.agentFailed("the agent at \(socket) now holds another identity; run the command again")
        case .sealRefused: throw refused ?? IdentityError.agentFailed("the agent refused the request")
        case .badRequest: throw IdentityError.agentFailed("the agent did not understand the request (is it another version of Coffer?)")
        }
    }
}

extension Identity {
    /// The identity of the file at `identityFile` as an unlock agent of this
    /// user holds it (`coffer unlock`), if one holds it unlocked from that
    /// very file (the same bytes); nil otherwise: then decrypt the file.
    public static func unlocked(file identityFile: String) -> Identity? {
        AgentClient.identity(forFile: identityFile)
    }
}

/// A request to the unlock agent, as it travels in one frame (see
/// ``AgentConnection``): `version (1) ‖ operation (1) ‖ identity-file
/// digest (32) ‖ payload`. The digest is the SHA-256 of the identity file
/// the client was about to decrypt itself: the agent answers only when it
/// holds the identity unlocked from that very file. docs/FORMAT.md
/// ("Unlock agent") has the layout.
struct AgentRequest: Equatable, Sendable {
    /// What the client asks for.
    enum Operation: Equatable, Sendable {
        /// The identity's name and public identity: is it the one the client wants?
        case hello
        /// An Ed25519 signature of the message.
        case sign([UInt8])
        /// A role key sealed to the identity (``RoleKeySeal``), opened:
        /// the seal and the associated data of where it belongs.
        case openRoleSeal(seal: [UInt8], associatedData: [UInt8])
        /// The keys of the identity's saved states.
        case stateKeys
        /// Stop now: wipe the identity and remove the socket.
        case lock
    }

    static let version: UInt8 = 1
    /// What ``parse(_:)`` names in errors.
    static let what = "unlock agent request"

    /// The SHA-256 of the identity file, 32 bytes.
    let fileDigest: [UInt8]
    let operation: Operation

    /// The frame's contents.
    var encoded: [UInt8] {
        var w = ByteWriter()
        w.write(Self.version)
        switch operation {
        case .hello: w.write(UInt8(1))
        case .sign: w.write(UInt8(2))
        case .openRoleSeal: w.write(UInt8(3))
        case .stateKeys: w.write(UInt8(4))
        case .lock: w.write(UInt8(5))
        }
        w.write(fileDigest)
        switch operation {
        case .sign(let message):
            w.write(message)
        case .openRoleSeal(let seal, let associatedData):
            w.write(UInt32(seal.count))
            w.write(seal)
            w.write(associatedData)
        case .hello, .stateKeys, .lock:
            break
        }
        return w.bytes
    }

    /// Parses a frame's contents.
    /// - Throws: ``FormatError`` for a wrong version, an unknown operation,
    ///   a short digest, a seal length past the end, or a payload on an
    ///   operation that takes none.
    static func parse(_ bytes: [UInt8]) throws -> AgentRequest {
        var r = ByteReader(bytes, what: what)
        let version = try r.readUInt8()
        guard version == Self.version else { throw FormatError.unsupportedVersion(what, Int(version)) }
        let code = try r.readUInt8()
        let digest = try r.read(32)
        let operation: Operation
        switch code {
        case 1: operation = .hello
        case 2: operation = .sign(try r.read(r.remaining))
        case 3:
            let length = Int(try r.readUInt32())
            operation = .openRoleSeal(seal: try r.read(length), associatedData: try r.read(r.remaining))
        case 4: operation = .stateKeys
        case 5: operation = .lock
        default: throw FormatError.malformed(what, "unknown operation \(code)")
        }
        try r.expectEnd()
        return AgentRequest(fileDigest: digest, operation: operation)
    }
}

/// The unlock agent's answer to one ``AgentRequest``: `status (1) ‖ payload`.
struct AgentResponse: Equatable, Sendable {
    /// How the request went.
    enum Status: UInt8, Sendable {
        /// Done; the payload is the answer.
        case ok = 0
        /// The agent holds another identity file's identity (or none): nothing was done.
        case otherIdentity = 1
        /// The seal did not open (not for this identity, changed, or moved).
        case sealRefused = 2
        /// The request did not parse.
        case badRequest = 3
    }

    /// What ``parse(_:)`` names in errors.
    static let what = "unlock agent response"

    let status: Status
    let payload: [UInt8]

    /// The frame's contents.
    var encoded: [UInt8] { [status.rawValue] + payload }

    /// Parses a frame's contents.
    /// - Throws: ``FormatError`` for an empty frame or an unknown status.
    static func parse(_ bytes: [UInt8]) throws -> AgentResponse {
        guard let first = bytes.first else { throw FormatError.truncated(what) }
        guard let status = Status(rawValue: first) else { throw FormatError.malformed(what, "unknown status \(first)") }
        return AgentResponse(status: status, payload: Array(bytes.dropFirst()))
    }

    /// The answer to ``AgentRequest/Operation/hello``: `name length (2) ‖
    /// name ‖ public identity string (coffer1…)`.
    struct Hello: Equatable, Sendable {
        let name: String
        let publicIdentity: String

        var encoded: [UInt8] {
            var w = ByteWriter()
            let name = Array(name.utf8)
            w.write(UInt16(name.count))
            w.write(name)
            w.write(Array(publicIdentity.utf8))
            return w.bytes
        }

        /// - Throws: ``FormatError`` for a name past the end or text that is not UTF-8.
        static func parse(_ bytes: [UInt8]) throws -> Hello {
            var r = ByteReader(bytes, what: "unlock agent hello")
            let name = try r.read(Int(try r.readUInt16()))
            let identity = try r.read(r.remaining)
            guard let nameText = String(validating: name, as: UTF8.self), let identityText = String(validating: identity, as: UTF8.self) else {
                throw FormatError.malformed("unlock agent hello", "not UTF-8")
            }
            return Hello(name: nameText, publicIdentity: identityText)
        }
    }
}

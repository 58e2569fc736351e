import CPlatform
import Crypto
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// The unlock agent (`coffer unlock`): holds one identity, unlocked from
/// one identity file, in locked memory for a fixed time, and signs and opens
/// role-key seals for clients of the same user, as ssh-agent does. A client
/// can use the identity while the agent runs but never receives its seed
/// or its signing and decryption keys; only the keys of the saved states
/// (derived, and only protecting the state cache) leave it.
///
/// The agent serves one connection at a time, each bounded by a 5-second
/// timeout. It stops, wiping the identity and removing its socket, at its
/// deadline, on a `lock` request, or as soon as its socket is no longer the
/// one at its path (removed, or replaced by another agent's).
public final class AgentServer {
    private let secrets: IdentitySecrets
    private let name: String
    private let fileDigest: [UInt8]
    private let listener: Int32
    /// The socket's path.
    public let socket: String
    /// The socket file's inode at its path, to notice it was removed or replaced.
    private let inode: ino_t
    /// When the agent stops by itself.
    public let deadline: Date

    private init(secrets: IdentitySecrets, name: String, fileDigest: [UInt8], listener: Int32, socket: String, inode: ino_t, deadline: Date) {
        self.secrets = secrets
        self.name = name
        self.fileDigest = fileDigest
        self.listener = listener
        self.socket = socket
        self.inode = inode
        self.deadline = deadline
    }

    deinit {
        close(listener)
        // Only the socket that is still this agent's.
        var st = stat()
        if lstat(socket, &st) == 0, st.st_ino == inode { unlink(socket) }
    }

    /// The fixed size of what ``handOff(_:to:)`` writes before the name:
    /// the file's SHA-256 and the seed.
    private static let handOffPrefix = 32 + 32

    /// An identity decrypted from its file for an agent, with the SHA-256
    /// of the very bytes it was decrypted from (read once: a file replaced
    /// meanwhile cannot lend the agent another file's digest).
    public struct Unlocked: Sendable {
        /// The identity, held by this process.
        public let identity: Identity
        /// The SHA-256 of the file's bytes.
        let fileDigest: [UInt8]
    }

    /// Reads the identity file at `path` once, decrypts it (asking
    /// `passphrase` if it is encrypted) and hashes the same bytes.
    /// - Throws: as ``IdentityFile/load(from:passphrase:)``.
    public static func unlock(file path: String, passphrase: () throws -> SecureBytes) throws -> Unlocked {
        try IdentityFile.withContents(of: path) { contents in
            Unlocked(
                identity: try IdentityFile.decode(contents, path: path, passphrase: passphrase),
                fileDigest: Array(SHA256.hash(data: contents)))
        }
    }

    /// Writes what an agent process needs to hold `unlocked` to
    /// `descriptor` (a pipe to the agent's standard input): the file's
    /// SHA-256, the seed, the name. The seed is written from locked memory
    /// and never copied elsewhere.
    /// - Throws: ``IdentityError/agentFailed(_:)`` for a failed write.
    public static func handOff(_ unlocked: Unlocked, to descriptor: Int32) throws {
        let identity = unlocked.identity
        let secrets = try identity.localSecrets(for: "unlocking")
        let prefix = unlocked.fileDigest
        let pipe = POSIXFile.borrowing(descriptor, path: "the agent's standard input")
        do {
            try prefix.withUnsafeBytes(pipe.write)
            try secrets.seed.withUnsafeBytes(pipe.write)
            try Array(identity.name.utf8).withUnsafeBytes(pipe.write)
        } catch {
            throw IdentityError.agentFailed("the agent did not take the identity")
        }
    }

    /// Reads what ``handOff(_:to:)`` wrote from `descriptor`
    /// (to its end), and listens at `socket` until `lifetime` seconds from
    /// now. A socket file already at `socket` is replaced atomically (the
    /// caller has asked the agent listening there, if any, to stop).
    /// - Throws: ``IdentityError/agentFailed(_:)`` for a short hand-off;
    ///   ``FileError`` if the socket cannot be made.
    public static func start(readingIdentityFrom descriptor: Int32, socket: String, lifetime: TimeInterval) throws -> AgentServer {
        var count = 0
        // Read straight into locked memory; a failed read is a short hand-off.
        let received = SecureBytes(count: handOffPrefix + 256 + 1) { buffer in
            count = (try? POSIXFile.borrowing(descriptor, path: "standard input").read(into: buffer)) ?? 0
        }
        guard count > handOffPrefix, count <= handOffPrefix + 256 else { throw IdentityError.agentFailed("the identity handed to the agent is malformed") }
        let (digest, seed, nameBytes) = received.withUnsafeBytes { bytes in
            (Array(bytes[..<32]), SecureBytes(copying: UnsafeRawBufferPointer(rebasing: bytes[32..<64])), Array(bytes[64..<count]))
        }
        guard let name = String(validating: nameBytes, as: UTF8.self) else { throw IdentityError.agentFailed("the identity's name is not UTF-8") }
        let secrets = IdentitySecrets(seed: try SymmetricKey(seed))

        // Listens at a name of its own beside the socket, then renames it
        // into place: two agents started at once each replace the socket
        // whole, and the one renamed last serves (the other sees its socket
        // replaced and stops). Unlinking and binding at the socket's own
        // path would let the second bind fail between the other's two steps.
        let staging = FileSystem.join(FileSystem.directoryName(of: socket), ".new-\(getpid()).sock")
        unlink(staging)
        let listener = coffer_unix_listen(staging, 16)
        guard listener >= 0 else { throw FileError(operation: "listen", path: staging, code: errno) }
        var st = stat()
        // The umask makes it 0600 already; said once more for a caller with another umask.
        guard lstat(staging, &st) == 0, chmod(staging, 0o600) == 0, rename(staging, socket) == 0 else {
            let failure = FileError(operation: "listen", path: socket, code: errno)
            close(listener)
            unlink(staging)
            throw failure
        }
        return AgentServer(
            secrets: secrets, name: name, fileDigest: digest, listener: listener, socket: socket, inode: st.st_ino,
            deadline: Date(timeIntervalSinceNow: lifetime))
    }

    /// Serves until the deadline, a `lock` request, or the socket at its
    /// path is no longer this agent's. Returns why it stopped.
    @discardableResult
    public func serve() -> String {
        while true {
            let left = deadline.timeIntervalSinceNow
            if left <= 0 { return "its time ran out" }
            guard socketIsOurs else { return "its socket was removed or replaced" }
            var poll = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            // Wakes at least once a second to notice a removed socket.
            let ready = Glibc.poll(&poll, 1, Int32(min(1_000, max(1, left * 1_000))))
            guard ready > 0 else { continue }
            let descriptor = accept(listener, nil, nil)
            guard descriptor >= 0 else { continue }
            _ = fcntl(descriptor, F_SETFD, FD_CLOEXEC)
            let connection = AgentConnection(descriptor: descriptor, timeout: 5)
            // Only this user's processes; another user's is dropped unanswered.
            guard connection.peerUserID == getuid() else { continue }
            if answer(connection) == .lock { return "it was locked" }
        }
    }

    private var socketIsOurs: Bool {
        var st = stat()
        return lstat(socket, &st) == 0 && st.st_ino == inode
    }

    /// Reads one request and answers it; returns its operation (nil if it did not parse or arrive).
    private func answer(_ connection: AgentConnection) -> AgentRequest.Operation? {
        guard let frame = try? connection.receive() else { return nil }
        guard let request = try? AgentRequest.parse(frame) else {
            try? connection.send(AgentResponse(status: .badRequest, payload: []).encoded)
            return nil
        }
        var response = respond(to: request)
        defer { Sodium.wipe(&response) }
        try? connection.send(response)
        return request.operation
    }

    /// The encoded answer to `request` (wiped by the caller: it may hold a key).
    func respond(to request: AgentRequest) -> [UInt8] {
        if request.operation == .lock { return AgentResponse(status: .ok, payload: []).encoded }
        guard request.fileDigest == fileDigest else { return AgentResponse(status: .otherIdentity, payload: []).encoded }
        switch request.operation {
        case .hello:
            return AgentResponse(status: .ok, payload: AgentResponse.Hello(name: name, publicIdentity: secrets.publicIdentity.description).encoded).encoded
        case .sign(let message):
            return AgentResponse(status: .ok, payload: secrets.sign(message)).encoded
        case .openRoleSeal(let seal, let associatedData):
            guard let key = try? secrets.openRoleSeal(seal, associatedData: associatedData, what: "role key") else {
                return AgentResponse(status: .sealRefused, payload: []).encoded
            }
            return key.withUnsafeBytes { [AgentResponse.Status.ok.rawValue] + Array($0) }
        case .stateKeys:
            let keys = secrets.stateKeys
            return [AgentResponse.Status.ok.rawValue] + keys.records.withUnsafeBytes { Array($0) } + keys.names.withUnsafeBytes { Array($0) }
        case .lock:
            return AgentResponse(status: .ok, payload: []).encoded
        }
    }
}

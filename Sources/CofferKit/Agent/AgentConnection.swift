import CPlatform
import Crypto
#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import Foundation

/// One connection between the unlock agent and a client: frames of
/// `length (4, big-endian) ‖ contents`, at most ``maximumFrame`` bytes,
/// each read and write bounded by a timeout, so that neither side waits
/// forever on the other.
final class AgentConnection {
    /// The connected socket.
    let descriptor: Int32

    /// The largest frame either side accepts: a signed ledger entry of a
    /// large rotation batch is a few MiB.
    static let maximumFrame = 64 << 20

    /// Takes over `descriptor` (closed on release) and bounds each read and write by `timeout` seconds.
    init(descriptor: Int32, timeout seconds: Int) {
        self.descriptor = descriptor
        var limit = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(descriptor) }

    /// The user id of the process at the other end (`SO_PEERCRED`), or nil.
    var peerUserID: uid_t? {
        let uid = coffer_peer_uid(descriptor)
        return uid < 0 ? nil : uid_t(uid)
    }

    /// Sends one frame.
    /// - Throws: ``IdentityError/agentFailed(_:)`` if the other end is gone or too slow.
    func send(_ contents: [UInt8]) throws {
        var frame = ByteWriter()
        frame.write(UInt32(contents.count))
        frame.write(contents)
        var bytes = frame.bytes
        defer { Sodium.wipe(&bytes) }
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 {
                sent += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                throw IdentityError.agentFailed("the connection failed while sending (\(String(cString: strerror(errno))))")
            }
        }
    }

    /// Receives one frame; the caller wipes it if it holds a secret.
    /// - Throws: ``IdentityError/agentFailed(_:)`` if the other end closed,
    ///   went quiet past the timeout, or announced more than ``maximumFrame`` bytes.
    func receive() throws -> [UInt8] {
        let header = try receive(count: 4)
        let length = header.reduce(0) { $0 << 8 | Int($1) }
        guard length <= Self.maximumFrame else { throw IdentityError.agentFailed("a frame of \(length) bytes is over the limit") }
        return try receive(count: length)
    }

    private func receive(count: Int) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        var received = 0
        while received < count {
            let n = bytes.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress! + received, count - received, 0) }
            if n > 0 {
                received += n
            } else if n < 0, errno == EINTR {
                continue
            } else {
                Sodium.wipe(&bytes)
                let reason = n == 0 ? "the other end closed the connection" : "no answer (\(String(cString: strerror(errno))))"
                throw IdentityError.agentFailed(reason)
            }
        }
        return bytes
    }
}

/// Where the unlock agents of this user listen: `$XDG_RUNTIME_DIR/coffer/`,
/// else `/tmp/coffer-UID/`, a directory of this user's with mode 0700 (it
/// is checked, never trusted: another user may have made it first). One
/// socket per identity file, `agent-HASH.sock`, HASH being the first 16 hex
/// digits of the SHA-256 of the file's real path.
public enum AgentSocket {
    /// The directory, made (mode 0700) if `create` and missing.
    /// - Throws: ``IdentityError/agentFailed(_:)`` if it is not a directory
    ///   of this user's that only this user can enter; ``FileError``.
    static func directory(create: Bool) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        let directory: String
        if let runtime = environment["XDG_RUNTIME_DIR"], !runtime.isEmpty {
            directory = FileSystem.join(runtime, "coffer")
        } else {
            directory = "/tmp/coffer-\(getuid())"
        }
        if create, mkdir(directory, 0o700) != 0, errno != EEXIST { throw FileError(operation: "mkdir", path: directory, code: errno) }
        var st = stat()
        guard lstat(directory, &st) == 0 else { throw FileError(operation: "stat", path: directory, code: errno) }
        guard st.st_mode & S_IFMT == S_IFDIR, st.st_uid == getuid(), st.st_mode & 0o077 == 0 else {
            throw IdentityError.agentFailed("\(directory) is not a directory of this user's with mode 0700; remove it")
        }
        return directory
    }

    /// The socket of the agent for the identity file at `identityFile`.
    /// - Throws: as `directory(create:)`.
    public static func path(forIdentityFile identityFile: String, create: Bool = false) throws -> String {
        let digest = SHA256.hash(data: Array(FileSystem.realPath(identityFile).utf8))
        return FileSystem.join(try directory(create: create), "agent-\(Hex.encode(Array(digest.prefix(8)))).sock")
    }

    /// Every agent socket in the directory (none if it does not exist).
    public static func all() -> [String] {
        guard let directory = try? directory(create: false), let names = try? FileSystem.contents(of: directory) else { return [] }
        return names.filter { $0.hasPrefix("agent-") && $0.hasSuffix(".sock") }.sorted().map { FileSystem.join(directory, $0) }
    }

    /// A connection to the agent at `path`, checked to be run by this user;
    /// nil if no agent listens there.
    /// - Parameter timeout: seconds each read and write may take.
    static func connect(to path: String, timeout: Int = 30) -> AgentConnection? {
        let descriptor = coffer_unix_connect(path)
        guard descriptor >= 0 else { return nil }
        let connection = AgentConnection(descriptor: descriptor, timeout: timeout)
        guard connection.peerUserID == getuid() else { return nil }
        return connection
    }

    /// The SHA-256 of the identity file at `path`: what binds an agent to the file it was unlocked from.
    static func fileDigest(_ path: String) throws -> [UInt8] {
        try IdentityFile.withContents(of: path) { Array(SHA256.hash(data: $0)) }
    }

    /// Asks the agent at `socket` to stop (it wipes its identity and removes
    /// its socket), and removes a socket no agent answers at any more.
    /// - Returns: whether an agent was running there and confirmed.
    @discardableResult
    public static func stopAgent(at socket: String) -> Bool {
        var stopped = false
        if let connection = connect(to: socket, timeout: 5) {
            let request = AgentRequest(fileDigest: [UInt8](repeating: 0, count: 32), operation: .lock)
            stopped = (try? connection.send(request.encoded)).flatMap { try? AgentResponse.parse(connection.receive()) }?.status == .ok
        }
        if !stopped { FileSystem.remove(socket) }
        return stopped
    }
}

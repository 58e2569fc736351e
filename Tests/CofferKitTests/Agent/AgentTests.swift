import Foundation
import Testing

@testable import CofferKit

/// Issue 15, finding 2, in the library: the unlock agent's frames (every
/// operation round-trips; truncated, flipped and oversized frames are typed
/// errors), and the agent's answers: only for the identity file it was
/// unlocked from, signatures and opened seals equal to the identity's own,
/// a changed seal refused.
@Suite("Unlock agent")
struct AgentTests {
    static let digest = [UInt8](repeating: 0x5a, count: 32)

    static let requests: [AgentRequest] = [
        AgentRequest.Operation.hello, .sign(Array("entry".utf8)), .sign([]), .openRoleSeal(seal: [UInt8](repeating: 9, count: 81), associatedData: Array("ad".utf8)),
        .openRoleSeal(seal: [], associatedData: []), .stateKeys, .lock,
    ].map { AgentRequest(fileDigest: digest, operation: $0) }

    /// Whether `body` returned or threw one of CofferKit's typed errors (not some other error).
    static func isTyped(_ body: () throws -> Void) -> Bool {
        do { try body() } catch { return error is any CofferFailure }
        return true
    }

    @Test("every request, response and hello reads back as written; truncated, flipped and oversized frames give typed errors and never crash")
    func frames() throws {
        for request in Self.requests {
            let bytes = request.encoded
            #expect(try AgentRequest.parse(bytes) == request)
            for cut in 0..<bytes.count {
                #expect(Self.isTyped { _ = try AgentRequest.parse(Array(bytes[..<cut])) })
            }
            for index in bytes.indices {
                var flipped = bytes
                flipped[index] ^= 0x80
                #expect(Self.isTyped { _ = try AgentRequest.parse(flipped) })
            }
        }
        #expect(throws: FormatError.self) { _ = try AgentRequest.parse([2, 1] + Self.digest) }
        #expect(throws: FormatError.self) { _ = try AgentRequest.parse([1, 9] + Self.digest) }
        #expect(throws: FormatError.self) { _ = try AgentRequest.parse([1, 4] + Self.digest + [0]) }
        // A seal length past the end of the frame.
        #expect(throws: FormatError.self) { _ = try AgentRequest.parse([1, 3] + Self.digest + [0xff, 0xff, 0xff, 0xff, 1, 2]) }

        let hello = AgentResponse.Hello(name: "alice", publicIdentity: Identity.generate(name: "alice").publicIdentity.description)
        let response = AgentResponse(status: .ok, payload: hello.encoded)
        #expect(try AgentResponse.parse(response.encoded) == response)
        #expect(try AgentResponse.Hello.parse(hello.encoded) == hello)
        #expect(throws: FormatError.self) { _ = try AgentResponse.parse([]) }
        #expect(throws: FormatError.self) { _ = try AgentResponse.parse([7]) }
        #expect(throws: FormatError.self) { _ = try AgentResponse.Hello.parse([0xff, 0xff, 1]) }
        #expect(throws: FormatError.self) { _ = try AgentResponse.Hello.parse([0, 1, 0xff]) }
    }

    @Test("an agent started from a hand-off answers only for its file's digest: hello, signatures and opened seals equal the identity's own, a changed seal is refused; a short hand-off is refused")
    func answers() throws {
        let scratch = try ScratchDirectory()
        let alice = Identity.generate(name: "alice")
        let file = try scratch.write("alice.identity", try IdentityFile.encode(alice, passphrase: nil))
        var pipe: [Int32] = [0, 0]
        #expect(Glibc.pipe(&pipe) == 0)
        let unlocked = try AgentServer.unlock(file: file) { throw IdentityError.passphraseRequired(path: file) }
        let fileDigest = try AgentSocket.fileDigest(file)
        #expect(unlocked.identity.fingerprint == alice.fingerprint && unlocked.fileDigest == fileDigest)
        try AgentServer.handOff(unlocked, to: pipe[1])
        close(pipe[1])
        let server = try AgentServer.start(readingIdentityFrom: pipe[0], socket: scratch.join("agent.sock"), lifetime: 60)
        close(pipe[0])
        var st = stat()
        #expect(lstat(scratch.join("agent.sock"), &st) == 0 && st.st_mode & 0o777 == 0o600 && st.st_mode & S_IFMT == S_IFSOCK)

        let digest = try AgentSocket.fileDigest(file)
        func ask(_ operation: AgentRequest.Operation, digest: [UInt8] = digest) throws -> AgentResponse {
            try AgentResponse.parse(server.respond(to: AgentRequest(fileDigest: digest, operation: operation)))
        }
        #expect(try ask(.hello, digest: Self.digest).status == .otherIdentity)
        #expect(try ask(.sign([1, 2, 3]), digest: Self.digest).status == .otherIdentity)
        let hello = try AgentResponse.Hello.parse(try ask(.hello).payload)
        #expect(hello.name == "alice" && hello.publicIdentity == alice.publicIdentity.description)
        #expect(try ask(.sign(Array("entry".utf8))).payload == (try alice.sign(Array("entry".utf8))))

        let roleKey = RoleKey.generate()
        let context = RoleSealContext(vaultID: VaultID.random(), roleID: RoleID.random(), roleVersion: 2, member: alice.fingerprint)
        let seal = Array(try roleKey.sealed(to: alice.publicIdentity, role: context.roleID, version: 2, vault: context.vaultID))
        let opened = try ask(.openRoleSeal(seal: seal, associatedData: context.associatedData))
        let expected = try alice.openSealed(seal, context: context, what: "role key").withUnsafeBytes { Array($0) }
        #expect(opened.status == .ok && opened.payload == expected)
        var changed = seal
        changed[changed.count - 1] ^= 1
        #expect(try ask(.openRoleSeal(seal: changed, associatedData: context.associatedData)).status == .sealRefused)
        #expect(try ask(.openRoleSeal(seal: seal, associatedData: context.associatedData + [0])).status == .sealRefused)
        let keys = try alice.stateKeys()
        #expect(try ask(.stateKeys).payload == keys.records.withUnsafeBytes { Array($0) } + keys.names.withUnsafeBytes { Array($0) })
        #expect(try ask(.lock, digest: Self.digest).status == .ok)

        // A short hand-off is refused. (Only ``AgentServer/unlock(file:passphrase:)`` makes what is handed off: always an identity this process holds.)
        var short: [Int32] = [0, 0]
        #expect(Glibc.pipe(&short) == 0)
        _ = write(short[1], [UInt8](repeating: 1, count: 40), 40)
        close(short[1])
        #expect(throws: IdentityError.self) { _ = try AgentServer.start(readingIdentityFrom: short[0], socket: scratch.join("short.sock"), lifetime: 60) }
        close(short[0])
        _ = server
    }
}

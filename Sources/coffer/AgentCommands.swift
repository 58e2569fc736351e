import ArgumentParser
import CPlatform
import CofferKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Coffer {
    /// `coffer unlock`.
    struct Unlock: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Unlock your identity once: an agent holds it for a while, and commands use it without asking for the passphrase.",
            discussion: """
                The passphrase is asked for (or read as usual) once; then an agent process holds the identity in \
                locked memory and signs and opens role keys for your commands, as ssh-agent does, until the time \
                given with --for runs out or `coffer lock`. It listens on a socket only you can reach \
                ($XDG_RUNTIME_DIR/coffer/, else /tmp/coffer-UID/) and answers only processes of your user. A \
                command uses it only while the identity file is byte for byte the one unlocked. Unlocking again \
                replaces the agent. See THREAT-MODEL.md for what this trades.

                Examples:
                  coffer unlock
                  coffer unlock --for 8h --passphrase-command 'pass show coffer'
                """)

        @Option(name: .customLong("for"), help: ArgumentHelp("How long the agent holds the identity: 30s, 15m, 8h, 1d (default 15m).", valueName: "duration"))
        var lifetime = "15m"

        @OptionGroup var identity: IdentityOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let seconds = DurationParser.seconds(lifetime), seconds > 0 else {
                throw ValidationError("--for takes a duration such as 30s, 15m, 8h or 1d")
            }
            let path = IdentityLoader.path(explicit: identity.identity)
            let file = try AgentServer.unlock(
                file: path, passphrase: IdentityLoader.passphrase(for: path, file: identity.passphraseFile, command: identity.passphraseCommand))
            let unlocked = file.identity
            let socket = try AgentSocket.path(forIdentityFile: path, create: true)
            AgentSocket.stopAgent(at: socket)
            let agent = try AgentProcess.start(file, socket: socket, seconds: seconds)
            let report = UnlockReport(
                fingerprint: unlocked.fingerprint, name: unlocked.name, socket: socket, pid: agent,
                until: Timestamp.format(Date(timeIntervalSinceNow: seconds)))
            if output.json { return try JSONOutput.print(report) }
            TextOutput.line("unlocked \(unlocked.name) (\(unlocked.fingerprint)) until \(report.until); `coffer lock` forgets it sooner")
        }

        struct UnlockReport: Encodable {
            let fingerprint: String
            let name: String
            let socket: String
            let pid: Int32
            let until: String
        }
    }

    /// `coffer lock`.
    struct Lock: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Stop every unlock agent of yours: the identities they hold are wiped at once.",
            discussion: """
                Commands ask for the passphrase again afterwards. A socket whose agent is gone (killed) is removed. \
                With --identity, only the agent of that identity file is stopped.

                Examples:
                  coffer lock
                  coffer lock --identity ~/.config/coffer/service.identity
                """)

        @Option(name: .long, help: ArgumentHelp("Stop only the agent of this identity file.", valueName: "file"))
        var identity: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let sockets = try identity.map { [try AgentSocket.path(forIdentityFile: $0)] } ?? AgentSocket.all()
            let stopped = sockets.filter { AgentSocket.stopAgent(at: $0) }.count
            if output.json { return try JSONOutput.print(["stopped": stopped]) }
            TextOutput.line(stopped == 0 ? "no agent was running" : "stopped \(stopped) agent\(stopped == 1 ? "" : "s")")
        }
    }

    /// The agent process `coffer unlock` starts (not for people).
    struct AgentServe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "agent-serve", abstract: "Serve as the unlock agent (started by `coffer unlock`).",
            discussion: """
                Reads the identity `coffer unlock` hands it on standard input (docs/FORMAT.md, "Unlock agent"), \
                prints `ready` once it listens, and serves until its time runs out or `coffer lock`.

                Examples:
                  coffer agent-serve --socket "$XDG_RUNTIME_DIR/coffer/agent-0123456789abcdef.sock" --seconds 900 < hand-off
                """,
            shouldDisplay: false)

        @Option(name: .long, help: "The socket to listen at.")
        var socket: String

        @Option(name: .long, help: "Seconds to serve.")
        var seconds: Double

        func run() throws {
            // Other processes of the user may not read this one's memory or trace it.
            _ = coffer_set_undumpable()
            let server: AgentServer
            do {
                server = try AgentServer.start(readingIdentityFrom: STDIN_FILENO, socket: socket, lifetime: seconds)
            } catch {
                FileHandle.standardOutput.write(Data("error: \(error)\n".utf8))
                throw ExitCode(1)
            }
            FileHandle.standardOutput.write(Data("ready\n".utf8))
            // Detached: no terminal, no pipe to its starter, no working directory held.
            let null = open("/dev/null", O_RDWR)
            for descriptor in [STDIN_FILENO, STDOUT_FILENO, STDERR_FILENO] { dup2(null, descriptor) }
            if null > 2 { close(null) }
            _ = chdir("/")
            server.serve()
        }
    }
}

/// Starts the agent process for `coffer unlock`.
enum AgentProcess {
    /// Starts `coffer agent-serve` in a session of its own, hands it the
    /// identity through a pipe (never argv or the environment), and waits
    /// until it listens.
    /// - Returns: its process id.
    /// - Throws: ``IdentityError/agentFailed(_:)`` if it did not start.
    static func start(_ unlocked: AgentServer.Unlocked, socket: String, seconds: Double) throws -> pid_t {
        var input: [Int32] = [0, 0], output: [Int32] = [0, 0]
        guard pipe(&input) == 0 else { throw IdentityError.agentFailed("no pipe (errno \(errno))") }
        guard pipe(&output) == 0 else { throw IdentityError.agentFailed("no pipe (errno \(errno))") }
        defer {
            if input[1] >= 0 { close(input[1]) }
            close(output[0])
        }
        let executable = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        let child: pid_t
        do {
            child = try ChildProcessSpawn.start(
                executable, arguments: ["agent-serve", "--socket", socket, "--seconds", String(seconds)], flags: COFFER_POSIX_SPAWN_SETSID
            ) { actions in
                posix_spawn_file_actions_adddup2(&actions, input[0], 0)
                posix_spawn_file_actions_adddup2(&actions, output[1], 1)
                posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
            }
        } catch {
            close(input[0])
            close(output[1])
            throw IdentityError.agentFailed("the agent could not start (errno \(error.code))")
        }
        // The child's ends: the parent keeps only the writing end of its input and the reading end of its output.
        close(input[0])
        close(output[1])
        try AgentServer.handOff(unlocked, to: input[1])
        close(input[1])
        input[1] = -1
        let said = readLine(from: output[0], within: 10)
        guard said == "ready" else {
            kill(child, SIGKILL)
            throw IdentityError.agentFailed("the agent did not start: \(said ?? "no answer within 10 s")")
        }
        return child
    }

    /// The first line `descriptor` gives within `seconds`, or nil.
    private static func readLine(from descriptor: Int32, within seconds: Int32) -> String? {
        var line: [UInt8] = []
        var poll = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        while line.count < 4096, Glibc.poll(&poll, 1, seconds * 1_000) > 0 {
            var byte: UInt8 = 0
            guard read(descriptor, &byte, 1) == 1 else { break }
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }
}

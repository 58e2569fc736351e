import CPlatform
import CofferKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A command that prints a passphrase (`--passphrase-command`,
/// `$COFFER_PASSPHRASE_COMMAND`): a password manager such as `pass show
/// coffer` or `op read op://vault/coffer/password`.
///
/// It runs as `/bin/sh -c COMMAND` with standard input from `/dev/null`
/// (so that `pg_dump | coffer seal -` keeps its data; a manager that asks
/// for its own passphrase does so on the terminal, as pinentry does),
/// standard error inherited, and no other descriptor of Coffer's. The first
/// line it prints is the passphrase; it must exit 0.
struct PassphraseCommand {
    /// The shell command.
    let command: String

    /// At most this many bytes are read from the command (the passphrase's limit and its newline).
    static let limit = 4097

    /// Runs the command and returns the first line it printed.
    /// - Throws: ``IdentityError/passphraseCommandFailed(_:)`` if it cannot
    ///   start or exits with another status than 0 (what it printed is wiped).
    func run() throws -> [UInt8] {
        var pipe: [Int32] = [0, 0]
        guard Glibc.pipe(&pipe) == 0 else { throw failure("no pipe (errno \(errno))") }
        let child: pid_t
        do {
            child = try ShellCommand(command: command).start { actions in
                posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
                posix_spawn_file_actions_adddup2(&actions, pipe[1], 1)
            }
            close(pipe[1])
        } catch {
            close(pipe[0])
            close(pipe[1])
            throw failure("could not start (errno \(error.code))")
        }

        // Reserved up front: growing would leave copies of the passphrase in freed memory.
        var output = [UInt8](repeating: 0, count: Self.limit)
        var count = 0
        while count < Self.limit {
            let n = output.withUnsafeMutableBytes { Glibc.read(pipe[0], $0.baseAddress! + count, Self.limit - count) }
            if n > 0 {
                count += n
            } else if n == 0 || errno != EINTR {
                break
            }
        }
        // Closed before the wait: a command that keeps printing gets SIGPIPE instead of blocking both.
        close(pipe[0])
        let ended = ShellCommand.wait(for: child)
        let line = output[..<count].prefix { $0 != UInt8(ascii: "\n") }
        var passphrase = Array(line.last == UInt8(ascii: "\r") ? line.dropLast() : line)
        Sodium.wipe(&output)
        if let ended {
            Sodium.wipe(&passphrase)
            throw failure(ended)
        }
        guard passphrase.count < Self.limit else {
            Sodium.wipe(&passphrase)
            throw failure("printed a line longer than \(Self.limit - 1) bytes")
        }
        return passphrase
    }

    private func failure(_ reason: String) -> IdentityError {
        .passphraseCommandFailed("the passphrase command \(command.debugDescription) \(reason)")
    }
}

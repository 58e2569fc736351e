import CPlatform
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A command the user configured (a passphrase command, an editor), run as
/// `/bin/sh -c COMMAND NAME ARGUMENT...`, so that it may carry its own
/// arguments (`code --wait`) and the arguments reach it as `"$@"`. The child
/// gets no descriptor of Coffer's beyond those its file actions give it.
struct ShellCommand {
    /// The shell command line.
    let command: String

    /// Starts the command with `arguments` as `$1`…, after `configure` added
    /// its file actions (see ``ChildProcessSpawn/start(_:arguments:flags:configure:)``).
    /// - Returns: the child's process id.
    /// - Throws: the `posix_spawn` error number.
    func start(
        _ arguments: [String] = [], configure: (inout posix_spawn_file_actions_t) -> Void = { _ in }
    ) throws(SpawnFailure) -> pid_t {
        try ChildProcessSpawn.start(
            "/bin/sh", arguments: ["-c", command + (arguments.isEmpty ? "" : " \"$@\""), "sh"] + arguments, configure: configure)
    }

    /// Waits for `child` to end and describes how it did: nil when it exited
    /// with status 0, else "exited with status N" or "was killed by signal N".
    static func wait(for child: pid_t) -> String? {
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        // WIFEXITED, WEXITSTATUS and WTERMSIG, which Swift does not import.
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            return code == 0 ? nil : "exited with status \(code)"
        }
        return "was killed by signal \(status & 0x7f)"
    }

}

/// A `posix_spawn` failure: its error number.
struct SpawnFailure: Error {
    /// The error number `posix_spawn` returned.
    let code: Int32
}

/// Starts child processes (a shell command, the unlock agent) the way every
/// child of Coffer starts: no descriptor of Coffer's beyond 0–2 and those
/// its file actions give it, and every signal unblocked with its default
/// action (Coffer ignores SIGPIPE and SIGXFSZ, and an edit's interrupts).
enum ChildProcessSpawn {
    /// Starts `executable` with `arguments` (after its own name), after
    /// `configure` added file actions; `flags` are more `posix_spawnattr` flags.
    /// - Returns: the child's process id.
    /// - Throws: the `posix_spawn` error number.
    static func start(
        _ executable: String, arguments: [String], flags: Int32 = 0, configure: (inout posix_spawn_file_actions_t) -> Void = { _ in }
    ) throws(SpawnFailure) -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGPIPE, SIGXFSZ, SIGINT, SIGQUIT, SIGHUP, SIGTERM] { sigaddset(&defaults, signal) }
        var unblocked = sigset_t()
        sigemptyset(&unblocked)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &unblocked)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | flags))
        configure(&actions)
        coffer_spawn_close_from(&actions, 3)
        var argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var child: pid_t = 0
        let spawned = posix_spawn(&child, executable, &actions, &attributes, &argv, environ)
        guard spawned == 0 else { throw SpawnFailure(code: spawned) }
        return child
    }
}

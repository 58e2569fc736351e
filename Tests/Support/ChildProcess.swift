#if canImport(Glibc)
import Glibc
#endif
import CPlatform
import Foundation

/// A child process started with `posix_spawn`, with the part of
/// Foundation's `Process` interface the tests use.
///
/// Foundation's `Process.run()` on Linux (swift-corelibs-foundation before
/// PR #5472, so the 6.3.1 toolchain here) copies each whole 256-byte
/// `d_name` of `/proc/self/fd` and crashes in `memcpy` when an entry ends
/// near an unmapped page: now and then, in a test process that starts
/// hundreds of children from several threads. This type lets the child
/// close every inherited descriptor itself (`posix_spawn_file_actions_addclosefrom_np`)
/// and reads no directory.
public final class ChildProcess: @unchecked Sendable {
    /// The program to run.
    public var executableURL: URL?
    /// Its arguments, after the program's own name.
    public var arguments: [String]?
    /// Its whole environment; nil inherits this process's.
    public var environment: [String: String]?
    /// Its working directory; nil inherits this process's.
    public var currentDirectoryURL: URL?
    /// A `FileHandle` or a `Pipe` (its reading end) for standard input; nil inherits.
    public var standardInput: Any?
    /// A `FileHandle` or a `Pipe` (its writing end) for standard output; nil inherits.
    public var standardOutput: Any?
    /// A `FileHandle` or a `Pipe` (its writing end) for standard error; nil inherits.
    public var standardError: Any?
    /// Called once, on another thread, when the child has exited.
    public var terminationHandler: (@Sendable (ChildProcess) -> Void)?

    /// The child's process id, once running.
    public private(set) var processIdentifier: Int32 = 0
    private let condition = NSCondition()
    private var waitStatus: Int32?

    /// A process not started yet.
    public init() {}

    /// Starts the child, and a thread that reaps it.
    /// - Throws: `POSIXError` if it cannot be started (a missing program).
    public func run() throws {
        guard let executable = executableURL?.path else { throw POSIXError(.ENOENT) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // As Foundation does: the child leads its own process group, and starts
        // with no signal blocked and every signal at its default action, as
        // from a shell (the test runner's threads block and ignore some, which
        // a child would otherwise inherit: a forwarder that never sees SIGTERM).
        try check(posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)))
        var noSignals = sigset_t(), allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        try check(posix_spawnattr_setsigmask(&attributes, &noSignals))
        try check(posix_spawnattr_setsigdefault(&attributes, &allSignals))
        for (target, stream, readingEnd) in [(Int32(0), standardInput, true), (1, standardOutput, false), (2, standardError, false)] {
            if let handle = stream as? FileHandle, handle === FileHandle.nullDevice {
                // Foundation's null device has no descriptor of its own.
                try check(posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_RDWR, 0))
            } else if let descriptor = Self.descriptor(of: stream, readingEnd: readingEnd) {
                try check(posix_spawn_file_actions_adddup2(&actions, descriptor, target))
            }
        }
        try check(coffer_spawn_close_from(&actions, 3))
        if let directory = currentDirectoryURL?.path { try check(coffer_spawn_change_directory(&actions, directory)) }

        let argv = ([executable] + (arguments ?? [])).map { strdup($0) } + [nil]
        let environment = (self.environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + environment).forEach { free($0) } }
        var pid: pid_t = 0
        try check(posix_spawn(&pid, executable, &actions, &attributes, argv, environment))
        processIdentifier = pid
        // The child has its copies: the parent keeps only its own ends of pipes.
        (standardInput as? Pipe)?.fileHandleForReading.closeFile()
        (standardOutput as? Pipe)?.fileHandleForWriting.closeFile()
        (standardError as? Pipe)?.fileHandleForWriting.closeFile()
        let reaper = Thread { [self] in reap() }
        reaper.stackSize = 1 << 18
        reaper.start()
    }

    /// Waits for the child to exit.
    public func waitUntilExit() {
        condition.lock()
        while waitStatus == nil { condition.wait() }
        condition.unlock()
    }

    /// Whether the child has not exited yet.
    public var isRunning: Bool {
        condition.lock()
        defer { condition.unlock() }
        return processIdentifier != 0 && waitStatus == nil
    }

    /// The exit status, or the number of the signal that ended it.
    public var terminationStatus: Int32 {
        let status = finalStatus()
        return status & 0x7f == 0 ? (status >> 8) & 0xff : status & 0x7f
    }

    /// Whether the child exited or was ended by a signal.
    public var terminationReason: Process.TerminationReason {
        finalStatus() & 0x7f == 0 ? .exit : .uncaughtSignal
    }

    private func finalStatus() -> Int32 {
        waitUntilExit()
        condition.lock()
        defer { condition.unlock() }
        return waitStatus!
    }

    private func reap() {
        var status: Int32 = 0
        while waitpid(processIdentifier, &status, 0) < 0, errno == EINTR {}
        condition.lock()
        waitStatus = status
        condition.broadcast()
        condition.unlock()
        terminationHandler?(self)
    }

    private static func descriptor(of stream: Any?, readingEnd: Bool) -> Int32? {
        switch stream {
        case let handle as FileHandle: handle.fileDescriptor
        case let pipe as Pipe: (readingEnd ? pipe.fileHandleForReading : pipe.fileHandleForWriting).fileDescriptor
        default: nil
        }
    }

    private func check(_ result: Int32) throws {
        guard result == 0 else { throw POSIXError(POSIXErrorCode(rawValue: result) ?? .EIO) }
    }
}

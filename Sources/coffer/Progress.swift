import ArgumentParser
import CofferKit
import Foundation

/// `--quiet` for commands that show progress.
struct ProgressOptions: ParsableArguments {
    @Flag(name: [.customShort("q"), .long], help: "Show no progress line (it appears only when standard error is a terminal).")
    var quiet = false

    /// A progress line for this command, or nil with `--quiet` or when
    /// standard error is not a terminal: scripts never see one.
    func start() -> TerminalProgress? {
        quiet || isatty(STDERR_FILENO) != 1 ? nil : TerminalProgress()
    }

    /// Runs `work` with a progress line (``start()``), erased when it
    /// returns or throws: before the report, or the error, is printed.
    func showing<T>(_ work: (TerminalProgress?) throws -> T) rethrows -> T {
        let progress = start()
        defer { progress?.finish() }
        return try work(progress)
    }
}

/// One line on standard error, redrawn in place, for a person watching long
/// work: a bar, bytes done of bytes expected, the rate and the time left
/// (`[######--------------]  412 MiB / 1.0 GiB  31%  120 MiB/s  5 s left`).
/// It first appears after half a second (quick commands show nothing), is
/// redrawn at most ten times a second, and is erased by ``finish()``.
final class TerminalProgress: ProgressListener, @unchecked Sendable {
    private let lock = NSLock()
    private let started = DispatchTime.now().uptimeNanoseconds
    private var expected: UInt64 = 0
    private var done: UInt64 = 0
    private var drawnAt: UInt64 = 0
    private var shown = false

    func expect(_ bytes: UInt64) {
        lock.withLock { expected += bytes }
    }

    func advance(_ bytes: UInt64) {
        lock.withLock {
            done += bytes
            let now = DispatchTime.now().uptimeNanoseconds
            guard now - started >= 500_000_000, now - drawnAt >= 100_000_000 else { return }
            drawnAt = now
            shown = true
            Self.write("\r" + Self.line(done: done, expected: expected, seconds: Double(now - started) / 1e9) + "\u{1B}[K")
        }
    }

    /// Runs `body` (which prints a line of output) with the progress line
    /// erased first; the next report draws it again below.
    func aside(_ body: () throws -> Void) rethrows {
        try lock.withLock {
            if shown { Self.write("\r\u{1B}[K") }
            drawnAt = 0
            try body()
        }
    }

    /// Erases the line, if one was drawn: what follows (a result, an error) starts clean.
    func finish() {
        lock.withLock {
            if shown { Self.write("\r\u{1B}[K") }
            shown = false
        }
    }

    /// The text of the line.
    static func line(done: UInt64, expected: UInt64, seconds: Double) -> String {
        let rate = seconds > 0 ? Double(done) / seconds : 0
        var parts: [String] = []
        if expected > 0 {
            let fraction = min(1, Double(done) / Double(expected))
            let filled = Int(fraction * 20)
            parts.append("[" + String(repeating: "#", count: filled) + String(repeating: "-", count: 20 - filled) + "]")
            parts.append("\(formatSize(done)) / \(formatSize(expected))")
            parts.append("\(Int(fraction * 100))%")
        } else {
            parts.append(formatSize(done))
        }
        parts.append("\(formatSize(UInt64(rate)))/s")
        if expected > done, rate > 0 {
            parts.append("\(Int((Double(expected - done) / rate).rounded(.up))) s left")
        }
        return parts.joined(separator: "  ")
    }

    private static func write(_ text: String) {
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}

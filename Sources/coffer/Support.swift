import ArgumentParser
import CofferKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which identity to use and where its passphrase comes from.
struct IdentityOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Identity file (default: $COFFER_IDENTITY, else $XDG_CONFIG_HOME/coffer/identity or ~/.config/coffer/identity).", valueName: "file"))
    var identity: String?

    @Option(name: .long, help: ArgumentHelp("Read the identity's passphrase from the first line of this file.", valueName: "file"))
    var passphraseFile: String?

    @Option(name: .long, help: ArgumentHelp("Run this shell command and use the first line it prints as the passphrase (a password manager; default: $COFFER_PASSPHRASE_COMMAND).", valueName: "cmd"))
    var passphraseCommand: String?

    /// The identity: from an unlock agent that holds it (`coffer unlock`),
    /// else read and decrypted from its file.
    func load() throws -> Identity {
        let path = IdentityLoader.path(explicit: identity)
        if let unlocked = Identity.unlocked(file: path) { return unlocked }
        return try IdentityLoader.load(path: path, passphraseFile: passphraseFile, command: passphraseCommand)
    }
}

/// Options every vault command shares.
struct VaultOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The vault directory (default: $COFFER_VAULT).", valueName: "dir"))
    var vault: String?

    @OptionGroup var identity: IdentityOptions

    /// The vault path from the option or the environment.
    func vaultPath() throws -> String {
        try VaultPathOptions.required(explicit: vault)
    }

    /// Loads and decrypts the identity.
    func loadIdentity() throws -> Identity {
        try identity.load()
    }

    /// Opens the vault as the identity (`.readOnly` for commands that only
    /// read: nothing in the vault directory changes, read-only media work).
    func openVault(access: VaultAccess = .readWrite) throws -> Vault {
        let path = try vaultPath()
        let identity = try loadIdentity()
        return try Vault.open(at: path, identity: identity, stateDirectory: .standard, access: access)
    }
}

/// `--catalog` and `--objects`: where a shared vault's ledger and objects
/// are (docs/SHARED.md), both or neither.
struct SharedStorageOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("A shared vault's PostgreSQL database, as a libpq URI or connection string without a password.", valueName: "postgresql://…"))
    var catalog: String?

    @Option(name: .long, help: ArgumentHelp("A shared vault's S3 bucket and key prefix.", valueName: "s3://bucket/prefix"))
    var objects: String?

    func validate() throws {
        if (catalog == nil) != (objects == nil) { throw ValidationError("a shared vault needs both --catalog and --objects") }
    }

    /// The shared backend they name, or the local one without them.
    var storage: VaultStorage {
        if let catalog, let objects { .shared(catalog: catalog, objects: objects) } else { .local }
    }
}

/// `--vault` alone, for commands that need no identity (keyless checks).
struct VaultPathOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The vault directory (default: $COFFER_VAULT).", valueName: "dir"))
    var vault: String?

    /// The vault path from the option or the environment, if any.
    var chosen: String? { Self.chosen(explicit: vault) }

    /// The vault path from the option or the environment.
    func vaultPath() throws -> String {
        try Self.required(explicit: vault)
    }

    /// `explicit` (a `--vault` value), else a non-empty `COFFER_VAULT`, else nil.
    static func chosen(explicit: String?) -> String? {
        if let explicit { return explicit }
        if let env = ProcessInfo.processInfo.environment["COFFER_VAULT"], !env.isEmpty { return env }
        return nil
    }

    /// ``chosen(explicit:)``, required.
    /// - Throws: ``VaultError/invalidRequest(_:)`` when neither the option nor the environment gives one.
    static func required(explicit: String?) throws -> String {
        guard let path = chosen(explicit: explicit) else {
            throw VaultError.invalidRequest("no vault given: pass --vault DIR or set COFFER_VAULT")
        }
        return path
    }
}

/// `--json` for commands that report something.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false
}

/// Finds, reads and decrypts identity files, and reads passphrases.
enum IdentityLoader {
    /// `--identity`, else `$COFFER_IDENTITY`, else the default path.
    static func path(explicit: String?) -> String {
        explicit ?? IdentityFile.standardPath
    }

    /// Reads and decrypts the identity at `path`.
    static func load(path: String, passphraseFile: String?, command: String? = nil) throws -> Identity {
        try IdentityFile.load(from: path, passphrase: passphrase(for: path, file: passphraseFile, command: command))
    }

    /// The identity's passphrase, from the usual sources, when it is asked for.
    static func passphrase(for path: String, file: String?, command: String?) -> () throws -> SecureBytes {
        { try Passphrase.read(file: file, command: command, prompt: "Passphrase for \(path): ", confirm: false, path: path) }
    }

}

/// Passphrases: from a file, a command, `$COFFER_PASSPHRASE`,
/// `$COFFER_PASSPHRASE_COMMAND`, or a prompt without echo on the controlling terminal (`/dev/tty`, as age, gpg, ssh and sops ask:
/// standard input may be a pipe, `pg_dump | coffer seal -`), never from an
/// argument. No prompt without a controlling terminal (cron, CI, `setsid`).
enum Passphrase {
    /// Reads a passphrase into locked memory.
    /// - Parameters:
    ///   - confirm: ask twice (creation) when prompting.
    ///   - path: the identity file, for error messages.
    ///   - command: a command that prints it (``PassphraseCommand``).
    ///   - allowEnvironment: whether `$COFFER_PASSPHRASE` and `$COFFER_PASSPHRASE_COMMAND` may supply it.
    static func read(file: String?, command: String? = nil, prompt: String, confirm: Bool, path: String, allowEnvironment: Bool = true) throws -> SecureBytes {
        if file == nil, let command = command ?? (allowEnvironment ? environmentCommand : nil) {
            var bytes = try PassphraseCommand(command: command).run()
            defer { Sodium.wipe(&bytes) }
            return try nonEmpty(bytes)
        }
        if let file {
            var bytes = try FileSystem.readSmallFile(file, limit: 4096)
            defer { Sodium.wipe(&bytes) }
            if let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) { bytes.removeSubrange(newline...) }
            if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
            return try nonEmpty(bytes)
        }
        if allowEnvironment, let env = ProcessInfo.processInfo.environment["COFFER_PASSPHRASE"] {
            var bytes = Array(env.utf8)
            defer { Sodium.wipe(&bytes) }
            // Child processes need not inherit it.
            unsetenv("COFFER_PASSPHRASE")
            return try nonEmpty(bytes)
        }
        // ENXIO: the process has no controlling terminal.
        let terminal = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
        guard terminal >= 0 else { throw IdentityError.passphraseRequired(path: path) }
        defer { close(terminal) }
        var first = try prompted(prompt, on: terminal)
        defer { Sodium.wipe(&first) }
        if confirm {
            var second = try prompted("Repeat passphrase: ", on: terminal)
            defer { Sodium.wipe(&second) }
            guard first == second else { throw IdentityError.badPassphrase("the two passphrases differ") }
        }
        return try nonEmpty(first)
    }

    /// `$COFFER_PASSPHRASE_COMMAND`, when it is set and not empty and
    /// `$COFFER_PASSPHRASE` is not set (the passphrase itself comes first).
    private static var environmentCommand: String? {
        let environment = ProcessInfo.processInfo.environment
        guard environment["COFFER_PASSPHRASE"] == nil, let command = environment["COFFER_PASSPHRASE_COMMAND"], !command.isEmpty else { return nil }
        return command
    }

    private static func nonEmpty(_ bytes: [UInt8]) throws -> SecureBytes {
        guard !bytes.isEmpty else { throw IdentityError.badPassphrase("the passphrase is empty") }
        return SecureBytes.copying(bytes)
    }

    /// Writes `prompt` on the terminal `fd` and reads one line with echo off.
    private static func prompted(_ prompt: String, on fd: Int32) throws -> [UInt8] {
        _ = prompt.withCString { write(fd, $0, strlen($0)) }
        var saved = termios()
        tcgetattr(fd, &saved)
        var silent = saved
        silent.c_lflag &= ~tcflag_t(ECHO)
        tcsetattr(fd, TCSAFLUSH, &silent)
        defer {
            tcsetattr(fd, TCSAFLUSH, &saved)
            _ = write(fd, "\n", 1)
        }
        // Reserved up front: growing would leave copies of the passphrase in freed memory.
        var line: [UInt8] = []
        line.reserveCapacity(4097)
        var byte: UInt8 = 0
        while Glibc.read(fd, &byte, 1) == 1, byte != UInt8(ascii: "\n") {
            if byte != UInt8(ascii: "\r") { line.append(byte) }
            if line.count > 4096 { break }
        }
        return line
    }
}

/// Documented exit codes, one per failure kind.
enum ExitStatus {
    static func code(for kind: FailureKind) -> Int32 {
        switch kind {
        case .general: 1
        case .usage: 2
        case .authentication: 3
        case .accessDenied: 4
        case .integrity: 5
        case .notFound: 6
        case .conflict: 7
        case .io: 8
        case .concurrentChange: 9
        }
    }

    /// Prints `error` as one line on stderr and returns the exit code.
    static func report(_ error: any Error) -> Int32 {
        if let exit = error as? ExitCode { return exit.rawValue }
        if let failure = error as? any CofferFailure {
            printError(failure.description)
            return code(for: failure.kind)
        }
        let exit = Coffer.exitCode(for: error)
        let message = Coffer.fullMessage(for: error)
        if exit == .success {
            print(message)
            return 0
        }
        // The argument parser's message spans lines (usage, a help hint).
        printError(message, multiline: true)
        return exit == .validationFailure ? 2 : exit.rawValue
    }

    /// Prints `message` on stderr as `coffer: note: …`, control characters escaped.
    static func printNote(_ message: String) {
        TextOutput.errorLine("coffer: note: \(message)")
    }

    /// Prints `message` on stderr as `coffer: error: …`, control characters
    /// escaped, since a message may quote a name someone else chose. A
    /// `multiline` message keeps its newlines and escapes each line.
    static func printError(_ message: String, multiline: Bool = false) {
        let text = message.hasPrefix("Error: ") ? String(message.dropFirst(7)) : message
        let escaped = multiline
            ? text.split(separator: "\n", omittingEmptySubsequences: false).map { String($0).escapingControlCharacters }.joined(separator: "\n")
            : text.escapingControlCharacters
        FileHandle.standardError.write(Data("coffer: error: \(escaped)\n".utf8))
    }
}

/// Process-wide settings applied before anything else runs.
enum ProcessHardening {
    static func apply() {
        // No core dumps: they would hold keys and plaintext.
        var limit = rlimit(rlim_cur: 0, rlim_max: 0)
        _ = setrlimit(Int32(RLIMIT_CORE.rawValue), &limit)
        // Everything Coffer creates (catalog, descriptor, outputs) is private to the user.
        umask(0o077)
        // A closed pipe or a file-size limit becomes an I/O error with a
        // message and exit code 8 instead of a silent death by signal.
        signal(SIGPIPE, SIG_IGN)
        signal(SIGXFSZ, SIG_IGN)
    }
}

/// JSON output with stable key order.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        Swift.print(try encoded(value))
    }

    /// One value as compact JSON with sorted keys.
    static func encoded<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// Prints a JSON array (on one line, as ``print(_:)`` would) an element
    /// at a time, as the elements are produced: a long listing starts at
    /// once and is never held whole.
    struct Stream {
        private var started = false

        /// Prints the next element.
        mutating func append<T: Encodable>(_ value: T) throws {
            Swift.print(started ? "," : "[", terminator: "")
            Swift.print(try encoded(value), terminator: "")
            started = true
        }

        /// Closes the array.
        func finish() {
            Swift.print(started ? "]" : "[]")
        }
    }
}

/// Human-readable byte counts.
func formatSize(_ bytes: UInt64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(bytes)
    var unit = 0
    while value >= 1024, unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(bytes) B" : String(format: "%.1f %@", value, units[unit])
}

/// Documents named on the command line and/or listed in a file, one per
/// line (`--documents-from FILE`, `-` for standard input): ids, id
/// prefixes or exact names. Scripts pass thousands of ids this way.
struct DocumentArguments: ParsableArguments {
    @Argument(help: ArgumentHelp("Document ids, id prefixes or exact names.", valueName: "doc"))
    var documents: [String] = []

    @Option(name: .long, help: ArgumentHelp("Also read documents from this file, one per line (- for standard input).", valueName: "file"))
    var documentsFrom: String?

    /// The list file is at most this large (about a million ids).
    static let listLimit = 64 << 20

    func validate() throws {
        if documents.isEmpty && documentsFrom == nil { throw ValidationError("name at least one document, or give --documents-from") }
    }

    /// Every document named, in order: the arguments, then the list's
    /// lines. The list is held as the bytes read (about 33 bytes an id) and
    /// cut into names as they are used.
    func all() throws -> DocumentList {
        guard let documentsFrom else { return DocumentList(named: documents, listed: []) }
        let bytes = documentsFrom == "-"
            ? try FileSystem.readSmallStandardInput(limit: Self.listLimit)
            : try FileSystem.readSmallFile(documentsFrom, limit: Self.listLimit)
        guard bytes.count <= Self.listLimit else {
            throw VaultError.invalidRequest("the document list \(documentsFrom == "-" ? "on standard input" : documentsFrom) is larger than 64 MiB")
        }
        return DocumentList(named: documents, listed: bytes)
    }
}

/// The documents a command names: its `DOC` arguments, then each line of its
/// `--documents-from` list (line breaks `\n` or `\r`; spaces and tabs around
/// a name dropped; empty lines skipped). It can be read any number of times.
struct DocumentList: Sequence {
    let named: [String]
    let listed: [UInt8]

    func makeIterator() -> Iterator { Iterator(named: named.makeIterator(), listed: listed) }

    /// Yields the arguments, then the list's names.
    struct Iterator: IteratorProtocol {
        var named: IndexingIterator<[String]>
        let listed: [UInt8]
        var offset = 0

        init(named: IndexingIterator<[String]>, listed: [UInt8]) {
            self.named = named
            self.listed = listed
        }

        mutating func next() -> String? {
            if let argument = named.next() { return argument }
            while offset < listed.count {
                let end = listed[offset...].firstIndex { $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: "\r") } ?? listed.count
                var line = listed[offset..<end]
                offset = end + 1
                while let first = line.first, first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") { line = line.dropFirst() }
                while let last = line.last, last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") { line = line.dropLast() }
                if !line.isEmpty { return String(decoding: line, as: UTF8.self) }
            }
            return nil
        }
    }
}

/// Durations on the command line: a whole count and a unit, `m`, `h`, `d`,
/// `w` or `y` (365 days) (`30m`, `12h`, `30d`, `2w`, `7y`), up to 100,000 units.
enum DurationParser {
    /// The duration in seconds, or nil if `text` is not one.
    static func seconds(_ text: String) -> TimeInterval? {
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400]
        guard let unit = text.last.flatMap({ units[$0] }), let count = Int(text.dropLast()), count >= 0, count <= 100_000 else { return nil }
        return Double(count) * unit
    }
}

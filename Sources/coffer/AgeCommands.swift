import ArgumentParser
import CofferKit
#if canImport(Glibc)
import Glibc
#endif

extension Coffer {
    /// `coffer age encrypt|decrypt`.
    struct AgeCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "age",
            abstract: "Encrypt and decrypt files in the age v1 format, interoperable with the age tool; make age keys.",
            subcommands: [Encrypt.self, Decrypt.self, Keygen.self])
    }
}

/// Input, output and overwrite options shared by `age encrypt` and `age decrypt`.
struct AgeStreamOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The file to read (default, or -: standard input).", valueName: "input"))
    var input: String?

    @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file, atomically (default, or -: standard output).", valueName: "file"))
    var output: String?

    @Flag(name: .long, help: "Accepted for scripts written before: an existing output file is replaced anyway, as age does.")
    var force = false

    /// Where to read.
    var source: InputSource {
        input == nil || input == "-" ? .standardInput : .file(path: input!)
    }

    /// Where to write. An existing file is replaced, as `age -o` replaces
    /// it, but only once the whole output is written (a failure leaves it
    /// as it was, and `-o FILE FILE` reads the original to its end).
    var target: OutputTarget {
        output == nil || output == "-" ? .standardOutput : .file(path: output!, overwrite: true)
    }

    /// Refuses a second use of standard input: key files given as `-`
    /// (`keyFiles`, the values of `option`) besides the input read from it.
    func checkOneUseOfStandardInput(keyFiles: [String], option: String) throws {
        let uses = keyFiles.filter { $0 == "-" }.count + (source == .standardInput ? 1 : 0)
        guard uses <= 1 else {
            throw ValidationError("standard input can be read once: give the input as a file, or \(option) - once, not both")
        }
    }

    /// The bytes of a small key file (a recipients or identity file), or of
    /// standard input for `-`.
    static func readKeyFile(_ path: String, limit: Int) throws -> [UInt8] {
        path == "-" ? try FileSystem.readSmallStandardInput(limit: limit) : try FileSystem.readSmallFile(path, limit: limit)
    }
}

/// Reads the passphrase for age's scrypt recipient with the usual sources
/// (`--passphrase-file`, `COFFER_PASSPHRASE`, a terminal prompt).
enum AgePassphrase {
    static func read(file: String?, confirm: Bool) throws -> SecureBytes {
        do {
            return try Passphrase.read(file: file, prompt: "Passphrase: ", confirm: confirm, path: "")
        } catch IdentityError.passphraseRequired {
            throw AgeError.invalidUse("a passphrase-encrypted file needs its passphrase: run in a terminal, or pass --passphrase-file FILE, or set COFFER_PASSPHRASE")
        }
    }
}

extension Coffer.AgeCommand {
    /// `coffer age encrypt`.
    struct Encrypt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encrypt to age recipients or a passphrase, streaming in constant memory.",
            discussion: """
                Recipients are age1… keys, coffer1… public identities (their age recipient) or ssh-ed25519 public keys. Files decrypt with `age -d`.

                Examples:
                  coffer age encrypt -r age1… -o report.pdf.age report.pdf
                  tar -c docs | coffer age encrypt -R ~/.ssh/id_ed25519.pub -a > docs.tar.age
                """)

        @OptionGroup var stream: AgeStreamOptions

        @Option(name: [.customShort("r"), .customLong("recipient")], help: ArgumentHelp("Encrypt to this age1… recipient or coffer1… public identity (repeatable).", valueName: "recipient"))
        var recipients: [String] = []

        @Option(name: [.customShort("R"), .customLong("recipients-file")], help: ArgumentHelp("Encrypt to every recipient in this file: one per line, # comments (repeatable).", valueName: "file"))
        var recipientsFiles: [String] = []

        @Flag(name: [.customShort("p"), .customLong("passphrase")], help: "Encrypt to a passphrase (scrypt) instead of recipients.")
        var passphrase = false

        @Option(name: .long, help: ArgumentHelp("With -p, read the passphrase from the first line of this file.", valueName: "file"))
        var passphraseFile: String?

        @Flag(name: [.customShort("a"), .customLong("armor")], help: "Write ASCII armor (PEM) instead of binary.")
        var armor = false

        func validate() throws {
            if passphrase, !(recipients.isEmpty && recipientsFiles.isEmpty) {
                throw ValidationError("-p cannot be combined with -r or -R: a passphrase must be the only recipient")
            }
            if !passphrase, recipients.isEmpty, recipientsFiles.isEmpty {
                throw ValidationError("give at least one recipient (-r or -R), or -p for a passphrase")
            }
            try stream.checkOneUseOfStandardInput(keyFiles: recipientsFiles, option: "-R")
            if !armor, stream.target == .standardOutput, isatty(STDOUT_FILENO) == 1 {
                throw ValidationError("refusing to write binary age output to a terminal; pass -a (armor) or -o FILE")
            }
        }

        func run() throws {
            try stream.target.checkAvailable()
            var parsed = try recipients.map(AgeRecipient.parse)
            for file in recipientsFiles {
                let contents = try AgeStreamOptions.readKeyFile(file, limit: AgeX25519Recipient.maxRecipientsFileByteCount)
                do {
                    parsed += try AgeRecipient.parseRecipientsFile(contents)
                } catch AgeError.invalidRecipient(let why) {
                    throw AgeError.invalidRecipient("\(file == "-" ? "standard input" : file): \(why)")
                }
            }
            if passphrase { parsed = [.scrypt(passphrase: try AgePassphrase.read(file: passphraseFile, confirm: true))] }
            try Age.encryptStream(from: stream.source, to: stream.target, recipients: parsed, armored: armor)
        }
    }

    /// `coffer age decrypt`.
    struct Decrypt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt an age file (binary or armored), streaming in constant memory.",
            discussion: """
                Without -i or -p, a passphrase-encrypted file asks for its passphrase (as age -d does), and \
                any other file is opened with your Coffer identity (the --identity rule of every command). \
                To a file (-o), nothing appears unless every chunk authenticated; to standard output, \
                chunks are written as they authenticate and a later failure exits 5.
                
                Examples:
                  coffer age decrypt -o report.pdf report.pdf.age
                  coffer age decrypt -i ~/.ssh/id_ed25519 docs.tar.age | tar -x
                """)

        @OptionGroup var stream: AgeStreamOptions

        @OptionGroup var keys: AgeIdentityOptions

        func validate() throws {
            try stream.checkOneUseOfStandardInput(keyFiles: keys.identityFiles, option: "-i")
        }

        func run() throws {
            try stream.target.checkAvailable()
            try Age.decryptStream(from: stream.source, to: stream.target, identities: keys.identities(passphraseEncrypted:))
        }
    }
}

extension Coffer.AgeCommand {
    /// `coffer age keygen`.
    struct Keygen: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate an age identity file (X25519, or post-quantum with --pq), as age-keygen does; with -y, print the recipients of one.",
            discussion: """
                The file holds a comment with its creation time, one with its public key, and the \
                AGE-SECRET-KEY-1… line (AGE-SECRET-KEY-PQ-1… with --pq: an ML-KEM-768 + X25519 hybrid key, whose \
                age1pq1… recipient is safe against a future quantum computer and is never mixed with classic ones). To a file (-o), it is written 0600, atomically, and never over an \
                existing file (exit 7); the public key goes to standard error. With -y, the recipients of an \
                identity file (age's, an OpenSSH ed25519 key, or a Coffer identity) are printed, one per line.

                Examples:
                  coffer age keygen -o key.txt
                  coffer age keygen --pq -o pq-key.txt
                  coffer age keygen -y key.txt > recipients.txt
                """)

        @Option(name: .shortAndLong, help: ArgumentHelp("Write to this file (default: standard output).", valueName: "file"))
        var output: String?

        @Flag(name: .customShort("y"), help: "Print the recipients of the identity file INPUT (or standard input) instead.")
        var convert = false

        @Flag(name: .customLong("pq"), help: "Generate a post-quantum hybrid key (ML-KEM-768 + X25519; age1pq1… recipient), as age-keygen -pq.")
        var postQuantum = false

        @Argument(help: ArgumentHelp("With -y, the identity file (default, or -: standard input).", valueName: "input"))
        var input: String?

        @Option(name: .long, help: ArgumentHelp("With -y, the passphrase of an encrypted identity file, from the first line of this file.", valueName: "file"))
        var passphraseFile: String?

        func validate() throws {
            if input != nil, !convert { throw ValidationError("an input file is read only with -y") }
            if postQuantum, convert { throw ValidationError("--pq generates a key; -y reads one, whatever its kind") }
        }

        func run() throws {
            if convert { return try printRecipients() }
            let (contents, recipient) = try (postQuantum ? AgeKeyGeneration.hybrid : .x25519).generate()
            var bytes = contents.withUnsafeBytes { Array($0) }
            defer { Sodium.wipe(&bytes) }
            if let output, output != "-" {
                try IdentityFile.write(bytes, to: output)
            } else {
                try bytes.withUnsafeBytes { buffer in
                    var done = 0
                    while done < buffer.count {
                        let n = Glibc.write(STDOUT_FILENO, buffer.baseAddress! + done, buffer.count - done)
                        if n > 0 { done += n } else if errno != EINTR { throw FileError(operation: "write", path: "standard output", code: errno) }
                    }
                }
            }
            if output != nil || isatty(STDOUT_FILENO) != 1 { TextOutput.errorLine("Public key: \(recipient)") }
        }

        private func printRecipients() throws {
            let identities = try AgeIdentityOptions.load(input ?? "-", passphraseFile: passphraseFile)
            let text = identities.compactMap(\.recipient).map { $0 + "\n" }.joined()
            if let output, output != "-" {
                try IdentityFile.write(Array(text.utf8), to: output)
            } else {
                print(text, terminator: "")
            }
        }
    }
}

/// How a command that decrypts age files finds its keys: `-i` files (age
/// or Coffer identity files), `-p` for a passphrase, else your Coffer identity.
struct AgeIdentityOptions: ParsableArguments {
    @Option(name: [.customShort("i"), .customLong("identity")], help: ArgumentHelp("An age identity file (AGE-SECRET-KEY-1…) or a Coffer identity file (repeatable).", valueName: "file"))
    var identityFiles: [String] = []

    @Flag(name: [.customShort("p"), .customLong("passphrase")], help: "Decrypt a passphrase-encrypted file.")
    var passphrase = false

    @Option(name: .long, help: ArgumentHelp("Read the passphrase (-p, or of an encrypted Coffer identity) from the first line of this file.", valueName: "file"))
    var passphraseFile: String?

    func validate() throws {
        if passphrase, !identityFiles.isEmpty {
            throw ValidationError("-p cannot be combined with -i: a passphrase-encrypted file has no other recipient")
        }
    }

    /// The keys to try, in order.
    func identities() throws -> [AgeIdentity] {
        try identities(passphraseEncrypted: false)
    }

    /// The keys to try on a file that is, or is not, passphrase-encrypted:
    /// with neither -i nor -p, the passphrase for such a file (asked for
    /// only then), else your Coffer identity. Given -i, a passphrase-encrypted
    /// file is refused as age refuses it.
    func identities(passphraseEncrypted: Bool) throws -> [AgeIdentity] {
        if passphrase || (passphraseEncrypted && identityFiles.isEmpty) {
            return [.scrypt(passphrase: try AgePassphrase.read(file: passphraseFile, confirm: false))]
        }
        if passphraseEncrypted {
            throw AgeError.invalidUse("the file is passphrase-encrypted but identities were given with -i; use -p, or neither")
        }
        if identityFiles.isEmpty {
            let identity = try IdentityLoader.load(path: IdentityLoader.path(explicit: nil), passphraseFile: passphraseFile)
            return [.x25519(try identity.ageIdentity())]
        }
        return try identityFiles.flatMap { try Self.load($0, passphraseFile: passphraseFile) }
    }

    /// The identities in the file at `path` (`-`: standard input), asking
    /// for the passphrase of an encrypted one (from `passphraseFile` if given).
    static func load(_ path: String, passphraseFile: String?) throws -> [AgeIdentity] {
        var bytes = try AgeStreamOptions.readKeyFile(path, limit: AgeIdentity.maxIdentityFileByteCount)
        defer { Sodium.wipe(&bytes) }
        let name = path == "-" ? "standard input" : path
        return try AgeIdentity.parseFile(contents: SecureBytes.copying(bytes), path: name) {
            try Passphrase.read(file: passphraseFile, prompt: "Passphrase for \(name): ", confirm: false, path: name)
        }
    }
}

import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer identity new|show`.
    struct IdentityCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "identity",
            abstract: "Create and show identities (an Ed25519 signing key, an X25519 and an X-Wing post-quantum encryption key).",
            subcommands: [New.self, Show.self])
    }
}

extension Coffer.IdentityCommand {
    /// `coffer identity new`.
    struct New: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a new identity file (mode 0600, encrypted with a passphrase through Argon2id).",
            discussion: """
                Examples:
                  coffer identity new -o ~/.config/coffer/identity --name alice
                  coffer identity new -o ci.identity --name ci-bot --no-passphrase --json
                """)

        @Option(
            name: [.customShort("o"), .customLong("output"), .customLong("out")],
            help: ArgumentHelp("Where to write the identity (never overwritten). --out is the older spelling.", valueName: "file"))
        var out: String

        @Option(name: .long, help: "A display name for the identity.")
        var name: String?

        @Flag(name: .long, help: "Store the secret unencrypted (for services; protect the file yourself).")
        var noPassphrase = false

        @Option(name: .long, help: ArgumentHelp("Read the new passphrase from the first line of this file.", valueName: "file"))
        var passphraseFile: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let identity = Identity.generate(name: name ?? FileSystemName.user)
            let passphrase = noPassphrase
                ? nil
                : try Passphrase.read(file: passphraseFile, prompt: "New passphrase: ", confirm: true, path: out)
            let bytes = try IdentityFile.encode(identity, passphrase: passphrase)
            try IdentityFile.write(bytes, to: out)
            let shown = ShownIdentity(identity.publicIdentity, name: identity.name)
            if output.json {
                try JSONOutput.print(shown)
            } else {
                TextOutput.line("created \(out)")
                shown.printText()
            }
        }
    }

    /// `coffer identity show`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the public identity, its age recipient and its minisign public key.",
            discussion: """
                The public identity (coffer1…) is one line of 2,165 characters: it
                carries a post-quantum X-Wing key. Send it whole; people compare the
                fingerprint, which is the same as before the X-Wing key was added.

                Examples:
                  coffer identity show
                  coffer identity show --public > alice.coffer
                  coffer identity show --minisign > alice.pub
                """)

        @OptionGroup var identity: IdentityOptions

        @Flag(name: .long, help: "Print only a minisign public key file.")
        var minisign = false

        @Flag(name: .long, help: "Print only the public identity (coffer1…), as one line.")
        var `public` = false

        @OptionGroup var output: OutputOptions

        func run() throws {
            let identity = try self.identity.load()
            let shown = ShownIdentity(identity.publicIdentity, name: identity.name)
            if minisign {
                print(String(decoding: identity.publicIdentity.minisignKey.fileContents, as: UTF8.self), terminator: "")
            } else if `public` {
                TextOutput.line(shown.identity)
            } else if output.json {
                try JSONOutput.print(shown)
            } else {
                shown.printText()
            }
        }
    }
}

/// What `identity new` and `identity show` print.
struct ShownIdentity: Encodable {
    let name: String
    let fingerprint: String
    /// The public identity string, version 2 (with the X-Wing key).
    let identity: String
    /// The version-1 string (no X-Wing key) that earlier Coffer versions print and still accept.
    let classicIdentity: String
    let age: String
    let minisign: String
    let minisignKeyID: String

    init(_ p: PublicIdentity, name: String) {
        self.name = name
        fingerprint = p.fingerprint
        identity = p.description
        classicIdentity = p.classicDescription
        age = p.ageRecipient
        minisign = p.minisignPublicKey
        // As minisign prints it: the little-endian 64-bit number in upper-case hex.
        minisignKeyID = p.minisignKey.keyID.description
    }

    func printText() {
        TextOutput.line("name:        \(name)")
        TextOutput.line("fingerprint: \(fingerprint)")
        TextOutput.line("age:         \(age)")
        TextOutput.line("minisign:    \(minisign)")
        // Last and on a line of its own: 2,165 characters to copy whole.
        TextOutput.line("identity (post-quantum, \(identity.count) characters; send it whole, compare the fingerprint):")
        TextOutput.line(identity)
    }
}

/// The login name, for default identity names.
enum FileSystemName {
    static var user: String { ProcessInfo.processInfo.environment["USER"] ?? "coffer-user" }
}

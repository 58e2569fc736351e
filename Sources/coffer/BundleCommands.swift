import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer partner`.
    struct PartnerCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "partner", abstract: "Keep external partners' public keys (administrators).",
            subcommands: [Add.self, List.self])

        /// `coffer partner add`.
        struct Add: ParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Record a partner's age recipient and, optionally, minisign key.",
                discussion: """
                    Examples:
                      coffer partner add acme age1… --minisign-key RWS…
                    """)

            @Argument(help: "The partner's name, used with bundle create --to.")
            var name: String

            @Argument(help: ArgumentHelp("The partner's age1… or post-quantum age1pq1… recipient (or coffer1… public identity).", valueName: "recipient"))
            var recipient: String

            @Option(name: .long, help: ArgumentHelp("The partner's minisign public key (its RW… line).", valueName: "key"))
            var minisignKey: String?

            @OptionGroup var vault: VaultOptions

            func run() throws {
                try vault.openVault().addPartner(name: name, recipient: recipient, minisignKey: minisignKey)
            }
        }

        /// `coffer partner list`.
        struct List: ParsableCommand {
            static let configuration = CommandConfiguration(commandName: "list", abstract: "List partners.",
                discussion: """
                    Examples:
                      coffer partner list
                    """)

            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                let partners = try vault.openVault().partners
                if output.json { return try JSONOutput.print(partners) }
                for p in partners { TextOutput.line("\(p.name)  \(p.recipient)\(p.minisignKey.map { "  minisign \($0)" } ?? "")") }
            }
        }
    }

    /// `coffer bundle`.
    struct BundleCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "bundle", abstract: "Transfer bundles for partners: age files holding a tar, checksums and a signed manifest.",
            discussion: "See docs/BUNDLES.md for opening them with stock age, tar, sha256sum and minisign.",
            subcommands: [Create.self, Open.self, Inspect.self, Trace.self])
    }
}

extension Coffer.BundleCommand {
    /// `coffer bundle create`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write documents into a bundle for partners, signed by you and recorded in the ledger.",
            discussion: """
                Examples:
                  coffer bundle create reports/q3.pdf --to acme -o q3-acme.bundle --expires 30d
                """)

        @Argument(help: ArgumentHelp("Documents (id, id prefix or exact name).", valueName: "doc"))
        var documents: [String]

        @Option(name: .long, help: ArgumentHelp("A partner name or an age1…/age1pq1… recipient (repeatable; post-quantum and classic are never mixed).", valueName: "partner"))
        var to: [String] = []

        @Flag(name: .long, help: "Encrypt to a passphrase instead (read from a terminal, --bundle-passphrase-file, or COFFER_BUNDLE_PASSPHRASE).")
        var passphrase = false

        @Option(name: .long, help: ArgumentHelp("With --passphrase, read it from the first line of this file.", valueName: "file"))
        var bundlePassphraseFile: String?

        @Option(name: .long, help: ArgumentHelp("Validity, e.g. 30d, 12h, 2w, or an RFC 3339 date.", valueName: "duration"))
        var expires: String?

        @Option(name: .long, help: "A note for the recipients (in the manifest and the ledger).")
        var note: String?

        @Flag(name: [.customShort("a"), .long], help: "Write ASCII armor.")
        var armor = false

        @Flag(name: .long, help: "Approve exporting documents above the vault's export limit (administrators).")
        var approve = false

        @Option(name: .shortAndLong, help: ArgumentHelp("The bundle file to write.", valueName: "file"))
        var output: String

        @Flag(name: .long, help: "Replace an existing output file.")
        var force = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var json: OutputOptions

        func validate() throws {
            if passphrase, !to.isEmpty { throw ValidationError("--passphrase cannot be combined with --to") }
            if !passphrase, to.isEmpty { throw ValidationError("give --to PARTNER (or an age1… recipient), or --passphrase") }
        }

        func run() throws {
            var request = BundleRequest(documents: documents, recipients: to, output: .file(path: output, overwrite: force))
            request.expires = try expires.map(ExpiryParser.parse)
            request.note = note
            request.armored = armor
            request.approve = approve
            let opened = try vault.openVault()
            if passphrase { request.passphrase = try BundlePassphrase.read(file: bundlePassphraseFile, confirm: true) }
            let manifest = try opened.createBundle(request)
            if json.json { return try JSONOutput.print(manifest) }
            TextOutput.line("bundle \(manifest.bundle) → \(output)")
            for file in manifest.files { TextOutput.line("  \(file.sha256)  \(formatSize(file.size).leftPadded(10))  \(file.name)") }
            TextOutput.line("recipients: \(manifest.recipients.joined(separator: ", "))\(manifest.expires.map { "; expires \($0)" } ?? "")")
        }
    }

    /// `coffer bundle open`.
    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt a bundle into a new folder, only if its signature, hashes and expiry check.",
            discussion: """
                Examples:
                  coffer bundle open q3-acme.bundle --from sender.pub -o received
                """)

        @Argument(help: ArgumentHelp("The bundle file.", valueName: "file"))
        var bundle: String

        @Option(name: .long, help: ArgumentHelp(
            "The sender's minisign public key: a .pub file, its RW… line, a coffer1… identity, or the name of a partner of the vault (--vault) added with --minisign-key.",
            valueName: "key"))
        var from: String

        @Option(name: .long, help: ArgumentHelp("The vault whose partner --from names (default: $COFFER_VAULT); opened with your Coffer identity.", valueName: "dir"))
        var vault: String?

        @Option(name: .shortAndLong, help: ArgumentHelp("The folder to create.", valueName: "dir"))
        var output: String

        @Flag(name: .long, help: "Open even if the bundle has expired.")
        var allowExpired = false

        @OptionGroup var keys: AgeIdentityOptions
        @OptionGroup var json: OutputOptions

        /// `--from` as a key file, a key, or a partner's recorded key.
        func senderKey() throws -> MinisignPublicKey {
            if FileManager.default.fileExists(atPath: from) {
                return try MinisignPublicKey(fileContents: try FileSystem.readSmallFile(from, limit: 64 * 1024))
            }
            do {
                return try MinisignPublicKey(base64OrPublicIdentity: from)
            } catch {
                guard let path = VaultPathOptions.chosen(explicit: vault) else { throw error }  // no vault: it was meant as a key
                let identity = try IdentityLoader.load(path: IdentityLoader.path(explicit: nil), passphraseFile: keys.passphraseFile)
                return try Vault.open(at: path, identity: identity, stateDirectory: .standard).signingKey(ofPartner: from)
            }
        }

        func run() throws {
            let manifest = try BundleOpener.open(
                bundle, identities: try keys.identities(), sender: try senderKey(), destination: output, allowExpired: allowExpired)
            if json.json { return try JSONOutput.print(manifest) }
            TextOutput.line("bundle \(manifest.bundle) from \(manifest.sender.name), created \(manifest.created): signature, \(manifest.files.count) file hashes and expiry check")
            for file in manifest.files { TextOutput.line("  \(formatSize(file.size).leftPadded(10))  \(file.name)") }
        }
    }

    /// `coffer bundle inspect`.
    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show what a bundle reveals without a key.",
            discussion: """
                Examples:
                  coffer bundle inspect q3-acme.bundle
                """)

        @Argument(help: ArgumentHelp("The bundle file.", valueName: "file"))
        var bundle: String

        @OptionGroup var json: OutputOptions

        func run() throws {
            let inspection = try BundleOpener.inspect(bundle)
            if json.json { return try JSONOutput.print(inspection) }
            TextOutput.line("age file, \(inspection.armored ? "armored" : "binary"), \(formatSize(inspection.size))")
            TextOutput.line("recipients: \(inspection.recipients.joined(separator: ", ")) (contents, names and sender are encrypted)")
        }
    }

    /// `coffer bundle trace`.
    struct Trace: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Which bundles, sent to whom and when, held this file (or this SHA-256).",
            discussion: """
                Examples:
                  coffer bundle trace leaked.pdf
                """)

        @Argument(help: ArgumentHelp("A file, or a SHA-256 in hex.", valueName: "file-or-sha256"))
        var subject: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var json: OutputOptions

        func run() throws {
            let isHash = subject.count == 64 && subject.allSatisfy(\.isHexDigit) && !FileManager.default.fileExists(atPath: subject)
            let sha256 = isHash ? subject.lowercased() : try FileDigest.sha256(of: .file(path: subject))
            let opened = try vault.openVault()
            let traces = try opened.traceBundles(sha256: sha256)
            if opened.untraceableBundles > 0 {
                ExitStatus.printNote("\(opened.untraceableBundles) bundle(s) have sealed details that only an administrator can search")
            }
            if json.json { return try JSONOutput.print(traces) }
            if traces.isEmpty { TextOutput.line("no bundle held a file with SHA-256 \(sha256)") }
            for t in traces {
                TextOutput.line("\(t.sent)  bundle \(t.bundle)  \(t.name)  from \(t.senderName.isEmpty ? t.sender : t.senderName)  to \(t.recipients.joined(separator: ", "))")
            }
        }
    }
}

/// `--expires`: a duration from now (`30d`, `12h`, `2w`, `90m`) or an RFC 3339 date.
enum ExpiryParser {
    static func parse(_ text: String) throws -> Date {
        if let date = Timestamp.parse(text) { return date }
        guard let seconds = DurationParser.seconds(text), seconds > 0 else {
            throw ValidationError("--expires takes a duration like 30d, 12h or 2w, or an RFC 3339 date")
        }
        return Date().addingTimeInterval(seconds)
    }
}

/// The passphrase of a passphrase bundle: its own file and variable, so it
/// never mixes with the identity's passphrase.
enum BundlePassphrase {
    static func read(file: String?, confirm: Bool) throws -> SecureBytes {
        if file == nil, let env = ProcessInfo.processInfo.environment["COFFER_BUNDLE_PASSPHRASE"], !env.isEmpty {
            unsetenv("COFFER_BUNDLE_PASSPHRASE")
            return SecureBytes.copying(Array(env.utf8))
        }
        do {
            return try Passphrase.read(file: file, prompt: "Bundle passphrase: ", confirm: confirm, path: "", allowEnvironment: false)
        } catch IdentityError.passphraseRequired {
            throw BundleError.invalidRequest("--passphrase needs a passphrase: run in a terminal, or pass --bundle-passphrase-file FILE, or set COFFER_BUNDLE_PASSPHRASE")
        }
    }
}

import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer recovery`.
    struct RecoveryCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "recovery", abstract: "Break-glass recovery: losing every administrator identity must not lose the vault.",
            discussion: "See docs/ROTATION.md, \"Break-glass recovery\".",
            subcommands: [Setup.self, Use.self])
    }
}

extension Coffer.RecoveryCommand {
    /// `coffer recovery setup`.
    struct Setup: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a recovery administrator whose seed is split into Shamir shares, one file per officer (administrators).",
            discussion: """
                Any THRESHOLD of the SHARES files rebuild the recovery identity; fewer reveal nothing. With one --to per share, share N is age-encrypted to the Nth recipient (the stock `age -d` opens it).

                Examples:
                  coffer recovery setup --shares 5 --threshold 3 --out /media/usb/recovery
                  coffer recovery setup --shares 3 --threshold 2 --out shares --to age1… --to age1… --to age1…
                """)

        @Option(name: .long, help: "How many shares (2 to 255).")
        var shares: Int

        @Option(name: .long, help: "How many shares rebuild the identity (2 to --shares).")
        var threshold: Int

        @Option(name: [.short, .long], help: ArgumentHelp("A new directory for the share files.", valueName: "dir"))
        var out: String

        @Option(name: .long, help: ArgumentHelp("An officer's age recipient (age1…), once per share, in order.", valueName: "recipient"))
        var to: [String] = []

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let setup = try vault.openVault().setUpRecovery(shares: shares, threshold: threshold, into: out, officers: to)
            if output.json { return try JSONOutput.print(setup) }
            TextOutput.line("recovery administrator \(setup.recovery): any \(setup.threshold) of these \(setup.files.count) shares rebuild it")
            for file in setup.files { TextOutput.line("  \(file)") }
        }
    }

    /// `coffer recovery use`.
    struct Use: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild the recovery identity from enough shares and add a new administrator with it.",
            discussion: """
                Give the plaintext share files (an officer decrypts an encrypted one with `age -d`). Damaged shares are named and left out while enough intact ones remain.

                Examples:
                  coffer recovery use share-1-of-5.txt share-3-of-5.txt share-4-of-5.txt --add-admin coffer1q… --name dana
                """)

        @Argument(help: ArgumentHelp("Share files (plaintext).", valueName: "share"))
        var shares: [String]

        @Option(name: .long, help: ArgumentHelp("The new administrator's public identity.", valueName: "coffer1…"))
        var addAdmin: String

        @Option(name: .long, help: "The new administrator's name in this vault.")
        var name: String?

        @OptionGroup var vault: VaultPathOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let identity = try PublicIdentity(addAdmin)
            var files = try shares.map { try FileSystem.readSmallFile($0, limit: RecoveryShare.maximumFileSize + 1) }
            defer { for index in files.indices { Sodium.wipe(&files[index]) } }
            let used = try Vault.recover(vaultAt: try vault.vaultPath(), shareFiles: files, addingAdministrator: identity, name: name)
            if output.json { return try JSONOutput.print(used) }
            for reason in used.damaged { ExitStatus.printNote("left out \(reason)") }
            TextOutput.line("recovery administrator \(used.recovery) (shares \(used.sharesUsed.map(String.init).joined(separator: ", "))) added administrator \(used.added)")
            TextOutput.line("the shares have been used: run `coffer recovery setup` again as the new administrator, and `coffer revoke \(used.recovery)`")
        }
    }
}

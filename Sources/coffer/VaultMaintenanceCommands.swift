import ArgumentParser
import CofferKit

extension Coffer {
    /// `coffer vault`.
    struct VaultCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vault", abstract: "Maintain the vault itself: upgrade its format in place.",
            subcommands: [Upgrade.self])
    }
}

extension Coffer.VaultCommand {
    /// `coffer vault upgrade`.
    struct Upgrade: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Upgrade the vault's catalog in place to this Coffer's schema (administrators; recorded as vault.upgrade).",
            discussion: """
                One transaction: a kill leaves the vault as it was or wholly upgraded; running it again does nothing. Older Coffer releases cannot open the upgraded vault.

                Examples:
                  coffer vault upgrade --vault /srv/vault
                """)

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let opened = try Vault.open(at: try vault.vaultPath(), identity: try vault.loadIdentity(), stateDirectory: .standard)
            let upgrade = try opened.upgrade()
            if output.json { return try JSONOutput.print(upgrade) }
            if let entry = upgrade.entry {
                TextOutput.line("upgraded the catalog from schema \(upgrade.fromSchema) to \(upgrade.toSchema) (ledger entry \(entry))")
            } else {
                TextOutput.line("the catalog is at schema \(upgrade.toSchema) already; nothing to do")
            }
        }
    }
}

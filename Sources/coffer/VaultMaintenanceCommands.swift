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
            abstract: "Upgrade the vault in place to this Coffer's format (administrators; recorded in the ledger).",
            discussion: """
                First the catalog goes to this Coffer's schema in one transaction with a vault.upgrade entry. Then every document whose objects are named by BLAKE2b (vaults made before schema 4) is re-keyed as `coffer rotate doc` does: its content is re-encrypted under a fresh data key into objects named by SHA-256, which `sha256sum` checks; `coffer gc` then removes the old objects. A kill at any moment leaves a consistent vault, and running it again continues where it stopped; when nothing is left it does nothing. Older Coffer releases cannot open the upgraded vault.

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
            } else if upgrade.rekeyed == 0 {
                TextOutput.line("the vault is at schema \(upgrade.toSchema) already; nothing to do")
            }
            if upgrade.rekeyed > 0 {
                TextOutput.line("re-keyed \(upgrade.rekeyed) documents into SHA-256-named objects; `coffer gc` removes the old ones")
            }
        }
    }
}

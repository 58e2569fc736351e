import ArgumentParser
import CofferKit

extension Coffer {
    /// `coffer state`.
    struct StateCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "state", abstract: "What your identity remembers about vaults (the state directory).",
            subcommands: [Reset.self])
    }
}

extension Coffer.StateCommand {
    /// `coffer state reset`.
    struct Reset: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Trust a vault as it is now: forget the ledger head your identity remembered for it, after its whole ledger verifies.",
            discussion: """
                For a record that forked on a copy (a restore drill), or a rollback you made on purpose. Changes only your files in the state directory; never use it on a vault rolled back behind your back.

                Examples:
                  coffer state reset --vault /srv/vault
                """)

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let path = try vault.vaultPath()
            let reset = try Vault.resetState(at: path, identity: try vault.loadIdentity(), stateDirectory: StateLocation.standardDirectory)
            if output.json { return try JSONOutput.print(reset) }
            if let sequence = reset.forgottenSequence {
                TextOutput.line("forgot ledger entry \(sequence)\(reset.forgottenSeenAt.map { " (seen at \($0))" } ?? "") remembered for vault \(reset.vault)")
            } else {
                TextOutput.line("nothing was remembered for vault \(reset.vault)")
            }
            TextOutput.line("now trusting \(path): \(reset.entries) ledger entries, head \(reset.head)")
        }
    }
}

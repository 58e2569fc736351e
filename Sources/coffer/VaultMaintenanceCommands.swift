import ArgumentParser
import CofferKit

extension Coffer {
    /// `coffer vault`.
    struct VaultCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vault", abstract: "Maintain the vault itself: upgrade its format in place, copy it to another backend.",
            subcommands: [Upgrade.self, Copy.self])
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

extension Coffer.VaultCommand {
    /// `coffer vault copy`.
    struct Copy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a vault to a new directory, on this machine or to a shared backend (PostgreSQL and S3), verified end to end; run again to resume.",
            discussion: """
                The copy is the same vault (same id, same signed ledger rows) with every object its documents' current versions reference. No key is needed: the source's ledger is verified as it is read, every object is re-hashed, and the copy is verified end to end before its descriptor is written, last. A copy that was interrupted is finished by running the same command again. The source is left as it is: use one of the two afterwards (each identity reports a fork if both are changed).

                Examples:
                  coffer vault copy --from ~/vault --to ~/team --catalog postgresql://coffer@db.example/vaults --objects s3://team-vault/coffer
                  coffer vault copy --from ~/team --to /srv/vault-local
                """)

        @Option(name: .long, help: ArgumentHelp("The vault to copy (local or shared).", valueName: "dir"))
        var from: String

        @Option(name: .long, help: ArgumentHelp("The new directory (or the one an interrupted copy left).", valueName: "dir"))
        var to: String

        @OptionGroup var shared: SharedStorageOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var progressOptions: ProgressOptions

        func run() throws {
            let report = try progressOptions.showing { try Vault.copy(from: from, to: to, storage: shared.storage, progress: $0) }
            if output.json { return try JSONOutput.print(report) }
            TextOutput.line("copied vault \(report.id) to \(to)\(report.storage.map { " (ledger in \($0.catalog), objects in \($0.objects))" } ?? "")")
            TextOutput.line("ledger: \(report.entries) entries (\(report.entriesCopied) copied now); objects: \(report.objects) referenced (\(report.objectsCopied) copied now, \(formatSize(report.bytesCopied)))")
            TextOutput.line("verified end to end; the source is unchanged: use one of the two from now on")
        }
    }
}

import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer backup`.
    struct BackupCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "backup", abstract: "Incremental, signed, keyless-verifiable backups to a directory; restore.",
            discussion: "See docs/BACKUPS.md for scheduling (systemd timer, cron) and alerting.",
            subcommands: [Create.self, Verify.self, List.self, Restore.self, Adopt.self, Prune.self])
    }
}

extension Coffer.BackupCommand {
    /// `coffer backup create`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy the objects DEST lacks, a consistent catalog snapshot and a manifest you sign; safe while the vault is in use.",
            discussion: """
                Examples:
                  coffer backup create /mnt/backup/vault
                """)

        @Argument(help: ArgumentHelp("The backup directory (created if needed).", valueName: "dest"))
        var destination: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var progressOptions: ProgressOptions

        func run() throws {
            let vault = try self.vault.openVault()
            let progress = progressOptions.start()
            vault.progress = progress
            let report: BackupReport
            do {
                defer { progress?.finish() }  // erased before the report, or the error
                report = try vault.backup(to: destination)
            }
            if output.json { return try JSONOutput.print(report) }
            TextOutput.line("snapshot \(report.snapshot.id): \(report.snapshot.entries) ledger entries, \(report.snapshot.objects) objects (\(formatSize(report.snapshot.objectBytes)))")
            TextOutput.line(String(format: "copied %d new objects (%@) in %.2f s", report.objectsCopied, formatSize(report.bytesCopied), report.seconds))
        }
    }

    /// `coffer backup verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a snapshot without keys: manifest signature, catalog, ledger, every object; --deep also decrypts with your identity.",
            discussion: """
                Examples:
                  coffer backup verify /mnt/backup/vault
                  coffer backup verify /mnt/backup/vault --deep
                """)

        @Argument(help: ArgumentHelp("The backup directory.", valueName: "dest"))
        var destination: String

        @Option(name: .long, help: ArgumentHelp("The snapshot (default: the newest).", valueName: "id"))
        var at: String?

        @Flag(name: .long, help: "Also decrypt every document your identity can read.")
        var deep = false

        @OptionGroup var identity: IdentityOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let (manifest, report) = try BackupStore.verify(destination, snapshot: at, identity: deep ? try identity.load() : nil, deep: deep)
            if output.json {
                try JSONOutput.print(BackupVerification(snapshot: manifest, report: report))
            } else {
                TextOutput.line("snapshot \(manifest.id) of vault \(manifest.vault), signed by \(manifest.operatorIdentity.prefix(24))…")
                VerifyOutput.print(report)
            }
            if !report.isClean { throw ExitCode(ExitStatus.code(for: .integrity)) }
        }

        struct BackupVerification: Encodable {
            let snapshot: BackupManifest
            let report: VerificationReport
        }
    }

    /// `coffer backup list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the complete snapshots in a backup directory, oldest first.",
            discussion: """
                Examples:
                  coffer backup list /mnt/backup/vault
                """)

        @Argument(help: ArgumentHelp("The backup directory.", valueName: "dest"))
        var destination: String

        @OptionGroup var output: OutputOptions

        func run() throws {
            let snapshots = try BackupStore.list(destination)
            guard !snapshots.isEmpty else {
                throw BackupError.noSnapshot(
                    "\(destination) holds no complete snapshot (a snapshot folder without manifest.json is an interrupted backup and is ignored); run `coffer backup create \(destination)`")
            }
            if output.json { return try JSONOutput.print(snapshots) }
            for s in snapshots { TextOutput.line("\(s.id)  \(s.created)  \(String(s.entries).leftPadded(8)) entries  \(String(s.objects).leftPadded(8)) objects  \(formatSize(s.objectBytes))") }
        }
    }

    /// `coffer backup restore`.
    struct Restore: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a snapshot and restore it into a new, read-only vault directory.",
            discussion: """
                The manifest signature, the catalog hash, the ledger and its entry count and head, and every object are checked on the bytes restored; exit 5 leaves nothing behind. The restored vault is read-only until `coffer backup adopt`.

                Examples:
                  coffer backup restore /mnt/backup/vault -o /tmp/restored
                """)

        @Argument(help: ArgumentHelp("The backup directory.", valueName: "dest"))
        var destination: String

        @Option(
            name: [.customShort("o"), .customLong("output"), .customLong("to")],
            help: ArgumentHelp("The new vault directory (must not exist, or be empty). --to is the older spelling.", valueName: "dir"))
        var to: String

        @Option(name: .long, help: ArgumentHelp("The snapshot (default: the newest).", valueName: "id"))
        var at: String?

        @OptionGroup var output: OutputOptions
        @OptionGroup var progressOptions: ProgressOptions

        func run() throws {
            let manifest = try progressOptions.showing { try BackupStore.restore(destination, snapshot: at, to: to, progress: $0) }
            if output.json { return try JSONOutput.print(manifest) }
            TextOutput.line("restored snapshot \(manifest.id) (\(manifest.entries) ledger entries, \(manifest.objects) objects) to \(to)")
            TextOutput.line("it is read-only: check it with `coffer verify --deep --vault \(to)`; to work in it, `coffer backup adopt --vault \(to)`")
        }
    }

    /// `coffer backup adopt`.
    struct Adopt: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make a restored vault the one you work in (administrators; recorded as vault.adopt).",
            discussion: """
                Until adopted, a restored vault is read-only and leaves your record of the live vault alone, so a restore drill cannot fork it.

                Examples:
                  coffer backup adopt --vault /srv/vault-restored
                """)

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let path = try vault.vaultPath()
            let report = try Vault.adopt(at: path, identity: try vault.loadIdentity(), stateDirectory: .standard)
            if output.json { return try JSONOutput.print(report) }
            TextOutput.line("adopted \(path), restored from snapshot \(report.snapshot): \(report.entries) ledger entries")
        }
    }

    /// `coffer backup prune`.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Keep the newest snapshots; delete older ones and every object no kept snapshot references.",
            discussion: """
                Waits for backups in progress to finish; no key needed. With --plan, only reports.

                Examples:
                  coffer backup prune /mnt/backup/vault --keep 14 --plan
                """)

        @Argument(help: ArgumentHelp("The backup directory.", valueName: "dest"))
        var destination: String

        @Option(name: .long, help: ArgumentHelp("How many of the newest complete snapshots to keep (at least 1).", valueName: "n"))
        var keep: Int

        @Flag(name: .long, help: "Print what would be deleted; delete nothing.")
        var plan = false

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard keep >= 1 else { throw ValidationError("--keep must be at least 1") }
        }

        func run() throws {
            let report = try BackupStore.prune(destination, keep: keep, plan: plan)
            if output.json { return try JSONOutput.print(report) }
            let verb = plan ? "would remove" : "removed"
            TextOutput.line("kept \(report.kept.count) snapshots (\(report.objectsKept) objects); \(verb) \(report.removed.count) snapshots, \(report.interruptedRemoved) interrupted")
            for id in report.removed { TextOutput.line("  \(id)") }
            TextOutput.line("\(verb) \(report.objectsRemoved) objects (\(formatSize(report.bytesFreed))) and \(report.temporaryFilesRemoved) temporary files")
        }
    }
}

import ArgumentParser
import CPlatform
import CofferKit
#if canImport(Glibc)
import Glibc
#endif

/// The `coffer` command: configuration only; each group lives in its own file.
@main
struct Coffer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coffer",
        abstract: "An encrypted document vault: seal, share, rotate, audit.",
        discussion: "Exit codes: 0 ok, 1 failure, 2 usage, 3 wrong passphrase or identity, 4 access denied, 5 integrity failure, 6 not found, 7 would overwrite, 8 I/O error, 9 changed concurrently. See docs/CLI.md.",
        version: "\(Coffer.version) (commit \(String(cString: coffer_build_commit())), libsodium \(Sodium.libraryVersion))",
        subcommands: [
            IdentityCommand.self, Unlock.self, Lock.self, AgentServe.self, Init.self, Attach.self, Seal.self, Open.self, Edit.self, History.self, List.self, Verify.self,
            RoleCommand.self, AdminCommand.self, Share.self, Unshare.self, Relabel.self, Access.self, Delete.self, Hold.self, Release.self, Retention.self, Rotate.self, Revoke.self, Collect.self, AuditCommand.self, BackupCommand.self, StateCommand.self, VaultCommand.self, Doctor.self, RecoveryCommand.self,
            AgeCommand.self, Sign.self, VerifySignature.self, PartnerCommand.self, BundleCommand.self,
        ]
    )

    /// The release version: what `--version` prints first, and the Debian package's version.
    static let version = "0.1.0"

    /// Parses, runs, and maps every error to its documented exit code.
    static func main() {
        ProcessHardening.apply()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            Glibc.exit(ExitStatus.report(error))
        }
    }
}

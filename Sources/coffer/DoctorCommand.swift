import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer doctor`.
    struct Doctor: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check your set-up (identity file, state directory, vault, libsodium, clock) and say what to fix.",
            discussion: """
                Reads only, asks for no passphrase and changes nothing. Each line is ok, warning (works, but weaker \
                than it should be) or problem, with what to do. Exit 0 when nothing is a problem, 1 otherwise.

                Examples:
                  coffer doctor
                  coffer doctor --vault /srv/vault --json
                """)

        @OptionGroup var vault: VaultPathOptions

        @Option(name: .long, help: ArgumentHelp("Identity file (default: $COFFER_IDENTITY, else $XDG_CONFIG_HOME/coffer/identity or ~/.config/coffer/identity).", valueName: "file"))
        var identity: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = CofferKit.Doctor.examine(
                identityFile: IdentityLoader.path(explicit: identity), stateDirectory: StateLocation.standardDirectory,
                vault: vault.chosen)
            if output.json {
                try JSONOutput.print(report)
            } else {
                for check in report.checks {
                    TextOutput.line("\(check.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0))\(check.subject): \(check.detail)")
                    if let fix = check.fix { TextOutput.line("        fix: \(fix)") }
                }
            }
            if report.hasProblems { throw ExitCode(ExitStatus.code(for: .general)) }
        }
    }
}

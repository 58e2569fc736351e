import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer rotate`.
    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rotate a role's key (rewrap only) or re-key documents (re-encrypt); --due rotates every role its key-age policy says is due.",
            discussion: """
                Interrupted rotations are finished by running the same command again. See docs/ROTATION.md.

                Examples:
                  coffer rotate --due --plan
                  coffer rotate --due --json
                """,
            subcommands: [RoleKey.self, Document.self, Due.self])

        @Flag(name: .long, help: "Rotate every role whose key is older than its key-age policy allows (`coffer rotate due`), admin first; the plan is printed first.")
        var due = false

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard due else { throw CleanExit.helpRequest(self) }
            let vault = try self.vault.openVault()
            let planned = try vault.rotateDueRoles(plan: true)
            if plan.plan || planned.roles.isEmpty { return try RotationOutput.print(planned, naming: vault, json: output.json) }
            if !output.json { try RotationOutput.print(planned, naming: vault, json: false) }
            try RotationOutput.print(try vault.rotateDueRoles(plan: false), naming: vault, json: output.json)
        }

        /// `coffer rotate due`.
        struct Due: ParsableCommand {
            /// A span for people: whole days, else hours, else minutes.
            static func span(_ seconds: Int64) -> String {
                seconds >= 86_400 ? "\(seconds / 86_400)d" : seconds >= 3_600 ? "\(seconds / 3_600)h" : "\(seconds / 60)m"
            }

            static let configuration = CommandConfiguration(
                abstract: "List the roles whose key is older than their key-age policy allows (`coffer role policy`).",
                discussion: """
                    Examples:
                      coffer rotate due
                      coffer rotate due --json
                    """)

            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                let vault = try self.vault.openVault()
                let due = vault.rotationsDue()
                if output.json { return try JSONOutput.print(due) }
                if due.isEmpty { TextOutput.line("no role is due for rotation") }
                for role in due {
                    TextOutput.line(
                        "\(vault.displayName(ofRole: role.role).rightPadded(16))  key v\(role.keyVersion) issued \(role.issued), \(Self.span(role.ageSeconds)) old; \(role.policy) allows \(Self.span(role.maxKeyAgeSeconds))")
                }
            }
        }

        /// `coffer rotate role`.
        struct RoleKey: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "role",
                abstract: "New key version for a role: data keys rewrapped, old versions destroyed, no content touched.",
                discussion: """
                    --classic-only rotates every role whose key a future quantum computer
                    could recover from a recorded copy of the vault (see `coffer audit report`).

                    Examples:
                      coffer rotate role finance --plan
                      coffer rotate role finance
                      coffer rotate role --classic-only
                    """)

            @Argument(help: "The role (omitted with --classic-only).")
            var role: String?

            @Flag(name: .long, help: "Rotate every role that still has a classic-only key version, admin first.")
            var classicOnly = false

            @OptionGroup var plan: PlanOptions
            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func validate() throws {
                guard (role == nil) == classicOnly else { throw ValidationError("give either a role or --classic-only") }
            }

            func run() throws {
                let vault = try self.vault.openVault()
                let report = try role.map { try vault.rotateRole(named: $0, plan: plan.plan) } ?? vault.rotateClassicOnlyRoles(plan: plan.plan)
                try RotationOutput.print(report, naming: vault, json: output.json)
            }
        }

        /// `coffer rotate doc`.
        struct Document: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "doc",
                abstract: "Re-key documents: new data keys, content re-encrypted, every role's access kept.",
                discussion: """
                    Examples:
                      coffer rotate doc reports/q3.pdf
                      coffer rotate doc --documents-from ids.txt --plan
                    """)

            @OptionGroup var documents: DocumentArguments

            @OptionGroup var plan: PlanOptions
            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                let vault = try self.vault.openVault()
                try RotationOutput.print(try vault.rekey(try documents.all(), plan: plan.plan), naming: vault, json: output.json)
            }
        }
    }

    /// `coffer revoke`.
    struct Revoke: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a person from every role and from admin, and rotate every role they held.",
            discussion: """
                With --rekey, every document they could read is also re-encrypted. Running it again finishes an interrupted revocation.

                Examples:
                  coffer revoke bob --plan
                  coffer revoke bob --rekey
                """)

        @OptionGroup var member: MemberArgument

        @Flag(name: .long, help: "Also re-key every document they could read.")
        var rekey = false

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            try RotationOutput.print(try vault.revoke(member.query, rekey: rekey, plan: plan.plan), naming: vault, json: output.json)
        }
    }
}

extension Coffer {
    /// `coffer gc`.
    struct Collect: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Delete objects no current document version references (after re-keys and interrupted seals); administrators.",
            discussion: """
                Objects and temporary files younger than the grace period are kept, so a seal running meanwhile never loses an object.

                Examples:
                  coffer gc --plan
                  coffer gc --grace 7d
                """)

        @Option(name: .long, help: ArgumentHelp("Keep unreferenced objects younger than this (e.g. 30m, 1h, 7d; default 1h).", valueName: "age"))
        var grace = "1h"

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            guard let seconds = DurationParser.seconds(grace) else { throw ValidationError("--grace takes a duration such as 30m, 1h or 7d") }
            let report = try vault.openVault().collectGarbage(grace: seconds, plan: plan.plan)
            if output.json { return try JSONOutput.print(report) }
            let verb = report.planned ? "would delete" : "deleted"
            TextOutput.line("\(verb) \(report.objectsRemoved) objects (\(formatSize(report.bytesFreed))) and \(report.temporaryFilesRemoved) temporary files")
            TextOutput.line("kept \(report.objectsReferenced) referenced objects and \(report.objectsKeptRecent) unreferenced ones younger than \(grace)")
        }
    }
}

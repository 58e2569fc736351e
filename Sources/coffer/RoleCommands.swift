import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer role`.
    struct RoleCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "role", abstract: "Create roles and change their members (administrators); list and show them.",
            discussion: "Removing a member rotates the role in the same command. See docs/ROTATION.md.",
            subcommands: [Create.self, Add.self, Remove.self, List.self, Show.self, Policy.self, Retire.self])
    }

    /// `coffer admin`.
    struct AdminCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "admin", abstract: "Add or remove administrators (the last one is never removable).",
            subcommands: [Add.self, Remove.self])
    }
}

/// The public identity and display name of someone joining a role or admin.
struct NewMemberOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("Their public identity (coffer1…, from `coffer identity show`).", valueName: "public-identity"))
    var publicIdentity: String

    @Option(name: .long, help: "Display name, if the identity is new to the vault (default: its fingerprint's start).")
    var name: String?

    func identity() throws -> PublicIdentity { try PublicIdentity(publicIdentity) }
}

/// An identity already in the vault, as `role remove`, `admin remove` and `revoke` name it.
struct MemberArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("Public identity, fingerprint (or 8+ digit prefix) or unique name.", valueName: "member"))
    var query: String
}

/// `--plan`: print what a rotation would change and touch nothing.
struct PlanOptions: ParsableArguments {
    @Flag(name: .long, help: "Print what would change and touch nothing.")
    var plan = false
}

extension Coffer.RoleCommand {
    /// `coffer role create`.
    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a shared role with its first key.",
            discussion: """
                Examples:
                  coffer role create finance --clearance confidential
                """)

        @Argument(help: "The role's name.")
        var name: String

        @Option(name: .long, help: ArgumentHelp("The highest label the role may read (default: internal).", valueName: "label"))
        var clearance: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try RoleOutput.print(try vault.openVault().createRole(named: name, clearance: clearance), json: output.json)
        }
    }

    /// `coffer role add`.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a member to a role and seal the role's current key to them.",
            discussion: """
                Examples:
                  coffer role add finance coffer1q… --name bob
                """)

        @Argument(help: "The role.")
        var role: String

        @OptionGroup var member: NewMemberOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try RoleOutput.print(try vault.openVault().addMember(try member.identity(), name: member.name, toRole: role), json: output.json)
        }
    }

    /// `coffer role remove`.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a member from a role, and rotate the role in the same command.",
            discussion: """
                Examples:
                  coffer role remove finance bob --plan
                  coffer role remove finance bob
                """)

        @Argument(help: "The role.")
        var role: String

        @OptionGroup var member: MemberArgument

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            try RotationOutput.print(try vault.removeMember(member.query, fromRole: role, plan: plan.plan), naming: vault, json: output.json)
        }
    }

    /// `coffer role list`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List roles: members, clearance, key version, documents.",
            discussion: """
                Examples:
                  coffer role list
                  coffer role list --all --json
                """)

        @Flag(name: .long, help: "Include every identity's personal role.")
        var all = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            let roles = vault.roleSummaries(includePersonal: all)
            if output.json { return try JSONOutput.print(roles) }
            for role in roles {
                let pending = role.olderKeyVersions.isEmpty ? "" : "  (rotation unfinished)"
                TextOutput.line("\(vault.displayName(ofRole: role.name).rightPadded(20)) \(role.kind.rawValue.rightPadded(8)) cleared for \(role.clearance.rightPadded(12)) key v\(role.keyVersion)  \(role.members.count) members  \(role.documents) documents\(pending)")
            }
        }
    }

    /// `coffer role show`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a role's members, clearance, key version and document count.",
            discussion: """
                Examples:
                  coffer role show finance
                """)

        @Argument(help: "The role.")
        var role: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try RoleOutput.print(try vault.openVault().roleSummary(named: role), json: output.json)
        }
    }
}

extension Coffer.RoleCommand {
    /// `coffer role policy`.
    struct Policy: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set how old a role's key may get, or every key that can read a label (administrators); `coffer rotate due` lists what is overdue.",
            discussion: """
                A label's policy applies to every role cleared for it (admin and personal roles included): each may hold documents of that label.

                Examples:
                  coffer role policy finance --max-key-age 90d
                  coffer role policy --label trade-secret --max-key-age 30d
                  coffer role policy finance --max-key-age none
                """)

        @Argument(help: "The role (omitted with --label).")
        var role: String?

        @Option(name: .long, help: ArgumentHelp("A label's policy instead of a role's.", valueName: "label"))
        var label: String?

        @Option(name: .long, help: ArgumentHelp("The longest a key may live: 30m, 12h, 90d, 2w; none removes the policy.", valueName: "age"))
        var maxKeyAge: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (role == nil) != (label == nil) else { throw ValidationError("give either a role or --label") }
            guard maxKeyAge == "none" || DurationParser.seconds(maxKeyAge).map({ $0 > 0 }) == true else {
                throw ValidationError("--max-key-age takes a duration such as 90d, or none")
            }
        }

        func run() throws {
            let seconds = maxKeyAge == "none" ? nil : DurationParser.seconds(maxKeyAge)
            let vault = try self.vault.openVault()
            try vault.setKeyAgePolicy(role: role, label: label, maxKeyAge: seconds)
            let subject = role.map { "role \($0)" } ?? "label \(label ?? "")"
            if output.json { return try JSONOutput.print(["subject": subject, "maxKeyAge": seconds.map { "\(Int64($0))" } ?? "none"]) }
            TextOutput.line(seconds == nil ? "\(subject): key-age policy removed" : "\(subject): keys may live \(maxKeyAge)")
        }
    }
}

extension Coffer.RoleCommand {
    /// `coffer role retire`.
    struct Retire: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Destroy a role's key versions older than its current one (administrators), refused while a document is still wrapped under them.",
            discussion: """
                `coffer rotate role` retires them itself once it has rewrapped everything; this finishes or checks that step on its own.

                Examples:
                  coffer role retire finance --plan
                """)

        @Argument(help: "The role.")
        var role: String

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().retireOlderKeys(ofRole: role, plan: plan.plan)
            if output.json { return try JSONOutput.print(report) }
            let versions = report.retired.map { "v\($0)" }.joined(separator: ", ")
            TextOutput.line(report.retired.isEmpty ? "\(report.role) has no older key version" : "\(report.role): \(report.planned ? "would destroy" : "destroyed") \(versions)")
        }
    }
}

extension Coffer.AdminCommand {
    /// `coffer admin add`.
    struct Add: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Make an identity an administrator and seal the admin key to it.",
            discussion: """
                Examples:
                  coffer admin add coffer1q… --name carol
                """)

        @OptionGroup var member: NewMemberOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            try vault.addAdministrator(try member.identity(), name: member.name)
            try RoleOutput.print(try vault.roleSummary(named: "admin"), json: output.json)
        }
    }

    /// `coffer admin remove`.
    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove an administrator and rotate the admin role.",
            discussion: """
                Examples:
                  coffer admin remove carol --plan
                """)

        @OptionGroup var member: MemberArgument

        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            try RotationOutput.print(try vault.removeAdministrator(member.query, plan: plan.plan), naming: vault, json: output.json)
        }
    }
}

/// Prints a role for people or as JSON.
enum RoleOutput {
    static func print(_ role: RoleSummary, json: Bool) throws {
        if json { return try JSONOutput.print(role) }
        TextOutput.line("role \(role.name) (\(role.kind.rawValue), id \(role.id))")
        TextOutput.line("  clearance: \(role.clearance)")
        TextOutput.line("  key version: \(role.keyVersion)\(role.olderKeyVersions.isEmpty ? "" : "; older versions \(role.olderKeyVersions.map(String.init).joined(separator: ", ")) still alive: run `coffer rotate role \(role.name)` to finish")")
        TextOutput.line("  documents: \(role.documents)")
        TextOutput.line("  members: \(role.members.isEmpty ? "none" : "")")
        for member in role.members { TextOutput.line("    \(member.name)  \(member.fingerprint)\(member.admin ? "  (administrator)" : "")") }
    }
}

/// Prints a rotation report for people or as JSON.
enum RotationOutput {
    /// Prints `report`; `vault` gives people's names for fingerprints and personal roles.
    static func print(_ report: RotationReport, naming vault: Vault, json: Bool) throws {
        if json { return try JSONOutput.print(report) }
        let verb = report.planned ? "would" : "did"
        if report.planned { TextOutput.line("plan (nothing changed):") }
        for removal in report.removed {
            TextOutput.line("  \(verb) remove \(vault.displayName(ofMember: removal.member)) from \(vault.displayName(ofRole: removal.role))")
        }
        for role in report.roles {
            var line = "  role \(vault.displayName(ofRole: role.role)): "
            line += role.newKey ? "\(verb) issue key v\(role.keyVersion)" : "key v\(role.keyVersion)"
            line += ", rewrap \(role.rewrapped) data keys"
            if role.roleKeysRewrapped > 0 { line += ", rewrap \(role.roleKeysRewrapped) role keys" }
            if !role.retired.isEmpty { line += ", destroy v\(role.retired.map(String.init).joined(separator: ", v"))" }
            TextOutput.line(line)
        }
        if !report.rekeyed.isEmpty { TextOutput.line("  \(verb) re-key \(report.rekeyed.count) documents") }
        if !report.planned { TextOutput.line(String(format: "  %.2f s", report.seconds)) }
    }
}

extension String {
    /// Pads with spaces on the right to at least `width` characters.
    func rightPadded(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}

import ArgumentParser
import CofferKit
import Foundation

extension Coffer.AuditCommand {
    /// `coffer audit document`.
    struct DocumentHistory: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "document",
            abstract: "Everything the ledger says about one document: who sealed, shared, read and exported it, through which role and key version, and who can read it now.",
            discussion: """
                Replays and verifies the whole ledger. A deleted document is named by its full id.

                Examples:
                  coffer audit document reports/q3.pdf
                  coffer audit document 432e34b8bb45438f56465db270654e15 --json
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix or exact name (a deleted one: its full id).", valueName: "doc"))
        var document: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let opened = try vault.openVault()
            let audit = try opened.auditDocument(document)
            if output.json { return try JSONOutput.print(audit) }
            TextOutput.line("\(audit.name ?? "(name not readable)") (\(audit.document)), labelled \(audit.label), owned by \(opened.displayName(ofMember: audit.owner.fingerprint))")
            if let deleted = audit.deleted { TextOutput.line("deleted at \(deleted.time) by \(deleted.actor.name) (entry \(deleted.sequence))") }
            for hold in audit.holds { TextOutput.line("under legal hold \(hold)") }
            for event in audit.events {
                var what = event.generation.map { "generation \($0)" } ?? ""
                if let role = event.role { what += (what.isEmpty ? "" : " ") + "via \(opened.displayName(ofRole: role))" + (event.keyVersion.map { " key v\($0)" } ?? "") }
                if let detail = event.detail { what += (what.isEmpty ? "" : ", ") + detail }
                TextOutput.line("\(String(event.at.sequence).leftPadded(6))  \(event.at.time)  \(IncidentText.who(event.at.actor).rightPadded(12))  \(event.action.rightPadded(16))  \(what)")
            }
            guard audit.deleted == nil else { return }
            TextOutput.line("readers now:")
            for reader in audit.readers {
                TextOutput.line("  \(IncidentText.who(reader.member).rightPadded(12))  via \(reader.via.map(opened.displayName(ofRole:)).joined(separator: ", "))")
            }
        }
    }

    /// `coffer audit person`.
    struct PersonHistory: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "person",
            abstract: "What one identity could read (each role, joined and left), read and exported, and when its access ended.",
            discussion: """
                Replays and verifies the whole ledger. --since limits the reads and exports shown, not the roles.

                Examples:
                  coffer audit person bob
                  coffer audit person 42081b9d --since 30d --json
                """)

        @Argument(help: ArgumentHelp("The identity: fingerprint, 8+ digit prefix, name or coffer1….", valueName: "id"))
        var person: String

        @Option(name: .long, help: ArgumentHelp("Reads and exports at or after this time (RFC 3339, or a duration ago such as 30d).", valueName: "time"))
        var since: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let start = try since.map { try AuditTime.parse($0, option: "--since") }
            let opened = try vault.openVault()
            let audit = try opened.auditPerson(person, since: start)
            if output.json { return try JSONOutput.print(audit) }
            TextOutput.line("\(opened.displayName(ofMember: audit.member.fingerprint))\(audit.member.admin ? ", administrator" : "")")
            if let revoked = audit.revoked { TextOutput.line("revoked at \(revoked.time) by \(revoked.actor.name) (entry \(revoked.sequence))") }
            TextOutput.line("can read \(audit.readableNow) document\(audit.readableNow == 1 ? "" : "s") now")
            TextOutput.line("roles:")
            for period in audit.memberships {
                let until = period.until.map { "until \($0.time) (\(period.ended ?? "left"), entry \($0.sequence))" } ?? "until now"
                TextOutput.line("  \(opened.displayName(ofRole: period.role).rightPadded(20))  from \(period.from.time) (entry \(period.from.sequence)) \(until)")
            }
            TextOutput.line("reads\(audit.since.map { " since \($0)" } ?? ""): \(audit.reads.count)")
            for read in audit.reads {
                TextOutput.line("\(String(read.at.sequence).leftPadded(6))  \(read.at.time)  \(read.document)  generation \(read.generation)  \(read.label)  via \(opened.displayName(ofRole: read.role))\(read.keyVersion.map { " key v\($0)" } ?? "")")
            }
            TextOutput.line("exports\(audit.since.map { " since \($0)" } ?? ""): \(audit.exports.count)")
            for export in audit.exports {
                TextOutput.line("\(String(export.at.sequence).leftPadded(6))  \(export.at.time)  bundle \(export.bundle)  \(export.documents.count) document(s) to \(export.recipients) recipient(s)\(export.expires.map { ", expires \($0)" } ?? "")")
            }
        }
    }
}

/// Shared wording of the incident reports.
enum IncidentText {
    /// A member's name, or its fingerprint's start when it has none.
    static func who(_ member: MemberSummary) -> String {
        member.name.isEmpty ? String(member.fingerprint.prefix(12)) : member.name
    }
}

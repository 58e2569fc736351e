import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer share`.
    struct Share: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Wrap documents' keys for a role (owner or administrator; the role must be cleared for each label).",
            discussion: """
                Examples:
                  coffer share reports/q3.pdf --role finance
                  coffer ls reports/ --json | jq -r '.[].id' | coffer share --documents-from - --role finance
                """)

        @OptionGroup var documents: DocumentArguments

        @Option(name: .long, help: "The role to share with.")
        var role: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().share(try documents.all(), withRole: role)
            try SharingOutput.print(report, verb: "shared with \(role)", json: output.json)
        }
    }

    /// `coffer unshare`.
    struct Unshare: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a role's access to documents and re-key them (the role's members may have kept the keys).",
            discussion: """
                Examples:
                  coffer unshare reports/q3.pdf --role finance
                """)

        @OptionGroup var documents: DocumentArguments

        @Option(name: .long, help: "The role losing access.")
        var role: String

        @Flag(name: .long, help: "Do not re-key (the ledger records that the content was not re-encrypted).")
        var noRekey = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().unshare(try documents.all(), fromRole: role, rekey: !noRekey)
            try SharingOutput.print(report, verb: "unshared from \(role)", json: output.json)
        }
    }

    /// `coffer relabel`.
    struct Relabel: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move a document to another label (administrators); roles not cleared for it lose access.",
            discussion: """
                Examples:
                  coffer relabel reports/q3.pdf secret
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix or exact name.", valueName: "doc"))
        var document: String

        @Argument(help: "The new label.")
        var label: String

        @Flag(name: .long, help: "Do not re-key when roles lose access.")
        var noRekey = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().relabel(document, to: label, rekey: !noRekey)
            try SharingOutput.print(report, verb: "relabelled \(label)", json: output.json)
        }
    }

    /// `coffer access`.
    struct Access: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show who can read a document now, and through which roles.",
            discussion: """
                Examples:
                  coffer access reports/q3.pdf
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix or exact name.", valueName: "doc"))
        var document: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault()
            let report = try vault.access(document)
            if output.json { return try JSONOutput.print(report) }
            TextOutput.line("\(report.name) (\(report.document)), labelled \(report.label), owned by \(report.owner.name), generation \(report.generation)")
            if report.rekeyPending { TextOutput.line("  a re-key is pending: run `coffer rotate doc \(report.document)`") }
            TextOutput.line("roles:")
            for role in report.roles {
                TextOutput.line("  \(vault.displayName(ofRole: role.role).rightPadded(20)) \(role.kind.rawValue.rightPadded(8)) key v\(role.keyVersion)  \(role.members.count) members")
            }
            TextOutput.line("readers:")
            for reader in report.readers {
                TextOutput.line("  \(reader.member.name.rightPadded(20)) \(reader.member.fingerprint)  via \(reader.via.map(vault.displayName(ofRole:)).joined(separator: ", "))")
            }
        }
    }
}

/// Prints a sharing report for people or as JSON.
enum SharingOutput {
    static func print(_ report: SharingReport, verb: String, json: Bool) throws {
        if json { return try JSONOutput.print(report) }
        for id in report.documents { TextOutput.line("\(id)  \(verb)") }
        for id in report.unchanged { TextOutput.line("\(id)  unchanged") }
        if !report.rekeyed.isEmpty { TextOutput.line("re-keyed \(report.rekeyed.count) documents") }
    }
}

import ArgumentParser
import CofferKit

extension Coffer {
    /// `coffer delete`.
    struct Delete: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete documents for good (their owner or an administrator): every wrap of their keys goes, in the ledger.",
            discussion: """
                Every version of each document loses its wrapped data keys in one signed document.delete entry: nobody can open, share or export it afterwards, and no new document can take its id. The next `coffer gc` (an administrator) deletes its objects; backups keep them until their snapshots are pruned. Who sealed, read and deleted it stays in the ledger. See docs/THREAT-MODEL.md, "Deletion".

                A name ending in / deletes every document under that folder. A full id of a document already deleted is reported, not refused, so a repeated run succeeds.

                Examples:
                  coffer delete reports/q3.pdf --plan
                  coffer delete reports/q3.pdf && coffer gc
                  coffer delete drafts/ --json
                """)

        @OptionGroup var documents: DocumentArguments
        @OptionGroup var plan: PlanOptions
        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let opened = try vault.openVault()
            let report = try opened.delete(try documents.all(), plan: plan.plan)
            if output.json { return try JSONOutput.print(report) }
            let verb = report.planned ? "would delete" : "deleted"
            for document in report.documents {
                let roles = document.roles.map(opened.displayName(ofRole:)).joined(separator: ", ")
                TextOutput.line(
                    "\(document.id)  \(verb)  \(document.name)  \(document.label)  \(document.versions == 1 ? "1 version" : "\(document.versions) versions"), \(document.objects) objects; wraps removed for \(roles)")
            }
            for id in report.alreadyDeleted { TextOutput.line("\(id)  already deleted") }
            if !report.planned, !report.documents.isEmpty {
                TextOutput.line("their objects are deleted by the next `coffer gc` (an administrator)")
            }
        }
    }
}

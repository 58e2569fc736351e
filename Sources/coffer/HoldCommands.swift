import ArgumentParser
import CofferKit

extension Coffer {
    /// `coffer hold`.
    struct Hold: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Place documents under a legal hold (administrators): nobody can delete them until it is released.",
            discussion: """
                One signed document.hold entry with a new hold id; the reason is sealed for the administrators (`coffer audit log --details` shows it to them).

                Examples:
                  coffer hold contracts/ --reason "Acme v. Us, case 26-1187"
                  coffer hold --documents-from ids.txt --reason "internal investigation 14" --json
                """)

        @OptionGroup var documents: DocumentArguments

        @Option(name: .long, help: ArgumentHelp("Why (a matter, a case number); sealed for the administrators.", valueName: "text"))
        var reason: String

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().hold(try documents.all(), reason: reason)
            try HoldOutput.print(report, verb: "held", json: output.json)
        }
    }

    /// `coffer release`.
    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Release documents from a legal hold (administrators); from every hold they are under unless --hold names one.",
            discussion: """
                Examples:
                  coffer release contracts/
                  coffer release contracts/nda.pdf --hold 5f0c2a9e81d24b7c93a1e0d4c6b8f712
                """)

        @OptionGroup var documents: DocumentArguments

        @Option(name: .long, help: ArgumentHelp("Only this hold (its id, as `coffer hold` printed it).", valueName: "id"))
        var hold: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try vault.openVault().release(try documents.all(), hold: hold)
            try HoldOutput.print(report, verb: "released", json: output.json)
        }
    }
}

/// The text and JSON of `hold` and `release`.
enum HoldOutput {
    static func print(_ report: HoldReport, verb: String, json: Bool) throws {
        if json { return try JSONOutput.print(report) }
        for hold in report.holds {
            TextOutput.line("hold \(hold.hold): \(verb) \(hold.documents.count) document\(hold.documents.count == 1 ? "" : "s")")
            for id in hold.documents { TextOutput.line("  \(id)") }
        }
        for id in report.unchanged { TextOutput.line("\(id)  unchanged (not under that hold)") }
    }
}

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

extension Coffer {
    /// `coffer retention`.
    struct Retention: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "How long each label's documents are kept; which are past it; delete those (administrators), legal holds kept.",
            subcommands: [SetPeriod.self, Due.self, Shred.self])

        /// `coffer retention set`.
        struct SetPeriod: ParsableCommand {
            static let configuration = CommandConfiguration(
                commandName: "set",
                abstract: "Set how long documents of a label are kept, counted from their first seal (administrators).",
                discussion: """
                    Examples:
                      coffer retention set --label internal --period 7y
                      coffer retention set --label internal --period none
                    """)

            @Option(name: .long, help: "The label.")
            var label: String

            @Option(name: .long, help: ArgumentHelp("How long: 90d, 52w, 7y; none removes the period.", valueName: "age"))
            var period: String

            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func validate() throws {
                guard period == "none" || DurationParser.seconds(period).map({ $0 > 0 }) == true else {
                    throw ValidationError("--period takes a duration such as 7y, or none")
                }
            }

            func run() throws {
                let seconds = period == "none" ? nil : DurationParser.seconds(period)
                try vault.openVault().setRetention(label: label, period: seconds)
                if output.json { return try JSONOutput.print(["label": label, "period": seconds.map { "\(Int64($0))" } ?? "none"]) }
                TextOutput.line(seconds == nil ? "label \(label): retention period removed" : "label \(label): documents are kept \(period)")
            }
        }

        /// `coffer retention due`.
        struct Due: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List the documents kept longer than their label's retention period, and the holds that keep them.",
                discussion: """
                    Examples:
                      coffer retention due --json
                    """)

            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                let due = try vault.openVault().retentionDue()
                if output.json { return try JSONOutput.print(due) }
                if due.isEmpty { TextOutput.line("no document is past its retention period") }
                for d in due {
                    let held = d.holds.isEmpty ? "" : "  held: \(d.holds.joined(separator: ", "))"
                    TextOutput.line("\(d.id)  \(d.name ?? "(name not readable)")  \(d.label)  sealed \(d.sealed), \(d.ageDays)d old, kept \(d.periodDays)d\(held)")
                }
            }
        }

        /// `coffer retention shred`.
        struct Shred: ParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Delete every document past its retention period that no legal hold keeps (administrators; see `coffer delete`).",
                discussion: """
                    Examples:
                      coffer retention shred --plan
                      coffer retention shred --json
                    """)

            @OptionGroup var plan: PlanOptions
            @OptionGroup var vault: VaultOptions
            @OptionGroup var output: OutputOptions

            func run() throws {
                let report = try vault.openVault().shredDueDocuments(plan: plan.plan)
                if output.json { return try JSONOutput.print(report) }
                let verb = report.deleted.planned ? "would delete" : "deleted"
                TextOutput.line("\(verb) \(report.deleted.documents.count) document(s) past their retention period; \(report.held.count) kept by a legal hold")
                for d in report.deleted.documents { TextOutput.line("  \(d.id)  \(d.name)  \(d.label)") }
                for d in report.held { TextOutput.line("  \(d.id)  held: \(d.holds.joined(separator: ", "))") }
            }
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

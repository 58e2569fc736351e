import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer audit`.
    struct AuditCommand: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "audit", abstract: "The signed ledger as evidence: verify it, read it, export it, check an export.",
            subcommands: [Verify.self, Log.self, Report.self, DocumentHistory.self, PersonHistory.self, Export.self, CheckExport.self])
    }
}

/// `--since`/`--until`: an RFC 3339 time, or a duration ago (`7d`, `12h`).
enum AuditTime {
    static func parse(_ text: String, option: String) throws -> Date {
        if let date = Timestamp.parse(text) { return date }
        guard let seconds = DurationParser.seconds(text) else {
            throw ValidationError("\(option) takes an RFC 3339 time (2026-11-29T08:00:00Z) or a duration ago (30m, 12h, 7d, 2w)")
        }
        return Date().addingTimeInterval(-seconds)
    }
}

/// Prints a ledger verification and fails with exit 5 if an entry did not verify.
enum AuditOutput {
    static func print(_ verification: AuditVerification, json: Bool) throws {
        if json {
            try JSONOutput.print(verification)
        } else if let failure = verification.failure {
            TextOutput.line("\(verification.entries) entries verified; entry \(failure.sequence) is bad: \(failure.reason)")
        } else {
            TextOutput.line("ledger of vault \(verification.vault): \(verification.entries) entries verified (signatures, hash links, authorisation)")
            TextOutput.line("head: \(verification.head)")
        }
        if let failure = verification.failure { throw VaultError.integrity(failure.reason) }
    }
}

extension Coffer.AuditCommand {
    /// `coffer audit verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replay the ledger from its first entry without keys: signatures, hash links, and that every actor was authorised then.",
            discussion: """
                Examples:
                  coffer audit verify --vault /srv/vault
                """)

        @OptionGroup var vault: VaultPathOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            try AuditOutput.print(try Audit.verify(vaultAt: try vault.vaultPath(), stateDirectory: .standard), json: output.json)
        }
    }

    /// `coffer audit log`.
    struct Log: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show verified ledger entries: a table, or JSON lines with --json.",
            discussion: """
                Examples:
                  coffer audit log --since 7d --action document.open
                  coffer audit log --doc 840493a299f0f387780c4737f44da5df --json
                """)

        @Option(name: .long, help: ArgumentHelp("Entries at or after this time (RFC 3339, or a duration ago such as 7d).", valueName: "time"))
        var since: String?

        @Option(name: .long, help: ArgumentHelp("Entries before this time.", valueName: "time"))
        var until: String?

        @Option(name: .long, help: ArgumentHelp("Entries by this identity (fingerprint, 8+ digit prefix, name or coffer1…).", valueName: "id"))
        var actor: String?

        @Option(name: .long, help: ArgumentHelp("Entries about this document (its full id).", valueName: "doc"))
        var doc: String?

        @Option(name: .long, help: ArgumentHelp("Entries with this action (document.open) or action group (document).", valueName: "action"))
        var action: String?

        @Flag(name: .long, help: "Also show the sealed details of bundle.create and vault.backup entries (files, recipients, note, backup path): opens the vault with your identity; only an administrator reads them.")
        var details = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let path = try vault.vaultPath()
            let reader = details ? try vault.openVault() : nil
            var filter = AuditFilter()
            filter.since = try since.map { try AuditTime.parse($0, option: "--since") }
            filter.until = try until.map { try AuditTime.parse($0, option: "--until") }
            filter.action = action
            if let doc {
                guard let id = try? DocumentID(hex: doc.lowercased()) else { throw ValidationError("--doc takes a document's full 32-digit id (see `coffer ls`)") }
                filter.document = id
            }
            filter.actor = actor
            let json = output.json
            try Audit.log(vaultAt: path, filter: filter) { record in
                // Entries appended after the vault was opened are not in its state: shown sealed.
                let revealed = try reader?.details(of: record.entry)
                if json {
                    print(try record.jsonLine(details: revealed))
                } else {
                    let c = record.entry.contents
                    let who = record.actorName.isEmpty ? String(c.actor.prefix(12)) : record.actorName
                    let shown = revealed.map { "  \($0.summary)" } ?? (record.hasSealedDetails ? "  (sealed details)" : "")
                    // Which document: its id, or how many (a share or rotation entry holds thousands).
                    let documents = record.documents
                    let subject = documents.count == 1 ? "  \(documents[0])" : documents.isEmpty ? "" : "  \(documents.count) documents"
                    TextOutput.line("\(String(record.entry.sequence).leftPadded(6))  \(Timestamp.format(c.time))  \(who.rightPadded(12))  \(c.event.action)\(subject)\(shown)")
                }
                try TextOutput.requireWritable()
            }
        }
    }

    /// `coffer audit report`.
    struct Report: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report unusual access: open rates far above an identity's usual, first access to a label, bulk exports, attempts by revoked identities, overdue rotations.",
            discussion: """
                Thresholds are the options below; docs/AUDIT.md explains each. Exits 0 whatever it finds; findings are in the output (`findings` with --json).

                Examples:
                  coffer audit report --since 30d --max-key-age 90d
                """)

        @Option(name: .long, help: ArgumentHelp("Start of the window (RFC 3339, or a duration ago; default 7d).", valueName: "time"))
        var since = "7d"

        @Option(name: .long, help: ArgumentHelp("Flag an identity opening more than this many times its usual rate (default 5).", valueName: "x"))
        var rateFactor: Double = 5

        @Option(name: .long, help: ArgumentHelp("…and at least this many documents in the window (default 20).", valueName: "n"))
        var minOpens = 20

        @Option(name: .long, help: ArgumentHelp("Flag bundles of at least this many files (default 20; also any of 1 GiB or more).", valueName: "n"))
        var bulkFiles = 20

        @Option(name: .long, help: ArgumentHelp("Flag roles whose key is older than this (e.g. 90d; default: not checked).", valueName: "age"))
        var maxKeyAge: String?

        @Flag(name: .long, help: "Read the sealed details of bundles (sizes, recipients) with your identity, as an administrator, to judge bulk exports by size too.")
        var details = false

        @Flag(name: .long, help: "Write the evidence report for counsel and auditors as one self-contained HTML file (-o), signed beside it (FILE.minisig); with --json, print its data.")
        var html = false

        @Option(name: [.short, .long], help: ArgumentHelp("With --html: the file to write.", valueName: "file"))
        var output: String?

        @Flag(name: .long, help: "With --html: replace an existing file.")
        var force = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var format: OutputOptions

        func validate() throws {
            guard html == (output != nil) else { throw ValidationError("--html writes to -o FILE, and -o needs --html") }
        }

        func run() throws {
            var policy = AuditPolicy(since: try AuditTime.parse(since, option: "--since"))
            policy.rateFactor = rateFactor
            policy.minimumOpens = minOpens
            policy.bulkFiles = bulkFiles
            if let maxKeyAge {
                guard let seconds = DurationParser.seconds(maxKeyAge) else { throw ValidationError("--max-key-age takes a duration such as 90d") }
                policy.maxKeyAge = seconds
            }
            if let output { return try writeEvidence(policy: policy, to: output) }
            let reader = details ? try vault.openVault() : nil
            let report = try Audit.report(vaultAt: try vault.vaultPath(), policy: policy) { entry in
                try reader?.details(of: entry)
            }
            if format.json { return try JSONOutput.print(report) }
            TextOutput.line("\(report.entries) entries read; window from \(Timestamp.format(policy.since)); \(report.findings.count) finding(s)")
            for f in report.findings {
                TextOutput.line("\(f.kind.rightPadded(26)) \(f.time ?? "")  \((f.actorName ?? f.actor ?? "").rightPadded(12))  \(f.detail)")
            }
            if let checks = report.objectChecks {
                let unchecked = checks.lastChecked.enumerated().filter { $0.element == nil }.map { "\($0.offset + 1)" }
                TextOutput.line(
                    "objects: " + (checks.everyObjectCheckedSince.map { "every object re-hashed since \($0)" }
                        ?? "part(s) \(unchecked.joined(separator: ", ")) of \(checks.parts) never checked")
                        + " (verify --subset …/\(checks.parts)); \(checks.checksWithFindings) check(s) found problems")
            } else {
                TextOutput.line("objects: no verify --subset was ever recorded")
            }
            printClassicOnlyKeys(report.classicOnlyKeys)
        }

        /// One line per classic-only role key version, or one saying there is none.
        private func printClassicOnlyKeys(_ keys: [ClassicOnlyKey]) {
            guard !keys.isEmpty else { return TextOutput.line("keys: every role key version is sealed post-quantum") }
            TextOutput.line("keys: \(keys.count) role key version(s) still classic-only (coffer rotate role --classic-only replaces them):")
            for key in keys {
                var reasons: [String] = []
                if key.withoutPostQuantumKey { reasons.append("no X-Wing key") }
                if !key.sealedClassicallyTo.isEmpty { reasons.append("sealed with X25519 only to \(key.sealedClassicallyTo.joined(separator: ", "))") }
                if !key.withoutKnownPostQuantumKey.isEmpty {
                    reasons.append("X-Wing key not yet published by \(key.withoutKnownPostQuantumKey.joined(separator: ", ")) (published by their next command)")
                }
                TextOutput.line("  \(key.role) v\(key.version): \(reasons.joined(separator: "; "))")
            }
        }
    }

    /// `coffer audit export`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the verified ledger, the descriptor and the public identities, signed by you, to a file that check-export verifies anywhere.",
            discussion: """
                Examples:
                  coffer audit export -o ledger-2026-12.json
                """)

        @Option(name: .shortAndLong, help: ArgumentHelp("The export file (- for standard output).", valueName: "file"))
        var output: String

        @Flag(name: .long, help: "Overwrite an existing file.")
        var force = false

        @OptionGroup var vault: VaultOptions
        @OptionGroup var json: OutputOptions

        func validate() throws {
            if output == "-", json.json { throw ValidationError("--json would mix the summary into the export on standard output; write the export to a file") }
        }

        func run() throws {
            let target: OutputTarget = output == "-" ? .standardOutput : .file(path: output, overwrite: force)
            let verification = try AuditExport.write(vaultAt: try vault.vaultPath(), to: target, signer: try vault.loadIdentity())
            if json.json { return try JSONOutput.print(verification) }
            if output != "-" { TextOutput.line("exported \(verification.entries) entries to \(output); head \(verification.head)") }
        }
    }

    /// `coffer audit check-export`.
    struct CheckExport: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check-export",
            abstract: "Verify an audit export with no vault and no key (descriptor, every signature, hash link and authorisation), or an evidence report against its signature.",
            discussion: """
                Examples:
                  coffer audit check-export ledger-2026-12.json --signer coffer1q…
                  coffer audit check-export evidence.html --signer 42081b9d66b0a5078748419af22f539f
                """)

        @Argument(help: ArgumentHelp("The export file.", valueName: "file"))
        var file: String

        @Option(name: .long, help: ArgumentHelp("Require this exporter (coffer1… public identity or fingerprint).", valueName: "id"))
        var signer: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            if try FileSystem.readSmallFile(file, limit: EvidenceHTML.doctype.utf8.count).starts(with: Array(EvidenceHTML.doctype.utf8)) {
                let check = try EvidenceHTML.check(file, signer: signer)
                if output.json { return try JSONOutput.print(check) }
                TextOutput.line("evidence report of vault \(check.vault) at ledger \(check.ledger): signature by \(check.signer) verifies")
                return
            }
            try AuditOutput.print(try AuditExport.check(file, signer: signer), json: output.json)
        }
    }
}

extension Coffer.AuditCommand.Report {
    /// Writes the evidence report to `path` (0600, atomically) and its minisign signature beside it.
    func writeEvidence(policy: AuditPolicy, to path: String) throws {
        let identity = try vault.loadIdentity()
        let opened = try Vault.open(at: try vault.vaultPath(), identity: identity, stateDirectory: .standard, access: .readOnly)
        let report = try opened.evidence(policy: policy)
        let html = EvidenceHTML.render(report, author: identity.publicIdentity)
        try OutputTarget.file(path: path + ".minisig", overwrite: force).checkAvailable()
        try EvidenceHTML.write(html, to: .file(path: path, overwrite: force))
        let comment = "coffer evidence report\tvault:\(report.vault)\tentries:\(report.entries)\thead:\(report.head)"
        try Minisign.sign(.file(path: path), identity: identity, trustedComment: comment).write(to: .file(path: path + ".minisig", overwrite: force))
        if format.json { return try JSONOutput.print(report) }
        TextOutput.line("wrote \(path) (\(report.entries) entries, \(report.audit.findings.count) finding(s)) and its signature \(path).minisig")
    }
}

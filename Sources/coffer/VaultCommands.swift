import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer init`.
    struct Init: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a vault; you become its first administrator.",
            discussion: """
                A shared vault keeps its ledger in PostgreSQL and its objects in an S3
                bucket; DIR then holds only its descriptor. The database password comes
                from PGPASSWORD, ~/.pgpass or PGSERVICE, the bucket's keys from the AWS
                settings (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_ENDPOINT_URL,
                AWS_REGION, ~/.aws/credentials); never from a command line.

                Examples:
                  coffer init --vault ~/vault
                  coffer init --vault /srv/vault --labels public internal secret --export-limit internal
                  coffer init --vault ~/team --catalog postgresql://coffer@db.example/vaults?sslmode=verify-full --objects s3://team-vault/coffer
                """)

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp("Classification labels, lowest first (default: public internal confidential secret trade-secret).", valueName: "label"))
        var labels: [String] = []

        @Option(name: .long, help: ArgumentHelp("The highest label that bundles may carry without an administrator's --approve (default: secret, or the second-highest label).", valueName: "label"))
        var exportLimit: String?

        @OptionGroup var shared: SharedStorageOptions

        func run() throws {
            let path = try vault.vaultPath()
            let identity = try vault.loadIdentity()
            let created = try Vault.create(
                at: path, creator: identity, labels: labels.isEmpty ? Vault.defaultLabels : labels, exportLimit: exportLimit,
                stateDirectory: .standard, storage: shared.storage)
            let summary = InitSummary(
                vault: path, id: created.state.vaultID.description, administrator: identity.fingerprint, labels: created.state.labels,
                exportLimit: created.state.exportLimit, catalog: created.shared?.catalog, objects: created.shared?.objects)
            if output.json {
                try JSONOutput.print(summary)
            } else {
                TextOutput.line("created vault \(summary.id) in \(path)")
                TextOutput.line("administrator: \(identity.name) (\(identity.fingerprint))")
                TextOutput.line("labels: \(summary.labels.joined(separator: " < ")); bundles above \(summary.exportLimit) need --approve")
                if let shared = created.shared {
                    TextOutput.line("shared: ledger in \(shared.catalog) (schema \(shared.schema)), objects in \(shared.objects)")
                    TextOutput.line("others join with: coffer attach --vault DIR --catalog … --objects \(shared.objects) --expect-id \(summary.id)")
                }
            }
        }

        struct InitSummary: Encodable {
            let vault: String
            let id: String
            let administrator: String
            let labels: [String]
            let exportLimit: String
            let catalog: String?
            let objects: String?
        }
    }

    /// `coffer attach`.
    struct Attach: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a shared vault from this machine: check it, then write its descriptor into a new directory.",
            discussion: """
                Finds the vault in the database (the only one there, or the one --expect-id
                names), checks its signed descriptor, verifies its whole ledger without a key
                and checks the bucket. Without --expect-id the vault is trusted on first use:
                ask an administrator for its id (`coffer init` printed it). Credentials come
                from the same places as for `coffer init`.

                Examples:
                  coffer attach --vault ~/team --catalog postgresql://coffer@db.example/vaults --objects s3://team-vault/coffer --expect-id 4f0c…
                """)

        @Option(name: .long, help: ArgumentHelp("The new vault directory (default: $COFFER_VAULT).", valueName: "dir"))
        var vault: String?

        @OptionGroup var shared: SharedStorageOptions

        @Option(name: .long, help: ArgumentHelp("Refuse unless the vault has this id.", valueName: "id"))
        var expectID: String?

        @OptionGroup var output: OutputOptions

        func run() throws {
            let path = try VaultPathOptions.required(explicit: vault)
            let expected = try expectID.map { text in
                do { return try VaultID(hex: text) } catch { throw ValidationError("--expect-id takes a vault id: 32 hexadecimal digits") }
            }
            guard case .shared(let catalog, let objects) = shared.storage else { throw ValidationError("attach needs --catalog and --objects") }
            let report = try Vault.attach(at: path, catalog: catalog, objects: objects, expectedID: expected)
            if output.json {
                try JSONOutput.print(report)
            } else {
                TextOutput.line("attached vault \(report.id) in \(path)\(expected == nil ? " (trusted on first use: compare this id with the one your administrator gave)" : "")")
                TextOutput.line("ledger: \(report.entries) entries verified; created by \(report.creator)")
            }
        }
    }

    /// `coffer seal`.
    struct Seal: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Seal files, folders (recursively) or standard input (-) into the vault, one document per file.",
            discussion: """
                A name that is already a document you can read seals its next revision (you must own it or be an \
                administrator; it keeps its label and its roles); content identical to the current revision adds \
                nothing and is reported as unchanged. A name several documents you can read share is refused, \
                with the candidates listed. `coffer history DOC` lists the revisions.

                Examples:
                  coffer seal ~/reports --label confidential
                  pg_dump sales | coffer seal - --name sales.sql
                """)

        @Argument(help: ArgumentHelp("Files, folders, or - for standard input.", valueName: "path"))
        var paths: [String]

        @Option(name: .long, help: "Classification label (default: internal, or the vault's lowest label if it has no internal).")
        var label: String?

        @Option(name: .long, help: "Document name (required for -, allowed for a single file).")
        var name: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var progressOptions: ProgressOptions

        func validate() throws {
            if paths.contains("-"), name == nil { throw ValidationError("sealing standard input (-) needs --name") }
            if paths.filter({ $0 == "-" }).count > 1 { throw ValidationError("- may be given once") }
        }

        func run() throws {
            let vault = try self.vault.openVault()
            let json = output.json
            let progress = progressOptions.start()
            vault.progress = progress
            // Documents are reported as their batches commit, and never held:
            // after a failure a script still learns which ones were sealed.
            var committed = JSONOutput.Stream()
            defer {
                progress?.finish()
                if json { committed.finish() }
            }
            try vault.seal(paths: paths, name: name, label: label) { document in
                let report = {
                    if json {
                        try committed.append(document)
                    } else {
                        let revision = document.unchanged ? "unchanged" : document.revision > 1 ? "revision \(document.revision)" : ""
                        TextOutput.line(
                            "\(document.id)  \(formatSize(document.size).leftPadded(10))  \(document.label.leftPadded(12))  \(document.name)\(revision.isEmpty ? "" : "  (\(revision))")")
                    }
                }
                if let progress { try progress.aside(report) } else { try report() }
            }
        }
    }

    /// `coffer open`.
    struct Open: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt a document to a file or standard output, or a folder of documents to a new folder.",
            discussion: """
                DOC is a document id, a unique id prefix, or an exact name. A file is written under a temporary name \
                and renamed only after every frame authenticated; standard output receives frames as they \
                authenticate and the command fails if a later one does not.

                A name ending in / opens every document under it as a tree into a new folder (default: the \
                folder's last component in the current directory): reports/2026/q3.pdf becomes DIR/2026/q3.pdf, \
                with the permission bits it was sealed with. Nothing appears at DIR until every document has \
                authenticated and every read is in the ledger; DIR must not exist.

                Examples:
                  coffer open reports/q3.pdf
                  coffer open reports/q3.pdf -o - | less
                  coffer open reports/ -o restored-reports
                  coffer open reports/q3.pdf --at 2 -o q3-draft.pdf
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix, exact name, or a folder ending in /.", valueName: "doc"))
        var document: String

        @Option(
            name: [.customShort("o"), .customLong("output")],
            help: ArgumentHelp(
                "Output file, - for standard output, or for a folder the new folder (default: the document's or folder's last name in the current directory).",
                valueName: "path"))
        var target: String?

        @Flag(name: .long, help: "Overwrite an existing output file (not for a folder, which always opens into a new one).")
        var force = false

        @Option(name: .long, help: ArgumentHelp("Open an earlier revision (see `coffer history`); the current one by default.", valueName: "revision"))
        var at: UInt32?

        @OptionGroup var output: OutputOptions

        @OptionGroup var progressOptions: ProgressOptions

        @OptionGroup var vault: VaultOptions

        func validate() throws {
            if target == "-", output.json { throw ValidationError("--json reports on standard output, which -o - fills with the document") }
            if document.hasSuffix("/") {
                if target == "-" { throw ValidationError("a folder opens into a new folder, not to standard output") }
                if force { throw ValidationError("a folder always opens into a new folder: --force does not apply") }
                if at != nil { throw ValidationError("--at opens a revision of one document, not of a folder") }
            }
        }

        func run() throws {
            let vault = try self.vault.openVault()
            let progress = progressOptions.start()
            vault.progress = progress
            defer { progress?.finish() }
            if document.hasSuffix("/") {
                let opened = try openFolder(in: vault)
                progress?.finish()
                if output.json {
                    try JSONOutput.print(opened)
                } else if isatty(STDERR_FILENO) == 1 {
                    TextOutput.errorLine("opened \(opened.documents) documents (\(formatSize(opened.bytes))) from \(opened.folder) to \(opened.destination)")
                }
                return
            }
            if target == "-" {
                try vault.open(document, revision: at, to: .standardOutput)
                return
            }
            let target: String
            if let given = self.target {
                target = given
            } else {
                let summary = try vault.resolve(document)
                target = (summary.name as NSString).lastPathComponent
                // A name from before names were checked may be `/`, `.` or `..`: never a target.
                guard !["", ".", "..", "/"].contains(target) else {
                    throw VaultError.unsafeName(summary.name, reason: "it gives no file name to open to; pass -o PATH")
                }
            }
            let summary = try vault.open(document, revision: at, to: .file(path: target, overwrite: force))
            progress?.finish()
            if output.json {
                try JSONOutput.print(summary)
            } else if isatty(STDERR_FILENO) == 1 {
                // A confirmation for people; scripts (no terminal) get silence on success.
                TextOutput.errorLine("opened \(summary.name) (\(summary.id), revision \(summary.revision)) to \(target)")
            }
        }

        private func openFolder(in vault: Vault) throws -> OpenedFolder {
            let folder = String(document.dropLast())
            let destination = target ?? (folder as NSString).lastPathComponent
            guard !["", ".", "..", "/"].contains(destination) else {
                throw ValidationError("\(document) gives no folder name to open to; pass -o DIR")
            }
            return try vault.open(folder: document, to: destination)
        }
    }

    /// `coffer history`.
    struct History: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a document's revisions: number, size, when and by whom each was sealed.",
            discussion: """
                Sealing a name that is already a document adds its next revision; every revision stays readable \
                by whoever can read the document, until the document is deleted. Nothing is decrypted but the \
                revisions' metadata, and nothing is recorded in the ledger.

                Examples:
                  coffer history reports/q3.pdf
                  coffer history 3f9a --json
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix or exact name.", valueName: "doc"))
        var document: String

        @OptionGroup var output: OutputOptions
        @OptionGroup var vault: VaultOptions

        func run() throws {
            let revisions = try self.vault.openVault(access: .readOnly).history(of: document)
            if output.json { return try JSONOutput.print(revisions) }
            for revision in revisions {
                TextOutput.line(
                    "\(String(revision.revision).leftPadded(4))\(revision.current ? "*" : " ")  \(formatSize(revision.size).leftPadded(10))  \(revision.sealedAt)  \(revision.sealedBy.name)  \(revision.name)")
            }
        }
    }

    /// `coffer ls`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List the documents your identity can read.",
            discussion: """
                Lists in the order the documents were first sealed (oldest first), streaming: the first line comes \
                at once and memory stays flat however large the vault. Changes nothing in the vault directory; works \
                on read-only media. A folder, --label and --role are answered from your saved state's indexes: only \
                the matching documents are read and decrypted.

                Examples:
                  coffer ls
                  coffer ls reports/ --label confidential
                  coffer ls --role finance --json
                """)

        @Argument(help: "Only documents in this folder: names that start with FOLDER/ (e.g. `coffer ls reports/`).")
        var folder: String?

        @Option(name: .long, help: "Only documents with this label.")
        var label: String?

        @Option(name: .long, help: "Only documents shared with this role (a role name, or @FINGERPRINT).")
        var role: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let vault = try self.vault.openVault(access: .readOnly)
            var json = JSONOutput.Stream()
            let failures = try vault.list(folder: folder, label: label, role: role) { row in
                if output.json {
                    try json.append(row)
                } else {
                    TextOutput.line("\(row.id)  \(formatSize(row.size).leftPadded(10))  \(row.label.leftPadded(12))  \(row.sealedAt)  \(row.sealedByName.isEmpty ? String(row.sealedBy.prefix(12)) : row.sealedByName)  \(row.name)")
                }
                try TextOutput.requireWritable()
            }
            if output.json { json.finish() }
            // Documents that did not open are named on stderr; the exit code says integrity.
            for failure in failures { ExitStatus.printError("document \(failure.id): \(failure.reason)") }
            if !failures.isEmpty { throw ExitCode(ExitStatus.code(for: .integrity)) }
        }
    }

    /// `coffer verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the whole vault: the signed ledger, the catalog's schema and every object; with --deep, decrypt what you can read.",
            discussion: """
                Needs no key unless --deep or --subset is given. Exits 5 if anything is wrong.

                Examples:
                  coffer verify
                  coffer verify --deep
                  coffer verify --subset "$(( $(date +%j) % 7 + 1 ))/7"   # a seventh of the objects each day
                """)

        @Flag(name: .long, help: "Also decrypt every document your identity can read and check it against its commitment and metadata.")
        var deep = false

        @Option(name: .long, help: ArgumentHelp(
            "Re-hash only part PART of PARTS of the objects (every other check stays complete), and record the check in the ledger as your identity.",
            valueName: "PART/PARTS"))
        var subset: String?

        @OptionGroup var vault: VaultOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let path = try vault.vaultPath()
            // Keyless unless --deep: rollback and swap checks use the heads
            // every identity remembered in the state directory.
            let subset = try self.subset.map { try ObjectSubset(parsing: $0) }
            let identity = deep || subset != nil ? try vault.loadIdentity() : nil
            let report = try VaultVerifier.verify(at: path, identity: identity, stateDirectory: .standard, deep: deep, subset: subset)
            if output.json {
                try JSONOutput.print(report)
            } else {
                VerifyOutput.print(report)
            }
            // The check is evidence: `audit report` says when every part was last checked.
            if let subset, let identity {
                try Vault.open(at: path, identity: identity, stateDirectory: .standard).recordCheck(of: subset, report: report)
            }
            if !report.isClean { throw ExitCode(ExitStatus.code(for: .integrity)) }
        }
    }
}

/// Prints a verification report for people.
enum VerifyOutput {
    static func print(_ report: VerificationReport) {
        let c = report.counts
        TextOutput.line("ledger:   \(c.ledgerEntries) entries replayed (hash chain, signatures, authorisation)")
        if let schema = report.catalogSchema {
            let upgrade = schema < CatalogUpgrade.currentSchema ? " (an earlier schema: an administrator upgrades it with `coffer vault upgrade`)" : ""
            TextOutput.line("catalog:  schema \(schema)\(upgrade)")
        }
        let part = report.subset.map { " (part \($0))" } ?? ""
        TextOutput.line("objects:  \(c.objectsHashed) hashed\(part) (\(formatSize(c.bytesHashed))), \(c.objectsReferenced) referenced, \(c.objectsUnreferenced) unreferenced")
        if c.documentsNamedByBlake2b > 0 {
            TextOutput.line("          \(c.documentsNamedByBlake2b) documents' objects are still named by BLAKE2b: an administrator re-keys them with `coffer vault upgrade`")
        }
        if report.deep { TextOutput.line("deep:     \(c.documentsDecrypted) documents decrypted, \(c.documentsSkipped) not readable by you") }
        for f in report.findings { TextOutput.line("FINDING  \(f.check)  \(f.subject): \(f.message)") }
        TextOutput.line(report.isClean ? "vault is consistent" : "\(report.findings.count) finding(s)")
    }
}

extension String {
    /// The string right-aligned in `width` columns.
    func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

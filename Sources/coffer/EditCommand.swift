import ArgumentParser
import CofferKit
import Foundation
#if canImport(Glibc)
import Glibc
#endif

extension Coffer {
    /// `coffer edit`.
    struct Edit: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Edit a document in your editor and seal the result as its next revision.",
            discussion: """
                The current revision is decrypted into a new private folder in memory ($XDG_RUNTIME_DIR, else \
                /dev/shm; it must be tmpfs) and the editor ($COFFER_EDITOR, $VISUAL, $EDITOR, else vi) runs on it. \
                When the editor exits with status 0, the file is sealed as the document's next revision, keeping \
                its name, label, roles and mode; a file saved unchanged adds no revision, and an editor that exits \
                with another status (vi's :cq) seals nothing. Then every file in the folder, the editor's swap and \
                backup files too, is overwritten with zeros and removed. Only the document's owner or an \
                administrator may edit it; the passphrase is asked for before the editor starts.

                A revision someone else seals while you edit is not lost: yours follows it, and a note names it. \
                If sealing your edit fails, the edited file is kept and its path printed, so your work is not lost \
                either.

                Examples:
                  coffer edit notes/servers.txt
                  EDITOR='code --wait' coffer edit 3f9a
                """)

        @Argument(help: ArgumentHelp("Document id, id prefix or exact name.", valueName: "doc"))
        var document: String

        @OptionGroup var output: OutputOptions
        @OptionGroup var vault: VaultOptions

        func run() throws {
            let path = try vault.vaultPath()
            let identity = try vault.loadIdentity()
            for abandoned in EditWorkspace.wipeAbandoned() {
                ExitStatus.printNote("wiped \(abandoned), which an edit left behind when its process was killed")
            }
            let (workspace, edit) = try begin(path: path, identity: identity)
            var kept = false
            defer { if !kept { try? workspace.wipe() } }
            try Editor.edit(workspace.file)
            let edited: EditedDocument
            do {
                edited = try Vault.open(at: path, identity: identity, stateDirectory: .standard).finishEdit(edit)
            } catch {
                kept = true
                if let file = try? workspace.keep() {
                    ExitStatus.printNote("your edit is kept in \(file); seal it once the error is fixed (coffer seal FILE --name NAME), then remove it")
                }
                throw error
            }
            try report(edited)
        }

        /// Opens the vault, decrypts the document into a new workspace, and
        /// closes the vault again: its lock would keep a `gc` waiting as long
        /// as the editor runs.
        private func begin(path: String, identity: Identity) throws -> (EditWorkspace, DocumentEdit) {
            let vault = try Vault.open(at: path, identity: identity, stateDirectory: .standard)
            let summary = try vault.resolve(document)
            let workspace = try EditWorkspace.create(forDocumentNamed: summary.name)
            do {
                return (workspace, try vault.beginEdit(summary.id.description, into: workspace.file))
            } catch {
                try? workspace.wipe()
                throw error
            }
        }

        private func report(_ edited: EditedDocument) throws {
            let sealed = edited.sealed
            if !edited.concurrentRevisions.isEmpty {
                let theirs = edited.concurrentRevisions.map(String.init).joined(separator: ", ")
                ExitStatus.printNote(
                    "revision \(theirs) of \(sealed.name) was sealed while you edited revision \(edited.editedRevision)"
                        + (sealed.unchanged ? "" : "; yours is revision \(sealed.revision), now current (see coffer history)"))
            }
            if output.json { return try JSONOutput.print(edited) }
            let outcome = sealed.unchanged ? "unchanged" : "revision \(sealed.revision)"
            TextOutput.line("\(sealed.id)  \(formatSize(sealed.size).leftPadded(10))  \(sealed.label.leftPadded(12))  \(sealed.name)  (\(outcome))")
        }
    }
}

/// The user's editor: `$COFFER_EDITOR`, `$VISUAL`, `$EDITOR` (the first set
/// and not empty), else `vi`, run by the shell so that it may carry
/// arguments (`code --wait`).
enum Editor {
    /// The editor's command line.
    static var command: String {
        let environment = ProcessInfo.processInfo.environment
        return ["COFFER_EDITOR", "VISUAL", "EDITOR"].lazy.compactMap { environment[$0] }.first { !$0.isEmpty } ?? "vi"
    }

    /// Runs the editor on `file` and waits for it. Coffer ignores `SIGINT`,
    /// `SIGQUIT`, `SIGHUP` and `SIGTERM` meanwhile (the editor gets them
    /// and decides), so that it is still there to wipe the plaintext.
    /// - Throws: ``EditError/editorFailed(_:)`` if it cannot start, exits
    ///   with another status than 0, or is killed.
    static func edit(_ file: String) throws {
        let command = self.command
        let signals = [SIGINT, SIGQUIT, SIGHUP, SIGTERM]
        let previous = signals.map { signal($0, SIG_IGN) }
        defer { for (number, handler) in zip(signals, previous) { signal(number, handler) } }
        let child: pid_t
        do {
            child = try ShellCommand(command: command).start([file])
        } catch {
            throw EditError.editorFailed("the editor \(command.debugDescription) could not start (errno \(error.code))")
        }
        if let ended = ShellCommand.wait(for: child) {
            throw EditError.editorFailed("the editor \(command.debugDescription) \(ended)")
        }
    }
}

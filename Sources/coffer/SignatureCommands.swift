import ArgumentParser
import CofferKit
import Foundation

extension Coffer {
    /// `coffer sign`.
    struct Sign: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sign a file with your identity's Ed25519 key, in minisign's format (prehashed).",
            discussion: """
                Anyone can check it with `minisign -Vm FILE -p KEY.pub`, where KEY.pub is what `coffer identity show --minisign` prints.

                Examples:
                  coffer sign release.tar.gz
                """)

        @Argument(help: ArgumentHelp("The file to sign.", valueName: "file"))
        var file: String

        @Option(name: .customShort("x"), help: ArgumentHelp("Where to write the signature (default: FILE.minisig).", valueName: "sigfile"))
        var signatureFile: String?

        @Option(name: .customShort("t"), help: ArgumentHelp("The trusted comment, signed too (default: timestamp:…\\tfile:NAME\\thashed, as minisign).", valueName: "comment"))
        var trustedComment: String?

        @Flag(name: .long, help: "Replace an existing signature file.")
        var force = false

        @OptionGroup var identity: IdentityOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let target = signatureFile ?? file + ".minisig"
            let destination = OutputTarget.file(path: target, overwrite: force)
            try destination.checkAvailable()
            let comment = trustedComment.flatMap { $0.isEmpty ? nil : $0 }
                ?? Minisign.defaultTrustedComment(fileName: file, timestamp: Int(Date().timeIntervalSince1970))
            let signer = try identity.load()
            let signature = try Minisign.sign(.file(path: file), identity: signer, trustedComment: comment)
            try signature.write(to: destination)
            let report = SignatureReport(file: file, signature: target, signature)
            if output.json {
                try JSONOutput.print(report)
            } else {
                TextOutput.line("signed \(file) with key \(report.keyID): \(target)")
            }
        }
    }

    /// `coffer verify-signature`.
    struct VerifySignature: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-signature",
            abstract: "Check a minisign signature (from coffer sign or minisign -S) and print its trusted comment.",
            discussion: """
                Exits 5 if the file, the signature or its trusted comment was changed, or another key signed it.

                Examples:
                  coffer verify-signature release.tar.gz -p alice.pub
                """)

        @Argument(help: ArgumentHelp("The signed file.", valueName: "file"))
        var file: String

        @Option(name: .customShort("p"), help: ArgumentHelp("The signer's minisign public key file.", valueName: "pubkeyfile"))
        var publicKeyFile: String?

        @Option(name: .customShort("P"), help: ArgumentHelp("The signer's public key: a minisign key line (RW…) or a coffer1… public identity.", valueName: "key"))
        var publicKey: String?

        @Option(name: .customShort("x"), help: ArgumentHelp("The signature file (default: FILE.minisig).", valueName: "sigfile"))
        var signatureFile: String?

        @OptionGroup var output: OutputOptions

        func validate() throws {
            if (publicKeyFile == nil) == (publicKey == nil) {
                throw ValidationError("give the signer's public key once: -p FILE or -P KEY")
            }
        }

        func run() throws {
            let key: MinisignPublicKey
            if let publicKeyFile {
                key = try MinisignPublicKey(fileContents: try FileSystem.readSmallFile(publicKeyFile, limit: 16 * 1024))
            } else {
                key = try MinisignPublicKey(base64OrPublicIdentity: publicKey!)
            }
            let path = signatureFile ?? file + ".minisig"
            let signature = try MinisignSignature(fileContents: try FileSystem.readSmallFile(path, limit: 64 * 1024))
            try signature.verify(.file(path: file), publicKey: key)
            let report = SignatureReport(file: file, signature: path, signature)
            if output.json {
                try JSONOutput.print(report)
            } else {
                TextOutput.line("good signature on \(file) by key \(report.keyID)")
                TextOutput.line("trusted comment: \(report.trustedComment)")
            }
        }
    }
}

/// What `sign` and `verify-signature` print as JSON.
struct SignatureReport: Encodable {
    let file: String
    let signature: String
    let keyID: String
    /// `ED` (prehashed) or `Ed` (legacy).
    let algorithm: String
    let trustedComment: String

    init(file: String, signature path: String, _ signature: MinisignSignature) {
        self.file = file
        self.signature = path
        keyID = signature.keyID.description
        algorithm = signature.algorithm.rawValue
        trustedComment = signature.trustedComment
    }
}

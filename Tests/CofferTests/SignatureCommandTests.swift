import Foundation
import Testing

/// `coffer sign` and `coffer verify-signature` against the stock minisign
/// 0.11, both ways, and every way a signature can fail.
@Suite("coffer sign / verify-signature with the stock minisign",
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/minisign")))
struct SignatureCommandTests {
    static let minisign = "/usr/bin/minisign"

    /// A harness with a Coffer identity (and its minisign public key file)
    /// and an unencrypted minisign key pair.
    struct Setup {
        let cli: CLIHarness
        /// `coffer identity show --minisign`, saved as a file.
        let cofferPublicKey: String
        let cofferIdentity: String
        let minisignPublicKey: String
        let minisignSecretKey: String

        init() throws {
            cli = try CLIHarness()
            cofferIdentity = try cli.newIdentity()
            cofferPublicKey = try cli.write("alice.pub", try cli.ok(["identity", "show", "--minisign"]).stdout)
            minisignPublicKey = cli.path("minisign.pub")
            minisignSecretKey = cli.path("minisign.key")
            let generated = try cli.execute(SignatureCommandTests.minisign, ["-G", "-W", "-p", minisignPublicKey, "-s", minisignSecretKey])
            guard generated.status == 0 else { throw HarnessError("minisign -G: \(generated.stderr)") }
        }

        /// Runs the stock minisign.
        func minisign(_ arguments: [String]) throws -> CLIHarness.Result {
            try cli.execute(SignatureCommandTests.minisign, arguments)
        }
    }

    @Test("minisign -S (prehashed and legacy) verifies with coffer verify-signature, -p and -P", arguments: [0, 1, 131072], [false, true])
    func minisignToCoffer(_ size: Int, _ legacy: Bool) throws {
        let s = try Setup()
        let file = try s.cli.write("doc.bin", pattern(size, seed: UInt64(size) &+ 7))
        let signed = try s.minisign(["-S", "-s", s.minisignSecretKey, "-m", file, "-t", "release 1.0 for partners"] + (legacy ? ["-l"] : []))
        #expect(signed.status == 0, "\(signed.stderr)")
        let text = try s.cli.ok(["verify-signature", file, "-p", s.minisignPublicKey]).text
        #expect(text.contains("trusted comment: release 1.0 for partners\n"), "\(text)")
        let keyLine = try #require(String(decoding: try Data(contentsOf: URL(fileURLWithPath: s.minisignPublicKey)), as: UTF8.self)
            .split(separator: "\n").last)
        let report = try #require(try s.cli.ok(["verify-signature", file, "-P", String(keyLine), "--json"]).json() as? [String: Any])
        #expect(report["trustedComment"] as? String == "release 1.0 for partners")
        #expect(report["algorithm"] as? String == (legacy ? "Ed" : "ED"))
        #expect(report["signature"] as? String == file + ".minisig")
    }

    @Test("coffer sign verifies with minisign -V (also -H, prehashed only) and with coffer", arguments: [0, 1, 65536, 131072])
    func cofferToMinisign(_ size: Int) throws {
        let s = try Setup()
        let file = try s.cli.write("doc.bin", pattern(size, seed: UInt64(size) &+ 8))
        let signed = try #require(try s.cli.ok(["sign", file, "--json"]).json() as? [String: Any])
        let comment = try #require(signed["trustedComment"] as? String)
        #expect(comment.hasPrefix("timestamp:") && comment.hasSuffix("\tfile:doc.bin\thashed"), "\(comment)")
        let checked = try s.minisign(["-Vm", file, "-p", s.cofferPublicKey])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.text.contains("Trusted comment: \(comment)"), "\(checked.text)")
        #expect(try s.minisign(["-V", "-H", "-m", file, "-p", s.cofferPublicKey]).status == 0)
        #expect(try s.cli.ok(["verify-signature", file, "-P", s.cofferIdentity]).text.contains(comment))
    }

    @Test("a custom trusted comment and signature path; -x on both sides")
    func customComment() throws {
        let s = try Setup()
        let file = try s.cli.write("MANIFEST.json", Data("{\"files\":[]}\n".utf8))
        try s.cli.ok(["sign", file, "-x", s.cli.path("sig"), "-t", "bundle 42 \u{2014} for ACME"])
        #expect(!FileManager.default.fileExists(atPath: file + ".minisig"))
        let checked = try s.minisign(["-Vm", file, "-x", s.cli.path("sig"), "-p", s.cofferPublicKey])
        #expect(checked.status == 0, "\(checked.stderr)")
        #expect(checked.text.contains("Trusted comment: bundle 42 \u{2014} for ACME"))
        #expect(try s.cli.ok(["verify-signature", file, "-x", s.cli.path("sig"), "-p", s.cofferPublicKey]).text
                .contains("trusted comment: bundle 42 \u{2014} for ACME"))
    }

    @Test("changed files, comments and keys exit 5 (minisign agrees); malformed keys 2; missing files 6; existing signatures 7")
    func failures() throws {
        let s = try Setup()
        let file = try s.cli.write("doc.txt", Data("the original\n".utf8))
        try s.cli.ok(["sign", file])
        let signature = try Data(contentsOf: URL(fileURLWithPath: file + ".minisig"))

        // The file changed.
        try s.cli.write("doc.txt", Data("the original!\n".utf8))
        let changed = try s.cli.run(["verify-signature", file, "-p", s.cofferPublicKey])
        #expect(changed.status == Exit.integrity)
        #expect(changed.stderr.contains("the file was changed"), "\(changed.stderr)")
        #expect(try s.minisign(["-Vm", file, "-p", s.cofferPublicKey]).status != 0)
        try s.cli.write("doc.txt", Data("the original\n".utf8))

        // The trusted comment changed.
        var lines = String(decoding: signature, as: UTF8.self).split(separator: "\n").map(String.init)
        lines[2] += " (edited)"
        try s.cli.write("doc.txt.minisig", Data((lines.joined(separator: "\n") + "\n").utf8))
        #expect(try s.cli.run(["verify-signature", file, "-p", s.cofferPublicKey]).status == Exit.integrity)
        #expect(try s.minisign(["-Vm", file, "-p", s.cofferPublicKey]).status != 0)

        // Truncated signature file, another signer's key, a signature line bit flipped.
        try s.cli.write("doc.txt.minisig", signature.prefix(120))
        #expect(try s.cli.run(["verify-signature", file, "-p", s.cofferPublicKey]).status == Exit.integrity)
        try s.cli.write("doc.txt.minisig", signature)
        let otherKey = try s.cli.run(["verify-signature", file, "-p", s.minisignPublicKey])
        #expect(otherKey.status == Exit.integrity)
        #expect(otherKey.stderr.contains("signer's public key"), "\(otherKey.stderr)")
        var flipped = signature
        flipped[signature.firstIndex(of: 0x0A)! + 30] ^= 0x01
        try s.cli.write("doc.txt.minisig", flipped)
        #expect(try s.cli.run(["verify-signature", file, "-p", s.cofferPublicKey]).status == Exit.integrity)
        try s.cli.write("doc.txt.minisig", signature)

        // Malformed keys and options are usage errors.
        try s.cli.write("bad.pub", Data("untrusted comment: x\nRWQnotakey\n".utf8))
        #expect(try s.cli.run(["verify-signature", file, "-p", s.cli.path("bad.pub")]).status == Exit.usage)
        #expect(try s.cli.run(["verify-signature", file, "-P", "RWQnotakey"]).status == Exit.usage)
        #expect(try s.cli.run(["verify-signature", file]).status == Exit.usage)
        #expect(try s.cli.run(["verify-signature", file, "-p", s.cofferPublicKey, "-P", s.cofferIdentity]).status == Exit.usage)
        #expect(try s.cli.run(["sign", file, "-x", s.cli.path("other.sig"), "-t", "two\nlines"]).status == Exit.usage)
        #expect(!FileManager.default.fileExists(atPath: s.cli.path("other.sig")))

        // Missing files.
        #expect(try s.cli.run(["verify-signature", s.cli.path("nope.txt"), "-x", file + ".minisig", "-p", s.cofferPublicKey]).status == Exit.notFound)
        #expect(try s.cli.run(["verify-signature", file, "-x", s.cli.path("nope.minisig"), "-p", s.cofferPublicKey]).status == Exit.notFound)
        #expect(try s.cli.run(["sign", s.cli.path("nope.txt")]).status == Exit.notFound)

        // An existing signature is kept unless --force.
        let refused = try s.cli.run(["sign", file, "-t", "second"])
        #expect(refused.status == Exit.conflict)
        #expect(refused.stderr.contains("--force"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: file + ".minisig")) == signature)
        try s.cli.ok(["sign", file, "-t", "second", "--force"])
        #expect(try s.cli.ok(["verify-signature", file, "-p", s.cofferPublicKey]).text.contains("trusted comment: second"))
    }
}

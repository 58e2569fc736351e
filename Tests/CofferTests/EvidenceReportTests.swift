import Foundation
import Testing

/// `coffer audit report --html`: the evidence report for counsel, its
/// signature, and how Debian's headless Chromium renders it.
@Suite("Evidence report")
struct EvidenceReportTests {
    @Test("the HTML report: self-contained and signed; check-export and the stock minisign verify it; an edit or another signer is caught; hostile names stay text; Chromium renders it")
    func htmlReport() throws {
        let cli = try CLIHarness()
        try cli.initVault()
        let bob = try cli.person("bob")
        // A hostile display name: it must appear as text, never as markup.
        let mallory = try cli.person("<img src=x onerror=alert(1)>")
        try cli.ok(["role", "create", "finance", "--clearance", "secret"])
        try cli.ok(["role", "add", "finance", bob.publicIdentity, "--name", "bob"])
        try cli.ok(["role", "add", "finance", mallory.publicIdentity, "--name", "<img src=x onerror=alert(1)>"])
        try cli.ok(["role", "policy", "--label", "secret", "--max-key-age", "90d"])
        try cli.write("q3.txt", Data("q3\n".utf8))
        try cli.ok(["seal", cli.path("q3.txt"), "--label", "secret"])
        try cli.ok(["share", "q3.txt", "--role", "finance"])
        #expect(try cli.run(as: bob.file, ["open", "q3.txt", "-o", "-"]).status == Exit.ok)
        try cli.execute("/usr/bin/age-keygen", ["-o", cli.path("acme.key")])
        let acme = try cli.execute("/usr/bin/age-keygen", ["-y", cli.path("acme.key")]).text.trimmingCharacters(in: .whitespacesAndNewlines)
        try cli.ok(["partner", "add", "acme", acme])
        try cli.ok(["bundle", "create", "q3.txt", "--to", "acme", "--expires", "30d", "-o", cli.path("q3.bundle")])

        #expect(try cli.run(["audit", "report", "--html"]).status == Exit.usage)
        let json = try #require(try cli.ok(["audit", "report", "--html", "-o", cli.path("report.html"), "--json"]).json() as? [String: Any])
        #expect((json["inventory"] as? [[String: Any]])?.first { $0["label"] as? String == "secret" }?["documents"] as? Int == 1)
        let exports = try #require(json["exports"] as? [[String: Any]])
        #expect(exports.count == 1 && exports[0]["recipients"] as? [String] == ["acme"])
        #expect((json["roles"] as? [[String: Any]])?.contains { $0["role"] as? String == "finance" && $0["policy"] as? String == "label secret" } == true)
        #expect(try cli.run(["audit", "report", "--html", "-o", cli.path("report.html")]).status == Exit.conflict)
        try cli.ok(["audit", "report", "--html", "-o", cli.path("report.html"), "--force"])

        let html = try String(contentsOfFile: cli.path("report.html"), encoding: .utf8)
        #expect(html.hasPrefix("<!DOCTYPE html>") && !html.contains("<script"))
        #expect(!html.contains("<img src=x") && html.contains("&lt;img src=x onerror=alert(1)&gt;"))
        #expect(!html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<link"))
        #expect(try FileManager.default.attributesOfItem(atPath: cli.path("report.html"))[.posixPermissions] as? Int == 0o600)

        let me = try #require(try cli.ok(["identity", "show", "--json"]).json() as? [String: Any])
        let fingerprint = try #require(me["fingerprint"] as? String)
        #expect(try cli.ok(["audit", "check-export", cli.path("report.html"), "--signer", fingerprint]).text.contains("verifies"))
        #expect(try cli.run(["audit", "check-export", cli.path("report.html"), "--signer", "42081b9d66b0a5078748419af22f539f"]).status == Exit.accessDenied)
        try cli.write("alice.pub", try cli.ok(["identity", "show", "--minisign"]).stdout)
        #expect(try cli.execute("/usr/bin/minisign", ["-Vm", cli.path("report.html"), "-p", cli.path("alice.pub")]).status == 0)
        var edited = Array(try Data(contentsOf: URL(fileURLWithPath: cli.path("report.html"))))
        if let at = String(decoding: edited, as: UTF8.self).range(of: "Inventory by label")?.lowerBound.utf16Offset(in: String(decoding: edited, as: UTF8.self)) {
            edited[at] = UInt8(ascii: "X")
        }
        try cli.write("edited.html", Data(edited))
        try FileManager.default.copyItem(atPath: cli.path("report.html.minisig"), toPath: cli.path("edited.html.minisig"))
        #expect(try cli.run(["audit", "check-export", cli.path("edited.html")]).status == Exit.integrity)

        // Debian's Chromium, headless, as a reader's browser: the report renders to a PNG, and its DOM holds the sections.
        let chromium = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(cli.path("chromium"))"]
        let shot = try cli.execute("/usr/bin/chromium", chromium + ["--window-size=1100,2400", "--screenshot=\(cli.path("report.png"))", "file://" + cli.path("report.html")])
        let png = try #require(FileManager.default.contents(atPath: cli.path("report.png")), "\(shot.stderr)")
        #expect(png.starts(with: [0x89, 0x50, 0x4E, 0x47]) && png.count > 20_000, "a PNG of \(png.count) bytes")
        // The PNG's width and height (IHDR) are the window's.
        #expect(png.count > 24 && png[16..<20].reduce(0) { $0 << 8 | Int($1) } == 1100 && png[20..<24].reduce(0) { $0 << 8 | Int($1) } == 2400)
        let dom = try cli.execute("/usr/bin/chromium", chromium + ["--dump-dom", "file://" + cli.path("report.html")]).text
        for heading in ["Inventory by label", "Who can read what", "Reads and exports over time", "Exports", "Key age against policy", "Unusual access"] {
            #expect(dom.contains(heading), "\(heading)")
        }
        #expect(dom.contains("<svg") && !dom.contains("<img"))
    }
}

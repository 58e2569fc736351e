import Foundation

/// The evidence report as one self-contained HTML file for counsel and
/// auditors: no script, no network, no external file; charts are inline
/// SVG. Every text from the vault (names, labels, roles, details) is
/// escaped: a hostile name shows as text, never as markup.
///
/// The file carries its author's public identity in
/// `<meta name="coffer-signer">`; its detached minisign signature
/// (`FILE.minisig`) is checked by `coffer audit check-export FILE` or the
/// stock `minisign -Vm FILE -p KEY.pub`.
public enum EvidenceHTML {
    /// The first bytes of every report (what `check-export` recognises).
    public static let doctype = "<!DOCTYPE html>"

    /// Renders `report`, signed (separately) by `author`.
    public static func render(_ report: EvidenceReport, author: PublicIdentity) -> String {
        var html = """
            \(doctype)
            <html lang="en"><head><meta charset="utf-8">
            <meta name="coffer-signer" content="\(escape(author.description))">
            <meta name="coffer-vault" content="\(report.vault)">
            <meta name="coffer-ledger" content="\(report.entries) \(report.head)">
            <title>Coffer evidence report: vault \(report.vault)</title>
            <style>
            body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#1b1b1b}
            h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
            table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
            th{background:#f2f2f2}.num{text-align:right}.bad{color:#b00020;font-weight:bold}.ok{color:#1b6e20}
            code{font-size:.9em;word-break:break-all}.muted{color:#666}
            </style></head><body>
            <h1>Coffer evidence report</h1>
            <table>
            <tr><th>Vault</th><td><code>\(report.vault)</code></td></tr>
            <tr><th>Made from</th><td>ledger entries 0 to \(report.entries - 1), head <code>\(report.head)</code></td></tr>
            <tr><th>Generated</th><td>\(escape(report.generated)) by \(escape(report.author.name)) (<code>\(report.author.fingerprint)</code>)</td></tr>
            <tr><th>Signature</th><td>this file's detached minisign signature is beside it (<code>.minisig</code>); check it with
            <code>coffer audit check-export FILE --signer \(report.author.fingerprint)</code></td></tr>
            </table>

            """
        html += section("Inventory by label", table(["Label", "Documents"], report.inventory.map { [escape($0.label), number($0.documents)] }))
        html += accessMatrix(report)
        html += section("Reads and exports over time", activityChart(report.activity)
            + "<p>\(report.activity.reduce(0) { $0 + $1.reads }) reads and \(report.activity.reduce(0) { $0 + $1.exports }) exports in all, every one a signed ledger entry.</p>")
        html += section("Exports", report.exports.isEmpty ? "<p>No document has left the vault in a bundle.</p>" : table(
            ["Bundle", "When", "By", "To", "Files", "Expires"],
            report.exports.map { e in
                [
                    "<code>\(escape(e.bundle))</code>", escape(e.time), escape(e.sender),
                    e.recipients.isEmpty ? "<span class=\"muted\">sealed for the administrators</span>" : e.recipients.map(escape).joined(separator: "<br>"),
                    number(e.files), (e.expires.map(escape) ?? "never") + (e.expired ? " <span class=\"muted\">(expired)</span>" : ""),
                ]
            }))
        html += section("Key age against policy", keyChart(report.roles) + table(
            ["Role", "Key", "Retired", "Issued", "Age (days)", "Limit (days)", "Policy", ""],
            report.roles.map { r in
                [
                    escape(r.role), "v\(r.keyVersion)", r.retired.map { "v\($0)" }.joined(separator: " "), escape(r.keyIssued ?? ""), r.keyAgeDays.map(number) ?? "",
                    r.maxKeyAgeDays.map(number) ?? "none",
                    escape(r.policy ?? ""), r.overdue ? "<span class=\"bad\">overdue</span>" : "<span class=\"ok\">within</span>",
                ]
            }))
        let findings = report.audit.findings
        html += section("Unusual access (since \(escape(Timestamp.format(report.audit.policy.since))))", findings.isEmpty ? "<p class=\"ok\">No findings.</p>" : table(
            ["Kind", "When", "Who", "What"],
            findings.map { [escape($0.kind), escape($0.time ?? ""), escape($0.actorName ?? $0.actor ?? ""), escape($0.detail)] }))
        html += "<p class=\"muted\">Made by Coffer from a verified replay of the signed, hash-chained ledger. Every figure above can be recomputed from the ledger export (<code>coffer audit export</code>).</p>\n</body></html>\n"
        return html
    }

    /// Writes a rendered report to `target` (a file: complete or not at all, 0600).
    public static func write(_ html: String, to target: OutputTarget) throws {
        try target.checkAvailable()
        let writer = try OutputWriter(target)
        try Array(html.utf8).withUnsafeBytes { try writer.write($0) }
        try writer.commit()
    }

    /// Text made safe for HTML content and attribute values.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text.unicodeScalars {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters (other than tab and newline) are shown as their code.
                if character.value < 0x20 && character != "\t" && character != "\n" || character.value == 0x7f {
                    out += "&#\(character.value);"
                } else {
                    out.unicodeScalars.append(character)
                }
            }
        }
        return out
    }

    /// A coordinate with one decimal.
    private static func f(_ value: Double) -> String { String(format: "%.1f", value) }

    private static func section(_ title: String, _ body: String) -> String {
        "<h2>\(title)</h2>\n\(body)\n"
    }

    private static func number(_ value: Int) -> String { "<span class=\"num\">\(value)</span>" }

    private static func table(_ headers: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + headers.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
            + rows.map { "<tr>" + $0.map { "<td>\($0)</td>" }.joined() + "</tr>" }.joined(separator: "\n") + "</table>"
    }

    /// Who can read each label, through which role: one row per role, one column per label.
    private static func accessMatrix(_ report: EvidenceReport) -> String {
        let labels = report.inventory.map(\.label)
        return section("Who can read what", table(
            ["Role", "Members"] + labels.map(escape) + ["Documents"],
            report.roles.map { r in
                [escape(r.role), r.members.map(escape).joined(separator: ", ")]
                    + labels.map { r.labels.contains($0) ? "<span class=\"ok\">✓</span>" : "" } + [number(r.documents)]
            }) + "<p class=\"muted\">A role reads the labels up to its clearance; administrators can unwrap every role's key.</p>")
    }

    /// Bars per day: reads above, exports in another colour.
    private static func activityChart(_ days: [EvidenceReport.DayActivity]) -> String {
        guard !days.isEmpty else { return "<p>No reads or exports yet.</p>" }
        let width = 900, height = 180, left = 40
        let top = max(1, days.map { max($0.reads, $0.exports) }.max() ?? 1)
        let step = Double(width - left) / Double(days.count)
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height + 30)\" role=\"img\" aria-label=\"reads and exports per day\">"
        svg += "<line x1=\"\(left)\" y1=\"\(height)\" x2=\"\(width)\" y2=\"\(height)\" stroke=\"#999\"/><text x=\"0\" y=\"12\" font-size=\"11\">\(top)</text><text x=\"0\" y=\"\(height)\" font-size=\"11\">0</text>"
        for (index, day) in days.enumerated() {
            let x = Double(left) + Double(index) * step
            let bar = min(24, max(1, step * 0.45))
            let reads = Double(day.reads) / Double(top) * Double(height - 10), exports = Double(day.exports) / Double(top) * Double(height - 10)
            svg += "<rect x=\"\(f(x))\" y=\"\(f(Double(height) - reads))\" width=\"\(f(bar))\" height=\"\(f(reads))\" fill=\"#3465a4\"><title>\(escape(day.day)): \(day.reads) reads</title></rect>"
            svg += "<rect x=\"\(f(x + bar))\" y=\"\(f(Double(height) - exports))\" width=\"\(f(bar))\" height=\"\(f(exports))\" fill=\"#e9730c\"><title>\(escape(day.day)): \(day.exports) exports</title></rect>"
        }
        svg += "<text x=\"\(left)\" y=\"\(height + 20)\" font-size=\"11\">\(days.first!.day)</text><text x=\"\(width - 70)\" y=\"\(height + 20)\" font-size=\"11\">\(days.last!.day)</text>"
        return svg + "</svg><p><span style=\"color:#3465a4\">■</span> reads <span style=\"color:#e9730c\">■</span> exports</p>"
    }

    /// One bar per role: its key's age, against its limit (a line), red when overdue.
    private static func keyChart(_ roles: [EvidenceReport.RoleAccess]) -> String {
        let rows = roles.filter { $0.keyAgeDays != nil }
        guard !rows.isEmpty else { return "" }
        let scale = Double(max(1, rows.map { max($0.keyAgeDays ?? 0, $0.maxKeyAgeDays ?? 0) }.max() ?? 1))
        let width = 900, left = 200, row = 22
        var svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(rows.count * row + 10)\" role=\"img\" aria-label=\"key age per role\">"
        for (index, role) in rows.enumerated() {
            let y = index * row + 4
            let length = Double(role.keyAgeDays ?? 0) / scale * Double(width - left - 10)
            svg += "<text x=\"0\" y=\"\(y + 14)\" font-size=\"12\">\(escape(String(role.role.prefix(28))))</text>"
            svg += "<rect x=\"\(left)\" y=\"\(y)\" width=\"\(f(max(1, length)))\" height=\"16\" fill=\"\(role.overdue ? "#b00020" : "#1b6e20")\"/>"
            if let limit = role.maxKeyAgeDays {
                let x = f(Double(left) + Double(limit) / scale * Double(width - left - 10))
                svg += "<line x1=\"\(x)\" y1=\"\(y - 2)\" x2=\"\(x)\" y2=\"\(y + 18)\" stroke=\"#000\" stroke-dasharray=\"3,2\"/>"
            }
        }
        return svg + "</svg><p class=\"muted\">Bars: days since each role's current key was issued; dashed lines: the policy's limit.</p>"
    }
}

/// What `coffer audit check-export` found in an evidence report.
public struct EvidenceCheck: Codable, Sendable, Equatable {
    /// The fingerprint whose signature verified.
    public let signer: String
    /// The vault the report says it was made from.
    public let vault: String
    /// The ledger entry count and head it says it was made from.
    public let ledger: String
    /// The signature's trusted comment.
    public let trustedComment: String
}

extension EvidenceHTML {
    /// The largest report checked.
    public static let maximumFileSize = 256 << 20

    /// Checks the report at `path` against its detached signature
    /// `path.minisig`, made by the identity the report names (and, if
    /// `expectedSigner` is given, by that one: a fingerprint or `coffer1…`).
    /// - Throws: ``MinisignError`` for a signature that does not verify,
    ///   ``FormatError`` for a file that is not a Coffer report, ``VaultError/notPermitted(_:)`` for another signer.
    public static func check(_ path: String, signer expectedSigner: String? = nil) throws -> EvidenceCheck {
        let bytes = try FileSystem.readSmallFile(path, limit: maximumFileSize)
        let text = String(decoding: bytes.prefix(64 * 1024), as: UTF8.self)
        func meta(_ name: String) throws -> String {
            let opening = "<meta name=\"\(name)\" content=\""
            guard let start = text.range(of: opening), let end = text[start.upperBound...].firstIndex(of: "\"") else {
                throw FormatError.malformed("evidence report", "no \(name)")
            }
            return String(text[start.upperBound..<end])
        }
        guard text.hasPrefix(doctype) else { throw FormatError.malformed("evidence report", "not a Coffer evidence report") }
        let author = try PublicIdentity(try meta("coffer-signer"))
        if let expectedSigner {
            let expected = (try? PublicIdentity(expectedSigner))?.fingerprint ?? expectedSigner.lowercased()
            guard author.fingerprint == expected else {
                throw VaultError.notPermitted("the report is signed by \(author.fingerprint), not by \(expectedSigner)")
            }
        }
        let signature = try MinisignSignature(fileContents: try FileSystem.readSmallFile(path + ".minisig", limit: 64 * 1024))
        let comment = try signature.verify(.file(path: path), publicKey: author.minisignKey)
        return EvidenceCheck(signer: author.fingerprint, vault: try meta("coffer-vault"), ledger: try meta("coffer-ledger"), trustedComment: comment)
    }
}

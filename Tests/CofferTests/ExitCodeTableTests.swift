import CofferKit
import Foundation
import Testing

@testable import coffer

/// docs/CLI.md's exit-code table against the typed errors: every failure
/// kind has exactly one row, under the code the CLI maps it to, and no row
/// names a code that nothing produces.
@Suite("Exit-code table")
struct ExitCodeTableTests {
    /// docs/CLI.md, found from this file's place in the tree.
    static let reference = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/CLI.md")

    /// The rows `| N | meaning | … |` of the table under "## Errors and exit codes", as (code, meaning).
    static func rows() throws -> [(code: Int32, meaning: String)] {
        let text = try String(contentsOf: reference, encoding: .utf8)
        guard let start = text.range(of: "\n## Errors and exit codes\n") else { throw HarnessError("docs/CLI.md has no \"## Errors and exit codes\"") }
        let section = text[start.upperBound...]
        var rows: [(Int32, String)] = []
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("#") { break }  // the next heading ends the table's section
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4, let code = Int32(cells[1]) else { continue }
            rows.append((code, cells[2]))
        }
        return rows
    }

    @Test("every failure kind has exactly one row with its exit code")
    func everyKindDocumented() throws {
        let rows = try Self.rows()
        #expect(!rows.isEmpty, "no rows parsed from \(Self.reference.path)")
        for kind in FailureKind.allCases {
            let code = ExitStatus.code(for: kind)
            let matching = rows.filter { $0.code == code }
            #expect(matching.count == 1, "\(kind) exits \(code), documented in \(matching.count) rows")
        }
        // Each kind has its own code, so a row means one kind.
        let codes = FailureKind.allCases.map(ExitStatus.code(for:))
        #expect(Set(codes).count == codes.count, "two failure kinds share an exit code: \(codes)")
    }

    @Test("no row names a code that no failure kind maps to (0 is success)")
    func noStrayRows() throws {
        let known = Set(FailureKind.allCases.map(ExitStatus.code(for:))).union([0])
        let rows = try Self.rows()
        for row in rows where !known.contains(row.code) {
            Issue.record("docs/CLI.md documents exit \(row.code) (\(row.meaning)), which no FailureKind maps to")
        }
        #expect(rows.filter { $0.code == 0 }.count == 1)
        #expect(Set(rows.map(\.code)).count == rows.count, "a code has more than one row")
    }
}

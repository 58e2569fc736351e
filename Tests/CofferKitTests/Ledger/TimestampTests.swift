import Foundation
import Testing
@testable import CofferKit

@Suite("Timestamp")
struct TimestampTests {
    @Test("formats and parses known instants")
    func knownInstants() {
        let cases: [(TimeInterval, String)] = [
            (0, "1970-01-01T00:00:00Z"),
            (951_782_400, "2000-02-29T00:00:00Z"),
            (1_798_761_599, "2026-12-31T23:59:59Z"),
            (4_107_542_400, "2100-03-01T00:00:00Z"),
            (-1, "1969-12-31T23:59:59Z"),
        ]
        for (seconds, text) in cases {
            #expect(Timestamp.format(Date(timeIntervalSince1970: seconds)) == text)
            #expect(Timestamp.parse(text) == Date(timeIntervalSince1970: seconds))
        }
    }

    @Test("agrees with Foundation's ISO 8601 formatter over many instants")
    func agreesWithFoundation() {
        let reference = ISO8601DateFormatter()
        reference.formatOptions = [.withInternetDateTime]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let date = Date(timeIntervalSince1970: TimeInterval(Int64.random(in: 0...8_000_000_000, using: &generator)))
            let text = Timestamp.format(date)
            #expect(text == reference.string(from: date))
            #expect(Timestamp.parse(text) == date)
        }
    }

    @Test("reads offsets")
    func offsets() {
        #expect(Timestamp.parse("2026-11-29T10:30:00+01:30") == Timestamp.parse("2026-11-29T09:00:00Z"))
        #expect(Timestamp.parse("2026-11-29T10:30:00-02:00") == Timestamp.parse("2026-11-29T12:30:00Z"))
    }

    @Test("refuses malformed text", arguments: [
        "", "2026-11-29", "2026-11-29T08:30:00", "2026-11-29T08:30:00.5Z", "2026-02-29T00:00:00Z",
        "2026-13-01T00:00:00Z", "2026-00-10T00:00:00Z", "2026-11-31T00:00:00Z", "2026-11-29T24:00:00Z",
        "2026-11-29T08:60:00Z", "2026-11-29 08:30:00Z", "2026-11-29T08:30:00+0100", "２026-11-29T08:30:00Z",
        "2026-11-29T08:30:00+24:00", "-026-11-29T08:30:00Z",
    ])
    func malformed(_ text: String) {
        #expect(Timestamp.parse(text) == nil)
    }
}

import Foundation
import Testing

@testable import CofferKit

/// ``Base64`` over libsodium's constant-time codec: strict and canonical.
@Suite("Base64")
struct Base64Tests {
    @Test("round trips at every length, padded and unpadded, as Foundation encodes")
    func roundTrip() {
        for length in 0..<70 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.encode(bytes) == Data(bytes).base64EncodedString())
            #expect(Base64.encode(bytes, padded: false) == Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: ""))
            #expect(Base64.decode(Base64.encode(bytes)) == bytes)
            #expect(Base64.decode(Base64.encode(bytes, padded: false), padded: false) == bytes)
        }
    }

    @Test("refuses non-canonical, wrongly padded, whitespace, other alphabets and every byte above 0x7F", arguments: [
        ("QR==", true), ("QQ=", true), ("QQ", true), ("QQ=A", true), ("Q===", true), ("QUJD====", true), ("QQ==QQ==", true),
        ("QUI=\n", true), (" QUI=", true), ("QU I=", true), ("-_8=", true), ("QQ==", false), ("QR", false), ("Q", false), ("QUJDQ", false),
    ])
    func refusals(_ text: String, _ padded: Bool) {
        #expect(Base64.decode(text, padded: padded) == nil, "\(text)")
    }

    @Test("a byte with its top bit set is refused wherever it is (libsodium 1.0.18 alone maps it to a value)")
    func highBit() {
        let valid = Array("QUJDREVG".utf8)
        #expect(Base64.decode(bytes: valid, padded: false) == Array("ABCDEF".utf8))
        for index in valid.indices {
            var flipped = valid
            flipped[index] |= 0x80
            #expect(Base64.decode(bytes: flipped, padded: false) == nil, "byte \(index)")
            #expect(Base64.decode(bytes: flipped, padded: true) == nil, "byte \(index)")
        }
    }
}

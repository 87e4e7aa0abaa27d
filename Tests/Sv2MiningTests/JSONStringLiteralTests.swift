import Foundation
import Sv2Mining
import Testing

/// The one JSON escaper of the block journal and the Bitcoin Core RPC requests: untrusted text (user identities,
/// reject reasons) must come back unchanged from a JSON reader and never break a journal line.
@Suite struct JSONStringLiteralTests {
    @Test func hostileTextRoundTripsThroughAJSONReader() throws {
        let samples = [
            "", "plain.worker", "quote\" backslash\\ slash/", "line\nbreak\r\ttab", "nul\u{0}bell\u{7}esc\u{1b}",
            "del\u{7f}", "separators\u{2028}\u{2029}", "ünïcødé ⛏️ 🚀", "}\n{\"event\":\"forged\"}",
        ]
        for text in samples {
            let literal = JSONStringLiteral.quoted(text)
            // One line whatever the input: a journal line cannot be split or forged.
            #expect(!literal.contains("\n") && !literal.contains("\r") && !literal.contains("\u{2028}"))
            #expect(!literal.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f })
            let decoded = try JSONSerialization.jsonObject(with: Data("[\(literal)]".utf8)) as? [String]
            #expect(decoded == [text])
        }
        #expect(JSONStringLiteral.quoted("a\"b") == #""a\"b""#)
        #expect(JSONStringLiteral.quoted("\u{1}") == #""\u0001""#)
    }
}

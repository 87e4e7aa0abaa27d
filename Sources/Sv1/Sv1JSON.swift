/// Minimal JSON text building for the lines the translator writes. Encoding is done by hand (every message has a
/// fixed shape) so that only the strings that come from peers need escaping, and the output is byte-for-byte
/// predictable; parsing uses Foundation (see ``Sv1Request``).
public enum Sv1JSON {
    /// `text` as a JSON string literal, escaped per RFC 8259.
    public static func quote(_ text: String) -> String {
        var out = "\""
        out.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                // DEL, U+2028 and U+2029 too, as `JSONStringLiteral` does: some JSON readers (old firmware, JavaScript
                // tooling on the logs) take them as line ends, and the text often comes from peers.
                if scalar.value < 0x20 || scalar.value == 0x7f || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
        return out
    }

    /// A difficulty as a JSON number: integral values without a fraction, others with full precision. Non-finite
    /// values (never produced by the translator) are written as 1 rather than invalid JSON.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "1" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

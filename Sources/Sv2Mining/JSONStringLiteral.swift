/// JSON string literals for the hand-built JSON lines the pool and the JD server write (the block journal, Bitcoin
/// Core RPC requests): one escaper, so untrusted text (user identities, reasons) is escaped the same way everywhere.
/// (`Sv1JSON.quote` is the Sv1 module's own, escaping the same characters: that module depends on nothing.)
public enum JSONStringLiteral {
    /// `text` as a JSON string literal: quotes, backslashes and control characters escaped, and DEL, U+2028 and
    /// U+2029 too (some JSON readers treat those as line ends, and the text often comes from peers).
    public static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7f || scalar.value == 0x2028 || scalar.value == 0x2029 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }
}

/// Recognises the one answer a Stratum V1 load test gets most, `{"id":N,"result":true,"error":null}` byte for byte
/// (what `sv2 translator` and most pools write for an accepted share), without Foundation's JSON parser, which
/// allocates per line. Any other spelling (spaces, another key order, extra keys) is left to `Sv1ServerMessage`.
enum Sv1AcceptedAnswer {
    private static let prefix: StaticString = #"{"id":"#
    private static let suffix: StaticString = #","result":true,"error":null}"#

    /// The id of `line` when it is exactly that answer with a non-negative integer id (at most 18 digits, no
    /// leading zero), else nil.
    static func id(in line: UnsafeRawBufferPointer) -> Int64? {
        let prefixCount = prefix.utf8CodeUnitCount
        let suffixCount = suffix.utf8CodeUnitCount
        let digits = line.count - prefixCount - suffixCount
        guard digits >= 1, digits <= 18 else { return nil }
        guard matches(prefix, line, at: 0), matches(suffix, line, at: prefixCount + digits) else { return nil }
        if digits > 1 && line[prefixCount] == UInt8(ascii: "0") { return nil }
        var value: Int64 = 0
        for index in prefixCount..<(prefixCount + digits) {
            let byte = line[index]
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int64(byte - UInt8(ascii: "0"))
        }
        return value
    }

    private static func matches(_ text: StaticString, _ line: UnsafeRawBufferPointer, at offset: Int) -> Bool {
        text.withUTF8Buffer { expected in
            for index in 0..<expected.count where line[offset + index] != expected[index] { return false }
            return true
        }
    }
}

import Foundation
import Testing

/// Hex helpers and CSV loading for the vector tests.
enum TestData {
    static func bytes(_ hex: String) -> [UInt8] {
        precondition(hex.count % 2 == 0, "odd hex length")
        var out = [UInt8]()
        out.reserveCapacity(hex.count / 2)
        var it = hex.utf8.makeIterator()
        while let hi = it.next(), let lo = it.next() {
            out.append(UInt8(nibble(hi) << 4 | nibble(lo)))
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> Int {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A") + 10)
        default: preconditionFailure("bad hex digit")
        }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Rows of a vector CSV as dictionaries keyed by the header line (plain comma split: the
    /// BIP vector files never quote commas inside a field they use).
    static func csv(_ name: String) throws -> [[String: String]] {
        let url = try #require(Bundle.module.url(forResource: name, withExtension: "csv", subdirectory: "Vectors"))
        let lines = try String(contentsOf: url, encoding: .utf8).split(whereSeparator: \.isNewline)
        let header = lines[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        return lines.dropFirst().map { line in
            let cells = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            var row = [String: String]()
            for (i, key) in header.enumerated() { row[key] = i < cells.count ? cells[i] : "" }
            return row
        }
    }
}

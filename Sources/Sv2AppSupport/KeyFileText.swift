/// The text form of key files: `name = "value"` lines, `#` comments and blank lines — the TOML subset that
/// `sv2 keys` writes (and that a config file can hold too). Values are base58check or hex: no escapes.
public enum KeyFileText {
    /// The entries of `text`; `path` only names the file in errors. Duplicate names are an error.
    public static func parse(_ text: String, path: String) throws(AppSupportError) -> [String: String] {
        var entries: [String: String] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.trimmingWhitespace()
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let equals = line.firstIndex(of: "=") else {
                throw .malformedKeyFile(path: path, reason: "line \(index + 1) is not `name = \"value\"`")
            }
            let name = String(line[..<equals].trimmingWhitespace())
            let value = line[line.index(after: equals)...].trimmingWhitespace()
            guard !name.isEmpty, value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\""),
                  !value.dropFirst().dropLast().contains("\"")
            else {
                // The value is not echoed: it may be a secret.
                throw .malformedKeyFile(path: path, reason: "line \(index + 1) is not `name = \"value\"`")
            }
            guard entries.updateValue(String(value.dropFirst().dropLast()), forKey: name) == nil else {
                throw .malformedKeyFile(path: path, reason: "`\(name)` appears twice")
            }
        }
        return entries
    }

    /// `name = "value"` lines under `comment` lines, in the given order.
    public static func render(comment: [String], entries: [(name: String, value: String)]) -> String {
        (comment.map { "# " + $0 } + entries.map { "\($0.name) = \"\($0.value)\"" }).joined(separator: "\n") + "\n"
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> Substring {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }) else { return Substring("") }
        let last = lastIndex(where: { !isSpace($0) })!
        return Substring(self[first...last])
    }
}

import ArgumentParser
import Foundation
import Glibc
import Sv2AppSupport
import TOMLKit

/// An app's optional TOML configuration file. Keys are the long flag names (`listen`, `authority-secret-key`, …);
/// a value given as a flag wins over the file, and the file wins over the built-in default. Unknown keys are an
/// error, so a typo never silently falls back to a default.
struct ConfigFile {
    private let table: TOMLTable?
    private let path: String

    /// Loads `path` (nothing when `nil`), refusing keys outside `allowedKeys`.
    init(path: String?, allowedKeys: Set<String>) throws {
        self.path = path ?? ""
        guard let path else {
            table = nil
            return
        }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw ValidationError("cannot read config file \(path): \(error.localizedDescription)")
        }
        do { table = try TOMLTable(string: text) } catch {
            throw ValidationError("config file \(path) is not valid TOML: \(error)")
        }
        let unknown = Set(table!.keys).subtracting(allowedKeys)
        guard unknown.isEmpty else {
            throw ValidationError("config file \(path): unknown keys \(unknown.sorted().joined(separator: ", ")); "
                + "allowed: \(allowedKeys.sorted().joined(separator: ", "))")
        }
    }

    private func value<T>(_ key: String, _ kind: String, _ read: (any TOMLValueConvertible) -> T?) throws -> T? {
        guard let raw = table?[key] else { return nil }
        guard let typed = read(raw) else { throw ValidationError("config file \(path): `\(key)` must be \(kind)") }
        return typed
    }

    /// Flag, else file, else `defaultValue`.
    func string(_ flag: String?, _ key: String, default defaultValue: String) throws -> String {
        try flag ?? value(key, "a string", { $0.string }) ?? defaultValue
    }

    /// Flags (repeatable option), else the file's string or array of strings, else empty.
    func strings(_ flags: [String], _ key: String) throws -> [String] {
        guard flags.isEmpty else { return flags }
        guard let raw = table?[key] else { return [] }
        if let single = raw.string { return [single] }
        guard let array = raw.array?.map({ $0.string }), array.allSatisfy({ $0 != nil }) else {
            throw ValidationError("config file \(path): `\(key)` must be a string or an array of strings")
        }
        return array.compactMap { $0 }
    }

    /// Flag, else file, else `nil`.
    func optionalString(_ flag: String?, _ key: String) throws -> String? {
        try flag ?? value(key, "a string", { $0.string })
    }

    /// A secret from the file (`nil` when absent). The file must then be private to its owner (mode 600), like any
    /// key file: a config readable by others would leak it.
    func privateString(_ key: String) throws -> String? {
        guard let secret = try value(key, "a string", { $0.string }) else { return nil }
        var info = stat()
        guard stat(path, &info) == 0 else { throw ValidationError("config file \(path): cannot stat it") }
        do { try SecretFile.checkPrivate(path, mode: info.st_mode, owner: info.st_uid) } catch {
            throw ValidationError("config file \(path) holds `\(key)`: \(error)")
        }
        return secret
    }

    /// Flag, else file, else `defaultValue`.
    func int(_ flag: Int?, _ key: String, default defaultValue: Int) throws -> Int {
        try flag ?? value(key, "an integer", { $0.int }) ?? defaultValue
    }

    /// Flag, else file, else `nil`.
    func optionalInt(_ flag: Int?, _ key: String) throws -> Int? {
        try flag ?? value(key, "an integer", { $0.int })
    }

    /// Flag, else file, else `defaultValue` (integers in the file are accepted too).
    func double(_ flag: Double?, _ key: String, default defaultValue: Double) throws -> Double {
        try flag ?? value(key, "a number", { $0.double ?? $0.int.map(Double.init) }) ?? defaultValue
    }

    /// Flag, else file, else `nil` (integers in the file are accepted too).
    func optionalDouble(_ flag: Double?, _ key: String) throws -> Double? {
        try flag ?? value(key, "a number", { $0.double ?? $0.int.map(Double.init) })
    }

    /// Flag, else file, else `defaultValue`.
    func bool(_ flag: Bool?, _ key: String, default defaultValue: Bool) throws -> Bool {
        try flag ?? value(key, "true or false", { $0.bool }) ?? defaultValue
    }
}

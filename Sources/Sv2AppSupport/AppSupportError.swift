import Glibc

/// Why a data directory, key file or setting of the sv2 apps could not be used.
///
/// No case ever carries a secret: only paths, modes and what was wrong.
public enum AppSupportError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A system call failed on `path`.
    case system(path: String, operation: String, errno: Int32)
    /// `path` exists but is not what it should be (a directory, a regular file).
    case wrongKind(path: String, expected: String)
    /// A secret file or directory is open to other users (mode shown in octal).
    case insecurePermissions(path: String, mode: UInt32, allowed: String)
    /// A secret file is larger than any key file (never read whole).
    case fileTooLarge(path: String, limit: Int)
    /// A file to be created already exists (keys are never overwritten).
    case alreadyExists(path: String)
    /// A key file's text is not in the expected `name = "value"` form, or lacks an entry.
    case malformedKeyFile(path: String, reason: String)
    /// A key from `source` (a path, a flag or a variable name; never the key itself) is not a valid key.
    case invalidKey(source: String)
    /// Two sources for the same secret were given.
    case conflictingOptions(String)
    /// A server certificate does not verify, has expired, or its validity cannot be represented.
    case certificate(String)

    public var description: String {
        switch self {
        case .system(let path, let operation, let code):
            "\(path): \(operation) failed: \(String(cString: strerror(code)))"
        case .wrongKind(let path, let expected):
            "\(path) is not \(expected)"
        case .insecurePermissions(let path, let mode, let allowed):
            "\(path) is accessible to other users (mode \(String(mode & 0o7777, radix: 8))); it must be \(allowed): "
                + "run `chmod \(allowed.hasPrefix("a dir") ? "700" : "600") \(path)`"
        case .fileTooLarge(let path, let limit):
            "\(path) is larger than \(limit) bytes: not a key file"
        case .alreadyExists(let path):
            "\(path) already exists; keys are never overwritten (move it away first)"
        case .malformedKeyFile(let path, let reason):
            "\(path): \(reason)"
        case .invalidKey(let source):
            "\(source): not a valid key"
        case .conflictingOptions(let text):
            text
        case .certificate(let text):
            text
        }
    }
}

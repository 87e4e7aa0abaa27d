import Glibc

/// A failure of the reactor, carrying the `errno` (if any) and what was being attempted.
public struct ReactorError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of failure this is.
    public enum Kind: Sendable, Equatable {
        /// A system call failed; see ``ReactorError/errno``.
        case system
        /// A connect attempt did not complete within its timeout.
        case timedOut
        /// The configuration failed validation.
        case invalidConfiguration
        /// A socket address could not be parsed.
        case invalidAddress
        /// The loop is stopping or stopped and refuses new work.
        case stopped
        /// The requested backend is not available on this kernel.
        case backendUnavailable
    }

    /// What kind of failure this is.
    public var kind: Kind
    /// The `errno` value reported by the failing system call, or 0.
    public var errno: Int32
    /// What was being attempted, e.g. `"bind 127.0.0.1:3333"`.
    public var context: String

    /// Creates an error.
    public init(_ kind: Kind, errno: Int32 = 0, context: String) {
        self.kind = kind
        self.errno = errno
        self.context = context
    }

    static func system(_ errno: Int32, _ context: @autoclosure () -> String) -> ReactorError {
        ReactorError(.system, errno: errno, context: context())
    }

    /// A human-readable description including `strerror(errno)`.
    public var description: String {
        if errno != 0 {
            return "\(context): \(kind) (errno \(errno): \(String(cString: strerror(errno))))"
        }
        return "\(context): \(kind)"
    }
}

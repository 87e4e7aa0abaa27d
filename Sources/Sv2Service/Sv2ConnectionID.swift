/// Identifies one connection of a service for its whole life (never reused within a process).
public struct Sv2ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The reactor's connection id.
    public let rawValue: UInt64

    /// Wraps a reactor connection id.
    public init(_ rawValue: UInt64) { self.rawValue = rawValue }

    public static func < (lhs: Sv2ConnectionID, rhs: Sv2ConnectionID) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { "conn#\(rawValue)" }
}

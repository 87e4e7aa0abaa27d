/// Counters of one service, kept as plain integers on the loop thread (no atomics or metrics calls per frame) and
/// exported to swift-metrics once a second.
public struct Sv2ServiceStatistics: Sendable, Equatable {
    /// Connections accepted (server) or established (client).
    public var connectionsOpened = 0
    /// Connections closed for any reason.
    public var connectionsClosed = 0
    /// Connections refused at accept, for any reason (closed before any crypto); the fields below say why.
    public var connectionsRefused = 0
    /// Of `connectionsRefused`: `maxConnections` reached.
    public var refusedMaxConnections = 0
    /// Of `connectionsRefused`: `maxHandshakesInFlight` reached.
    public var refusedHandshakesInFlight = 0
    /// Of `connectionsRefused`: the source already had `maxConnectionsPerSource` connections.
    public var refusedSourceConnections = 0
    /// Of `connectionsRefused`: the source's token bucket (`newConnectionsPerSource…`) was empty.
    public var refusedSourceRate = 0
    /// Noise act 1s answered in a later loop iteration because the iteration's handshake budget was spent.
    public var handshakesDeferred = 0
    /// Noise act 1s handed to the handshake worker thread (`handshakesOnWorkerThread`).
    public var handshakesOffloaded = 0
    /// Act 2s the worker computed for connections that had closed by then (dropped).
    public var handshakeAnswersDropped = 0
    /// Warning lines about closed or refused connections suppressed by the log rate limit.
    public var logLinesSuppressed = 0
    /// Noise handshakes completed.
    public var handshakesCompleted = 0
    /// SetupConnection exchanges that succeeded.
    public var setupsAccepted = 0
    /// SetupConnection exchanges refused (unsupported protocol, version or flags).
    public var setupsRefused = 0
    /// Frames received and dispatched.
    public var framesIn = 0
    /// Frames sent.
    public var framesOut = 0
    /// Connections closed because of an error (malformed input, bad MAC, timeouts, handler errors…).
    public var errors = 0
    /// Of `errors`: handshake (Noise or setup) failures, including handshake timeouts.
    public var handshakeFailures = 0
    /// Of `errors`: frames rejected (malformed, unknown, unexpected, wrong protocol/channel, handler refusals).
    public var rejectedFrames = 0
    /// Of `errors`: inactivity timeouts.
    public var inactivityTimeouts = 0
    /// Of `errors`: how many of each kind, keyed by `Sv2ServiceError.metricLabel` (error path only, never per frame).
    public var errorCounts: [String: Int] = [:]

    /// How many connections were closed for errors of `kind` (a `Sv2ServiceError.metricLabel`).
    public func errors(_ kind: String) -> Int { errorCounts[kind] ?? 0 }

    /// Connections currently open.
    public var connectionsActive: Int { connectionsOpened - connectionsClosed }

    /// Creates zeroed statistics.
    public init() {}
}

import Reactor

/// Admission control before authentication: decides at accept, from counters only (no crypto, no allocation beyond a
/// per-source entry), whether a new connection may start a handshake. Loop thread only.
///
/// Three limits, all from `Sv2ServerConfiguration`: handshakes in flight (connections not yet set up), connections per
/// source (`SourceKey`: an IPv4 address or an IPv6 /64) and a token bucket per source for new connections. Refused
/// connections are closed by the reactor right after accept.
final class Sv2Admission {
    /// Why a connection was refused.
    enum Refusal: String {
        case maxConnections = "max_connections"
        case handshakesInFlight = "handshakes_in_flight"
        case sourceConnections = "source_connections"
        case sourceRate = "source_rate"
    }

    private struct Source {
        var connections = 0
        /// Tokens left in the bucket (fractional: refilled continuously).
        var tokens: Double
        var refilledAt: UInt64
    }

    private let maxHandshakesInFlight: Int
    private let maxConnectionsPerSource: Int
    private let ratePerNanosecond: Double
    private let burst: Double
    private var sources: [SourceKey: Source] = [:]
    private var pruneThreshold = 4096
    /// Connections accepted and not yet set up (or closed).
    private(set) var handshakesInFlight = 0

    init(configuration: Sv2ServerConfiguration) {
        maxHandshakesInFlight = configuration.maxHandshakesInFlight
        maxConnectionsPerSource = configuration.maxConnectionsPerSource
        ratePerNanosecond = configuration.newConnectionsPerSourcePerSecond / 1e9
        burst = Double(configuration.newConnectionsPerSourceBurst)
    }

    /// Admits a connection from `source` (taking a token and counting it) or says why not.
    func admit(_ source: SourceKey, now: UInt64) -> Refusal? {
        guard handshakesInFlight < maxHandshakesInFlight else { return .handshakesInFlight }
        var entry = sources[source] ?? Source(tokens: burst, refilledAt: now)
        guard entry.connections < maxConnectionsPerSource else { return .sourceConnections }
        entry.tokens = Swift.min(burst, entry.tokens + Double(now &- entry.refilledAt) * ratePerNanosecond)
        entry.refilledAt = now
        guard entry.tokens >= 1 else {
            sources[source] = entry
            return .sourceRate
        }
        entry.tokens -= 1
        entry.connections += 1
        sources[source] = entry
        handshakesInFlight += 1
        if sources.count >= pruneThreshold { prune(now: now) }
        return nil
    }

    /// A connection's handshake ended (set up, or closed before that).
    func handshakeEnded() {
        handshakesInFlight -= 1
    }

    /// A connection admitted from `source` closed.
    func released(_ source: SourceKey) {
        guard var entry = sources[source] else { return }
        entry.connections -= 1
        sources[source] = entry
    }

    /// Number of sources tracked (bounded: see `prune`).
    var trackedSources: Int { sources.count }

    /// Forgets sources without connections whose bucket has refilled (forgetting them loses nothing), then, if the
    /// table is still large (a spoofed-looking spread of sources), every source without connections — lenient, but the
    /// table stays bounded by the open connections plus the threshold.
    private func prune(now: UInt64) {
        sources = sources.filter { _, entry in
            entry.connections > 0
                || entry.tokens + Double(now &- entry.refilledAt) * ratePerNanosecond < burst
        }
        if sources.count >= pruneThreshold { sources = sources.filter { $0.value.connections > 0 } }
        pruneThreshold = Swift.max(4096, sources.count * 2)
    }
}

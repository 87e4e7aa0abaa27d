import Foundation

/// The result of a load test: settings, totals, rates, latency and the "nothing lost" verdict.
public struct LoadTestReport: Codable, Sendable {
    /// The settings the run used.
    public struct Setup: Codable, Sendable, Equatable {
        /// `host:port` of the pool.
        public var target: String
        /// Simulated miners.
        public var connections: Int
        /// Event loops of the load generator.
        public var eventLoops: Int
        /// Reactor backend of the load generator.
        public var backend: String
        /// Whether Noise was on.
        public var noise: Bool
        /// Shares per second per connection (0: closed loop).
        public var sharesPerSecondPerConnection: Double
        /// Outstanding shares per connection in closed-loop mode.
        public var sharesInFlight: Int
        /// Ramp-up, seconds.
        public var rampUpSeconds: Double
        /// Measured phase, seconds.
        public var durationSeconds: Double
        /// Handshake-only mode.
        public var handshakeOnly: Bool
        /// Idle mode (channels open, no shares).
        public var idle: Bool
        /// Distinct local source addresses used.
        public var sourceAddresses: Int
        /// Channel type: `standard` or `extended` (`sv1` in Stratum V1 mode).
        public var channel = LoadTestChannelKind.standard.rawValue
        /// The protocol spoken: `sv2` or `sv1`.
        public var `protocol` = "sv2"
    }

    /// The "nothing lost" verdict.
    public struct Verdict: Codable, Sendable, Equatable {
        /// True when every share was acknowledged exactly once and no connection failed.
        public var passed: Bool
        /// What did not match, one sentence each.
        public var problems: [String]
    }

    /// When the run started (ISO 8601).
    public var date: String
    /// Settings.
    public var setup: Setup
    /// Wall time of the whole run, seconds.
    public var elapsedSeconds: Double
    /// Totals.
    public var counters: LoadTestCounters
    /// Handshakes (Noise + SetupConnection) completed per second.
    public var handshakesPerSecond: Double
    /// Shares sent per second during the measured phase.
    public var sharesSentPerSecond: Double
    /// Shares acknowledged as accepted per second during the measured phase.
    public var sharesAcceptedPerSecond: Double
    /// Share acknowledgement latency over the whole run, microseconds.
    public var latencyMicroseconds: LatencySummary
    /// Every share acknowledged, totals consistent.
    public var nothingLost: Verdict

    /// Checks the client-side totals (and, when given, the server's own counters) and fills ``nothingLost``.
    public mutating func check(serverAccepted: Int? = nil, serverRejected: Int? = nil) {
        var problems: [String] = []
        let c = counters
        if c.sharesSent != c.sharesAccepted + c.sharesRejected {
            problems.append("\(c.sharesSent) shares sent but \(c.sharesAccepted) accepted + \(c.sharesRejected) rejected "
                            + "(\(c.sharesOutstanding) unacknowledged)")
        }
        if c.sharesLostOnClose > 0 { problems.append("\(c.sharesLostOnClose) shares lost with their connection") }
        if c.unmatchedAcknowledgements > 0 {
            problems.append("\(c.unmatchedAcknowledgements) acknowledgements for shares that were not outstanding")
        }
        if c.acknowledgementCountMismatches > 0 {
            problems.append("\(c.acknowledgementCountMismatches) SubmitShares.Success counts differ from the shares they cover")
        }
        if c.connectFailures > 0 { problems.append("\(c.connectFailures) connects failed") }
        if c.handshakeFailures > 0 { problems.append("\(c.handshakeFailures) handshakes failed") }
        if c.unexpectedCloses > 0 { problems.append("\(c.unexpectedCloses) connections closed by the server") }
        if c.jobErrors > 0 { problems.append("\(c.jobErrors) job messages could not be applied") }
        if c.protocolErrors > 0 {
            problems.append("\(c.protocolErrors) malformed lines from the server"
                + (c.firstProtocolError.map { " (first: \($0))" } ?? ""))
        }
        if c.channelOpenFailures > 0 { problems.append("\(c.channelOpenFailures) channel opens refused") }
        if !setup.handshakeOnly && c.channelsOpened < setup.connections {
            problems.append("only \(c.channelsOpened) of \(setup.connections) channels opened")
        }
        if let serverAccepted, serverAccepted != c.sharesAccepted {
            problems.append("server counted \(serverAccepted) accepted shares, clients \(c.sharesAccepted)")
        }
        if let serverRejected, serverRejected != c.sharesRejected {
            problems.append("server counted \(serverRejected) rejected shares, clients \(c.sharesRejected)")
        }
        nothingLost = Verdict(passed: problems.isEmpty, problems: problems)
    }

    /// The report as pretty-printed JSON with sorted keys.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        guard let data = try? encoder.encode(self) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }

    /// The human-readable summary table.
    public var table: String {
        let c = counters
        let l = latencyMicroseconds
        func rate(_ value: Double) -> String { LatencySummary.formatFixed(value, digits: 1) }
        func ms(_ value: UInt64) -> String { LatencySummary.format(microseconds: value) }
        let mode = setup.handshakeOnly ? "handshake-only" : setup.idle ? "idle"
            : setup.sharesPerSecondPerConnection == 0 ? "closed loop, \(setup.sharesInFlight) in flight"
            : "\(setup.sharesPerSecondPerConnection) shares/s per connection"
        let rows: [(String, String)] = [
            ("target", setup.protocol == "sv1" ? "\(setup.target) (Stratum V1, \(mode))"
                : "\(setup.target) (\(setup.noise ? "Noise" : "plain"), \(setup.channel) channels, \(mode))"),
            ("connections", "\(setup.connections) over \(setup.eventLoops) loop(s), \(setup.backend), "
                + "\(setup.sourceAddresses) source address(es); peak up \(c.peakConnectionsUp)"),
            ("phases", "ramp-up \(rate(setup.rampUpSeconds)) s, measured \(rate(setup.durationSeconds)) s, "
                + "total \(rate(elapsedSeconds)) s"),
            ("handshakes", "\(c.handshakesCompleted) completed, \(rate(handshakesPerSecond))/s; failed: connect "
                + "\(c.connectFailures), handshake \(c.handshakeFailures)"),
            ("shares", "sent \(c.sharesSent), accepted \(c.sharesAccepted), rejected \(c.sharesRejected), "
                + "unacknowledged \(c.sharesOutstanding)"
                + (c.cumulativeCountChannels > 0
                    ? " (\(c.cumulativeCountChannels) channels' pool counts were cumulative; counted from sequence numbers)"
                    : "")),
            ("shares/s", "sent \(rate(sharesSentPerSecond)), accepted \(rate(sharesAcceptedPerSecond)) (measured phase)"),
            ("ack latency", "p50 \(ms(l.p50))  p90 \(ms(l.p90))  p99 \(ms(l.p99))  p99.9 \(ms(l.p999))  max \(ms(l.max))"
                + "  (\(l.count) samples)"),
            ("rejections", c.rejectionCodes.isEmpty ? "none"
                : c.rejectionCodes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")),
            ("nothing lost", nothingLost.passed ? "PASS" : "FAIL: " + nothingLost.problems.joined(separator: "; ")),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        return rows.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 }
            .joined(separator: "\n")
    }
}

public import Sv2Proxy

/// Exports a ``ProxyAggregator`` to swift-metrics (prefix `sv2_proxy_`, label `server="<name>"`): `channels`,
/// `connections`, `shares_received_total`, `shares_forwarded_total`, `shares_accepted_locally_total`,
/// `shares_rejected_total{reason}` (local rejections), `shares_dropped_congested_total`,
/// `upstream_accepted_total`, `upstream_rejected_total`, `jobs_received_total`, `jobs_sent_total`,
/// `blocks_found_total`, `upstream_up`; plus the downstream server's `sv2_server_*` series. Call ``export()`` on
/// the proxy's loop thread.
public final class ProxyMetrics {
    private let proxy: ProxyAggregator
    private let server: [(String, String)]
    private var channels: GaugeExport
    private var connections: GaugeExport
    private var received: DeltaCounter
    private var forwarded: DeltaCounter
    private var acceptedLocally: DeltaCounter
    private var congested: DeltaCounter
    private var upstreamAccepted: DeltaCounter
    private var upstreamRejected: DeltaCounter
    private var jobsReceived: DeltaCounter
    private var jobsSent: DeltaCounter
    private var blocks: DeltaCounter
    private var upstreamUp: GaugeExport
    private var rejected: [String: DeltaCounter] = [:]

    /// The `server` label value.
    public let name: String

    /// Creates the series for `proxy`, labelled `server="<name>"`.
    public init(proxy: ProxyAggregator, name: String) {
        self.proxy = proxy
        self.name = name
        server = [("server", name)]
        func counter(_ suffix: String) -> DeltaCounter { DeltaCounter("sv2_proxy_\(suffix)", [("server", name)]) }
        func gauge(_ suffix: String) -> GaugeExport { GaugeExport("sv2_proxy_\(suffix)", [("server", name)]) }
        channels = gauge("channels")
        connections = gauge("connections")
        received = counter("shares_received_total")
        forwarded = counter("shares_forwarded_total")
        acceptedLocally = counter("shares_accepted_locally_total")
        congested = counter("shares_dropped_congested_total")
        upstreamAccepted = counter("upstream_accepted_total")
        upstreamRejected = counter("upstream_rejected_total")
        jobsReceived = counter("jobs_received_total")
        jobsSent = counter("jobs_sent_total")
        blocks = counter("blocks_found_total")
        upstreamUp = gauge("upstream_up")
    }

    /// Reads every counter and records it. Loop thread only.
    public func export() {
        let s = proxy.statistics
        proxy.server?.exportMetrics()
        channels.set(s.openChannels)
        connections.set(proxy.server?.statistics.connectionsActive ?? 0)
        received.update(s.sharesReceived)
        forwarded.update(s.sharesForwarded)
        acceptedLocally.update(s.sharesAcceptedLocally)
        congested.update(s.sharesDroppedCongested)
        upstreamAccepted.update(s.upstreamAccepted)
        upstreamRejected.update(s.upstreamRejected)
        jobsReceived.update(s.jobsReceived)
        jobsSent.update(s.jobsSent)
        blocks.update(s.blocksFound)
        var up = false
        if case .ready = proxy.upstream?.state { up = true }
        upstreamUp.set(up ? 1 : 0)
        // Reasons are the pool's and the proxy's fixed error codes: bounded.
        for (reason, count) in s.rejections {
            var counter = rejected[reason] ?? DeltaCounter("sv2_proxy_shares_rejected_total", server + [("reason", reason)])
            counter.update(count)
            rejected[reason] = counter
        }
    }
}

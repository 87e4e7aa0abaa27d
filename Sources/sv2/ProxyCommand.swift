import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Metrics
import Sv2Bitcoin
import Sv2Proxy
import Sv2Service

/// `sv2 proxy`: standard channels downstream aggregated into one extended channel upstream.
struct ProxyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "Aggregate many miners' standard channels into one extended channel to a pool.",
        discussion: """
            A Mining server for miners plus its sibling Mining client to the pool, on one event loop. Each miner's \
            channel gets a slice of the upstream extranonce space; shares meeting the pool's target are forwarded.

            Noise towards miners: the proxy's own authority key comes from --authority-secret-key-file, \
            $SV2_AUTHORITY_SECRET_KEY, --authority-secret-key or --server-key-file like the pool's; by default it is \
            kept in the data directory (file proxy-authority-secret-key, mode 600) and reused on restart.

            Example:
              sv2 proxy --listen 0.0.0.0:34255 --upstream 10.0.0.1:34254 --upstream-authority-key 9bXiEd8…
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Address miners connect to (default 127.0.0.1:34255).")
    var listen: String?

    @OptionGroup var serverKeys: ServerKeyOptions

    @OptionGroup(title: "Admission control (before authentication)") var admission: AdmissionOptions

    @Flag(name: .long, help: "Serve miners without Noise.")
    var noNoise = false

    @Option(name: .long, help: "The pool's address, host:port (repeat for fail-over in order of preference; default 127.0.0.1:34254). Miners stay connected while the proxy reconnects.")
    var upstream: [String] = []

    @Option(name: .long, help: "The pool's authority public key (base58check).")
    var upstreamAuthorityKey: String?

    @Flag(name: .long, help: "Connect to the pool without Noise.")
    var upstreamNoNoise = false

    @Option(name: .long, help: "user_identity of the upstream channel (default sv2-proxy).")
    var user: String?

    @Option(name: .long, help: "Target shares per minute per miner (default 6).")
    var sharesPerMinute: Double?

    @Option(name: .long, help: "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9101).")
    var metrics: String?

    @Option(name: .long, help: "The server label of this proxy's metrics (default proxy).")
    var metricsName: String?

    static let keys: Set<String> = RuntimeOptions.keys.union(ServerKeyOptions.keys).union(AdmissionOptions.keys).union([
        "listen", "no-noise", "upstream", "upstream-authority-key", "upstream-no-noise",
        "user", "shares-per-minute", "metrics", "metrics-name",
    ])

    func run() throws {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys)
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .info))
        let keys = try serverKeys.resolveAndAnnounce(
            file, app: "proxy", noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false))
        var downstream = Sv2ServerConfiguration(
            listenAddress: try socketAddress(try file.string(listen, "listen", default: "127.0.0.1:34255"), option: "listen"),
            noise: keys.identity)
        downstream.maxConnections = LoopHost.defaultMaxConnections()
        try admission.apply(to: &downstream, file)
        let metricsLabel = try file.string(metricsName, "metrics-name", default: "proxy")
        downstream.metricsName = metricsLabel
        let metricsEndpoint = try MetricsEndpoint.prepare(try file.optionalString(metrics, "metrics"))
        var upstreams = try file.strings(upstream, "upstream").map { try endpoint($0, option: "upstream") }
        if upstreams.isEmpty { upstreams = [Endpoint(host: "127.0.0.1", port: 34254)] }
        let upstreamConfiguration = Sv2ClientConfiguration(
            // A placeholder when the first upstream is a host name: every attempt connects to what it resolves to.
            serverAddress: try upstreams[0].numericAddress ?? SocketAddress(ip: "127.0.0.1", port: upstreams[0].port),
            sv2Protocol: .mining,
            security: try clientSecurity(
                authorityKey: try file.optionalString(upstreamAuthorityKey, "upstream-authority-key"),
                noNoise: try file.bool(upstreamNoNoise ? true : nil, "upstream-no-noise", default: false),
                option: "upstream-authority-key"))
        var configuration = ProxyConfiguration(
            downstream: downstream, upstream: upstreamConfiguration,
            userIdentity: try file.string(user, "user", default: "sv2-proxy"))
        configuration.downstreamSharesPerMinute = try file.double(sharesPerMinute, "shares-per-minute", default: 6)
        configuration.upstreamEndpoints = upstreams
        var proxy: ProxyAggregator?
        var metricsServer: MetricsHTTPServer?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10), status: { if let proxy { print(ProxyCommand.status(proxy)) } },
            setUp: { loop in
                let started = try ProxyAggregator.start(configuration: configuration, eventLoop: loop)
                print("proxy listening on \(started.localAddress.map { "\($0)" } ?? "?"), upstream \(upstreams.map(\.description).joined(separator: ", "))")
                proxy = started
                if let metricsEndpoint {
                    let exporter = ProxyMetrics(proxy: started, name: metricsLabel)
                    metricsServer = try MetricsEndpoint.start(metricsEndpoint, on: loop) { exporter.export() }
                }
            },
            shutdown: { metricsServer?.stop() },
            tearDown: { if let proxy { print(ProxyCommand.status(proxy)) } })
    }

    static func status(_ proxy: ProxyAggregator) -> String {
        let s = proxy.statistics
        return "proxy: \(s.openChannels) miner channels, \(s.sharesReceived) shares in, \(s.sharesForwarded) forwarded, "
            + "\(s.upstreamAccepted) accepted upstream, \(s.upstreamRejected) rejected upstream, \(s.blocksFound) blocks"
    }
}

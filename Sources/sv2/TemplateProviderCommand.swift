import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2AppSupport
import Sv2Metrics
import Sv2Bitcoin
import Sv2TemplateProvider
import Sv2Noise
import Sv2Service

/// `sv2 template-provider`: the embedded template source as a standalone Template Distribution server.
struct TemplateProviderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "template-provider",
        abstract: "Serve regtest-style block templates over Template Distribution (no Bitcoin Core needed).",
        discussion: """
            The embedded template source of `sv2 pool`, on its own: any pool (ours with `sv2 pool --tp`, or another \
            implementation) connects to it like to Bitcoin Core's sv2-tp, gets templates and chain tips, and submits \
            blocks, which it checks (work, tip, consensus time range) before advancing its chain.

            Noise: the server signs a certificate per connection with its authority key, from \
            --authority-secret-key-file, $SV2_AUTHORITY_SECRET_KEY or --authority-secret-key (visible in ps); \
            without them the key is kept in the data directory (--data-dir, file template-provider-authority-secret-key, \
            mode 600), created on the first start and reused after, so a pool pinned to it reconnects after a restart. \
            --server-key-file serves a `sv2 keys certificate` instead. The public key is printed: give it to the pool \
            (`sv2 pool --tp-authority-key`). --no-noise serves plain Sv2.

            Example:
              sv2 template-provider --listen 127.0.0.1:18447 --nbits 207fffff
              sv2 pool --tp 127.0.0.1:18447 --tp-authority-key <printed key>
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1:18447, sv2-tp's regtest port).")
    var listen: String?

    @OptionGroup var serverKeys: ServerKeyOptions

    @OptionGroup(title: "Admission control (before authentication)") var admission: AdmissionOptions

    @Flag(name: .long, help: "Serve unencrypted Sv2 (no Noise).")
    var noNoise = false

    @Option(name: .long, help: "Seconds each per-connection certificate is valid (default 3600).")
    var certificateValidity: Int?

    @Option(name: .long, help: "nbits of the blocks, hex (default 1d3fffff: a few CPU threads find one every several seconds; 207fffff = regtest).")
    var nbits: String?

    @Option(name: .long, help: "Seconds between fresh templates for the same tip (default 30; 0 = only on new blocks).")
    var templateInterval: Double?

    @Option(name: .long, help: "Close connections idle for this many seconds (default 120).")
    var inactivityTimeout: Double?

    @Option(name: .long, help: "Maximum concurrent connections (default 1000).")
    var maxConnections: Int?

    @Option(name: .long, help: "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9102).")
    var metrics: String?

    @Option(name: .long, help: "The server label of these metrics (default template-provider).")
    var metricsName: String?

    static let keys: Set<String> = RuntimeOptions.keys.union(ServerKeyOptions.keys).union(AdmissionOptions.keys).union([
        "listen", "no-noise", "certificate-validity", "nbits", "template-interval",
        "inactivity-timeout", "max-connections", "metrics", "metrics-name",
    ])

    /// Everything resolved from flags, file and defaults.
    struct Settings {
        var server: Sv2ServerConfiguration
        var provider: EmbeddedTemplateProvider.Configuration
        var authority: AuthorityPublicKey?
        /// Where the authority key or certificate came from (never the key).
        var keyOrigin: String?
        /// Printed at start.
        var warnings: [String]
    }

    func settings(
        _ file: ConfigFile, environment: [String: String] = ProcessInfo.processInfo.environment,
        now: UInt64 = UInt64(Date().timeIntervalSince1970)
    ) throws -> Settings {
        let validity: UInt32
        do { validity = try CertificateValidity.seconds(try file.int(certificateValidity, "certificate-validity", default: 3600)) } catch {
            throw ValidationError("\(error)")
        }
        let keys = try serverKeys.resolve(
            file, app: "template-provider", noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false),
            certificateValidity: validity, environment: environment, now: now)
        var server = Sv2ServerConfiguration(
            listenAddress: try socketAddress(try file.string(listen, "listen", default: "127.0.0.1:18447"), option: "listen"),
            noise: keys.identity)
        server.inactivityTimeout = .milliseconds(Int64(try file.double(inactivityTimeout, "inactivity-timeout", default: 120) * 1000))
        server.maxConnections = try file.int(maxConnections, "max-connections", default: 1000)
        try admission.apply(to: &server, file)
        server.metricsName = try file.string(metricsName, "metrics-name", default: "template-provider")
        var provider = EmbeddedTemplateProvider.Configuration()
        provider.source.nbits = try TemplateSourceOptions.compactTarget(
            try file.string(nbits, "nbits", default: "1d3fffff"))
        let interval = try file.double(templateInterval, "template-interval", default: 30)
        guard interval >= 0, interval.isFinite else { throw ValidationError("--template-interval must be 0 or more") }
        provider.refreshInterval = interval > 0 ? .milliseconds(Int64(interval * 1000)) : nil
        return Settings(
            server: server, provider: provider, authority: keys.authority, keyOrigin: keys.origin, warnings: keys.warnings)
    }

    func run() throws {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys)
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .info))
        let settings = try settings(file)
        for warning in settings.warnings { Logger(label: "sv2.template-provider").warning("\(warning)") }
        if let authority = settings.authority {
            print("authority public key: \(authority.base58Check) (\(settings.keyOrigin ?? "?"))")
        }
        let metricsEndpoint = try MetricsEndpoint.prepare(try file.optionalString(metrics, "metrics"))
        var service: TemplateProviderService?
        var metricsServer: MetricsHTTPServer?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10),
            status: { if let service { print(TemplateProviderCommand.status(service)) } },
            setUp: { loop in
                let provider = try TemplateProviderService(
                    provider: settings.provider, server: settings.server, eventLoop: loop)
                provider.state.onBlockAccepted = { block in
                    print("BLOCK \(block.height) accepted: \(block.hash.displayHex)")
                }
                try provider.start()
                print("template provider listening on \(provider.localAddress.map { "\($0)" } ?? "?") (\(loop.backend))")
                service = provider
                if let metricsEndpoint {
                    let exporter = TemplateProviderMetrics(service: provider)
                    metricsServer = try MetricsEndpoint.start(metricsEndpoint, on: loop) { exporter.export() }
                }
            },
            shutdown: { metricsServer?.stop() },
            tearDown: { if let service { print(TemplateProviderCommand.status(service)) } })
    }

    static func status(_ service: TemplateProviderService) -> String {
        let state = service.state
        return "template provider: \(service.server.statistics.connectionsActive) connections, height "
            + "\(state.source.height), \(state.acceptedBlocks.count) blocks accepted, "
            + "\(state.rejectedSolutions) solutions rejected"
    }
}

import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Codec
import Sv2JobDeclaration
import Sv2Bitcoin
import Sv2Mining
import Sv2Pool
import Sv2TemplateProvider
import Sv2Noise
import Sv2Service

/// `sv2 jd-client`: miners' own work for a pool (Job Declaration, coinbase-only mode), solo when the pool is away.
struct JobDeclarationClientCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "jd-client",
        abstract: "Choose the work yourself and mine it for a pool (Job Declaration client), solo when the pool is away.",
        discussion: """
            Templates come from your own Template Provider (--tp, e.g. Bitcoin Core's sv2-tp) or the embedded \
            regtest-style source. Tokens come from the pool's JD server (--jds); each template becomes a custom job \
            (SetCustomMiningJob) on one extended channel with the pool (--pool), whose coinbase pays the pool's \
            outputs. Miners, proxies and translators connect to --listen like to a pool; their shares that meet the \
            pool's target are forwarded, and blocks are submitted to your Template Provider directly. When the pool \
            or the JD server is unreachable the coinbase pays --payout-script (solo) until both are back.

            Noise towards miners works like the pool's (data directory file jd-client-authority-secret-key).

            Example:
              sv2 jd-client --listen 0.0.0.0:34265 --tp 127.0.0.1:8442 --tp-no-noise --payout-script 0014… \\
                --pool pool.example:34254 --pool-authority-key 9bXiEd8… --jds pool.example:34264 \\
                --jds-authority-key 9bXiEd8… --user alice
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Address miners connect to (default 127.0.0.1:34265).")
    var listen: String?

    @OptionGroup var serverKeys: ServerKeyOptions

    @Flag(name: .long, help: "Serve miners without Noise.")
    var noNoise = false

    @OptionGroup(title: "Template source and solo payout") var templates: TemplateSourceOptions

    @Option(name: .long, help: "The pool's Mining address, host:port (default 127.0.0.1:34254; repeat for fail-over in order of preference, back to the first when it answers again).")
    var pool: [String] = []

    @Option(name: .long, help: "The pool's authority public key (base58check).")
    var poolAuthorityKey: String?

    @Flag(name: .long, help: "Connect to the pool without Noise.")
    var poolNoNoise = false

    @Option(name: .long, help: "The pool's Job Declaration server, host:port (default 127.0.0.1:34264; repeat for fail-over like --pool).")
    var jds: [String] = []

    @Option(name: .long, help: "The JD server's authority public key (base58check; usually the pool's).")
    var jdsAuthorityKey: String?

    @Flag(name: .long, help: "Connect to the JD server without Noise.")
    var jdsNoNoise = false

    @Option(name: .long, help: "user_identity of the pool channel and of the token requests (default sv2-jd-client).")
    var user: String?

    @Option(name: .long, help: "Nominal hashrate announced to the pool, h/s (default 1e12).")
    var nominalHashrate: Double?

    @Option(name: .long, help: "Target shares per minute per local miner (default 10).")
    var sharesPerMinute: Double?

    @Flag(name: .long, help: "Full-template mode: declare every template's transactions to the JD server (DECLARE_TX_DATA) before mining it for the pool, and push found blocks to it.")
    var declareTransactions = false

    static let keys: Set<String> = RuntimeOptions.keys.union(ServerKeyOptions.keys).union(TemplateSourceOptions.keys)
        .union([
            "listen", "no-noise", "pool", "pool-authority-key", "pool-no-noise", "jds", "jds-authority-key",
            "jds-no-noise", "user", "nominal-hashrate", "shares-per-minute", "declare-transactions",
        ])

    /// Everything resolved from flags, file and defaults.
    struct Settings {
        var configuration: JobDeclaratorClientConfiguration
        /// The authority public key miners pin (nil without Noise).
        var authority: AuthorityPublicKey?
        /// Where the authority key came from (never the key).
        var keyOrigin: String?
        /// Printed at start.
        var warnings: [String]
    }

    func settings(
        _ file: ConfigFile, environment: [String: String] = ProcessInfo.processInfo.environment,
        now: UInt64 = UInt64(Date().timeIntervalSince1970)
    ) throws -> Settings {
        let keys = try serverKeys.resolve(
            file, app: "jd-client", noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false),
            certificateValidity: 3600, environment: environment, now: now)
        var downstream = Sv2ServerConfiguration(
            listenAddress: try socketAddress(try file.string(listen, "listen", default: "127.0.0.1:34265"), option: "listen"),
            noise: keys.identity)
        downstream.maxConnections = LoopHost.defaultMaxConnections()
        // The payout of the local pool is the solo payout, paid while the pool is away.
        var local = PoolConfiguration(payoutScript: try templates.payoutScript(file))
        local.sharesPerMinute = try file.double(sharesPerMinute, "shares-per-minute", default: local.sharesPerMinute)
        local.extranonceRollableLength = 8  // asked of the pool as the least; what it gives beyond is rolled too
        do throws(PoolError) { try local.validate() } catch { throw ValidationError("local pool settings: \(error)") }
        let source = try templates.source(file)
        let pools = try Self.endpoints(file.strings(pool, "pool"), option: "pool", default: 34254)
        let poolClient = Sv2ClientConfiguration(
            serverAddress: try Self.placeholderAddress(pools[0]), sv2Protocol: .mining,
            security: try clientSecurity(
                authorityKey: try file.optionalString(poolAuthorityKey, "pool-authority-key"),
                noNoise: try file.bool(poolNoNoise ? true : nil, "pool-no-noise", default: false),
                option: "pool-authority-key"))
        let declarators = try Self.endpoints(file.strings(jds, "jds"), option: "jds", default: 34264)
        let jdsClient = Sv2ClientConfiguration(
            serverAddress: try Self.placeholderAddress(declarators[0]), sv2Protocol: .jobDeclaration,
            security: try clientSecurity(
                authorityKey: try file.optionalString(jdsAuthorityKey, "jds-authority-key"),
                noNoise: try file.bool(jdsNoNoise ? true : nil, "jds-no-noise", default: false),
                option: "jds-authority-key"))
        let hashrate = try file.double(nominalHashrate, "nominal-hashrate", default: 1e12)
        guard hashrate.isFinite, hashrate > 0 else { throw ValidationError("--nominal-hashrate must be positive") }
        var configuration = JobDeclaratorClientConfiguration(
            local: local, downstream: downstream, templateSource: source, pool: poolClient, jobDeclarator: jdsClient,
            userIdentity: try file.string(user, "user", default: "sv2-jd-client"), nominalHashrate: Float(hashrate))
        configuration.poolEndpoints = pools
        configuration.jobDeclaratorEndpoints = declarators
        configuration.declaresTransactions = try file.bool(
            declareTransactions ? true : nil, "declare-transactions", default: false)
        return Settings(configuration: configuration, authority: keys.authority, keyOrigin: keys.origin, warnings: keys.warnings)
    }

    /// Parsed upstream addresses, in order; 127.0.0.1:`port` when none is given.
    static func endpoints(_ texts: [String], option: String, default port: UInt16) throws -> [Endpoint] {
        let parsed = try texts.map { try endpoint($0, option: option) }
        return parsed.isEmpty ? [Endpoint(host: "127.0.0.1", port: port)] : parsed
    }

    /// The link configuration's address: a placeholder when the first upstream is a host name (every attempt
    /// connects to what its endpoint resolves to).
    static func placeholderAddress(_ endpoint: Endpoint) throws -> SocketAddress {
        try endpoint.numericAddress ?? SocketAddress(ip: "127.0.0.1", port: endpoint.port)
    }

    func run() throws {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys)
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .info))
        let settings = try settings(file)
        for warning in settings.warnings { Logger(label: "sv2.jd-client").warning("\(warning)") }
        if let authority = settings.authority {
            print("jd-client authority public key: \(authority.base58Check) (\(settings.keyOrigin ?? "?"))")
        }
        let configuration = settings.configuration
        var service: JobDeclaratorClientService?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10), status: { if let service { print(Self.status(service)) } },
            setUp: { loop in
                let started = try JobDeclaratorClientService(configuration: configuration, eventLoop: loop)
                started.pool.onBlockFound = { block in
                    print("BLOCK found by \(block.userIdentity) (channel \(block.channelID)): \(block.hash.displayHex)")
                }
                try started.start()
                print("jd-client: pool \(configuration.poolEndpoints.map(\.description).joined(separator: ", ")), "
                    + "JD server \(configuration.jobDeclaratorEndpoints.map(\.description).joined(separator: ", ")), "
                    + "miners on \(configuration.downstream.listenAddress)")
                service = started
            },
            shutdown: { service?.stop() },
            tearDown: { if let service { print(Self.status(service)) } })
    }

    static func status(_ service: JobDeclaratorClientService) -> String {
        let s = service.statistics
        let local = service.pool.statistics
        return "jd-client (\(service.mode)): \(service.pool.openChannelCount) miner channels, \(local.sharesAccepted) shares, "
            + "\(s.sharesForwarded) forwarded, \(s.sharesAcknowledged) acknowledged by the pool, "
            + "\(s.customJobsAccepted)/\(s.customJobsSent) custom jobs accepted, \(local.blocksFound) blocks, "
            + "\(s.fallbacks) fallbacks to solo"
    }
}

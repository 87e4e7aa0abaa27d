import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Bitcoin
import Sv2JobDeclaration
import Sv2Pool
import Sv2Proxy
import Sv2Miner
import Sv2TemplateProvider
import Sv2Noise
import Sv2Service

/// `sv2 demo`: the README's main job — a pool on the embedded template source, CPU miners on it directly and through
/// a proxy, all in one process with Noise, printing accepted shares and found blocks as they happen.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a pool, a proxy and CPU miners in one process and show shares and blocks live.",
        discussion: """
            Everything runs on one event loop (the miners' hashing on worker threads): the embedded template \
            source, the pool (Mining server + Template Distribution client), a proxy aggregating its miners into one \
            extended channel, and the miners (standard and extended channels). Stops after --duration seconds \
            (default 20) or on Ctrl-C, then prints a summary.

            --job-declaration shows Job Declaration instead: the pool with its JD server, a jd-client taking \
            templates from the same source, declaring every job to the pool and forwarding shares, and the miners \
            on the jd-client (no proxy, no translator).
            """)

    @Option(name: .long, help: "Miners connected directly to the pool (alternating standard/extended; default 2).")
    var miners = 2

    @Option(name: .long, help: "Miners connected through the proxy (standard channels; default 2; 0 = no proxy).")
    var proxyMiners = 2

    @Option(name: .long, help: "Stratum V1 CPU devices behind a translator (default 1; 0 = no translator).")
    var sv1Miners = 1

    @Option(name: .long, help: "Worker threads per miner (default 1).")
    var threads = 1

    @Option(name: .long, help: "Seconds to run (default 20).")
    var duration: Double = 20

    @Option(name: .long, help: "Block difficulty of the embedded source as compact nbits, hex (default 1d3fffff).")
    var nbits = "1d3fffff"

    @Flag(name: .long, help: "Run without Noise.")
    var noNoise = false

    @Flag(name: .long, help: "Miners mine on a Job Declaration client that chooses the work and declares it to the pool.")
    var jobDeclaration = false

    @Option(name: .long, help: "I/O backend: io_uring or epoll.")
    var backend: String?

    @Option(name: .long, help: "Library log level (default error).")
    var logLevel = "error"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        LoopHost.bootstrapLogging(level: level)
        let bits = try TemplateSourceOptions.compactTarget(nbits)
        let reactorBackend = try backend.map { name in
            guard let value = ReactorBackend(rawValue: name) else { throw ValidationError("unknown backend \(name)") }
            return value
        }
        let authority = try AuthorityKeyPair.generate()
        let identity: NoiseResponder.Identity? =
            noNoise ? nil : .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600)
        let security: Sv2ClientConfiguration.Security = noNoise ? .plain : .noise(authority: authority.publicKey)
        let loopback = try SocketAddress(ip: "127.0.0.1", port: 0)

        var pool = PoolConfiguration(payoutScript: [0x51])
        pool.poolTag = "demo"
        pool.sharesPerMinute = 60
        pool.vardiffWindow = 10
        var embedded = EmbeddedTemplateProvider.Configuration()
        embedded.source.nbits = bits
        embedded.refreshInterval = .seconds(10)

        var service: PoolService?
        var declarator: JobDeclarationServerService?
        var jdClient: JobDeclaratorClientService?
        var proxy: ProxyAggregator?
        var sv1: DemoSv1?
        var clients: [MinerClient] = []
        let started = Date()
        func stamp() -> String { String(format: "[%5.1fs]", Date().timeIntervalSince(started)) }

        print(jobDeclaration
              ? "demo: pool + JD server + jd-client + \(miners) CPU miners on the jd-client, "
              : "demo: pool + \(proxyMiners > 0 ? "proxy + " : "")\(miners + proxyMiners) CPU miners, ",
              terminator: "")
        print("\(noNoise ? "plain" : "Noise") transport, \(Int(duration)) s; authority key \(authority.publicKey)")
        try LoopHost.run(
            backend: reactorBackend, duration: duration,
            statusEvery: .seconds(5),
            status: {
                let rate = clients.reduce(0.0) { $0 + $1.mining.session.statistics.hashrate }
                if let service {
                    print("\(stamp()) \(PoolCommand.status(service)), miners \(String(format: "%.1f", rate / 1e6)) MH/s")
                }
                if let sv1 { print("\(stamp()) \(TranslatorCommand.status(sv1.translator))") }
            },
            setUp: { loop in
                let pooled = try PoolService(
                    configuration: pool, server: Sv2ServerConfiguration(listenAddress: loopback, noise: identity),
                    templateSource: .embedded(embedded), eventLoop: loop, acceptsWorkSelection: jobDeclaration)
                pooled.pool.onBlockFound = { block in
                    print("\(stamp()) BLOCK found by \(block.userIdentity): \(block.hash.displayHex)")
                }
                try pooled.start()
                service = pooled
                let poolAddress = pooled.localAddress!
                print("\(stamp()) pool listening on \(poolAddress) (\(loop.backend))")

                func startMiner(_ name: String, _ channel: MinerConfiguration.ChannelType, _ address: SocketAddress,
                                _ security: Sv2ClientConfiguration.Security) throws {
                    let configuration = MinerConfiguration(
                        userIdentity: name, nominalHashrate: 3e6, channelType: channel,
                        cpu: CPUMinerConfiguration(workerCount: threads), hashrateInterval: .seconds(5))
                    let client = try MinerSession.makeClient(
                        configuration: configuration,
                        server: Sv2ClientConfiguration(serverAddress: address, sv2Protocol: .mining, security: security),
                        eventLoop: loop)
                    client.mining.session.onEvent = { event in
                        switch event {
                        case .hashrate: return
                        default: if let line = MinerCommand.describe(event, miner: name) { print("\(stamp()) \(line)") }
                        }
                    }
                    client.connect()
                    clients.append(client)
                }
                if jobDeclaration {
                    let jds = try JobDeclarationServerService(
                        service: pooled, server: Sv2ServerConfiguration(listenAddress: loopback, noise: identity),
                        halvingInterval: embedded.source.halvingInterval)
                    try jds.start()
                    declarator = jds
                    print("\(stamp()) JD server listening on \(jds.localAddress!)")
                    var local = PoolConfiguration(payoutScript: [0x00, 0x14] + [UInt8](repeating: 0x5a, count: 20))
                    local.poolTag = "demo-jdc"
                    local.sharesPerMinute = 60
                    local.extranonceRollableLength = 8
                    let jdc = try JobDeclaratorClientService(
                        configuration: JobDeclaratorClientConfiguration(
                            local: local, downstream: Sv2ServerConfiguration(listenAddress: loopback, noise: identity),
                            templateSource: .remote(address: pooled.templateProviderServer!.localAddress!, security: .plain),
                            pool: Sv2ClientConfiguration(serverAddress: poolAddress, sv2Protocol: .mining, security: security),
                            jobDeclarator: Sv2ClientConfiguration(
                                serverAddress: jds.localAddress!, sv2Protocol: .jobDeclaration, security: security),
                            userIdentity: "demo-jdc", nominalHashrate: 3e6 * Float(max(miners, 1))),
                        eventLoop: loop)
                    jdc.pool.onBlockFound = { block in
                        print("\(stamp()) BLOCK found on the jd-client's own work by \(block.userIdentity): \(block.hash.displayHex)")
                    }
                    try jdc.start()
                    jdClient = jdc
                    // Miners join once the jd-client serves (its pool channel is open, or it went solo).
                    func startMiners() {
                        guard let address = jdc.localAddress else {
                            _ = loop.schedule(after: .milliseconds(50)) { startMiners() }
                            return
                        }
                        print("\(stamp()) jd-client (\(jdc.mode)) listening on \(address)")
                        for index in 0..<miners {
                            do {
                                try startMiner("miner\(index + 1)", index % 2 == 0 ? .standard : .extended, address, security)
                            } catch {
                                print("miner\(index + 1): \(error)")
                            }
                        }
                    }
                    startMiners()
                    return
                }
                for index in 0..<miners {
                    try startMiner("miner\(index + 1)", index % 2 == 0 ? .standard : .extended, poolAddress, security)
                }
                if sv1Miners > 0 {
                    sv1 = try DemoSv1(loop: loop, pool: poolAddress, security: security, count: sv1Miners)
                    print("\(stamp()) translator listening on \(sv1!.translator.localAddress!) for \(sv1Miners) Sv1 device(s)")
                }
                if proxyMiners > 0 {
                    let proxyAuthority = try AuthorityKeyPair.generate()
                    var configuration = ProxyConfiguration(
                        downstream: Sv2ServerConfiguration(
                            listenAddress: loopback,
                            noise: noNoise ? nil : .freshStaticKeyPerConnection(authority: proxyAuthority, certificateValidity: 3600)),
                        upstream: Sv2ClientConfiguration(serverAddress: poolAddress, sv2Protocol: .mining, security: security),
                        userIdentity: "proxy")
                    configuration.downstreamSharesPerMinute = 30
                    let aggregator = try ProxyAggregator.start(configuration: configuration, eventLoop: loop)
                    proxy = aggregator
                    print("\(stamp()) proxy listening on \(aggregator.localAddress!)")
                    let proxySecurity: Sv2ClientConfiguration.Security =
                        noNoise ? .plain : .noise(authority: proxyAuthority.publicKey)
                    for index in 0..<proxyMiners {
                        try startMiner("proxied\(index + 1)", .standard, aggregator.localAddress!, proxySecurity)
                    }
                }
            },
            tearDown: {
                for client in clients { client.mining.session.stop() }
                sv1?.stop()
                print("\n== summary after \(String(format: "%.1f", Date().timeIntervalSince(started))) s")
                if let service {
                    print(PoolCommand.status(service))
                    if let accepted = service.embeddedTemplateProvider?.acceptedBlocks {
                        print("template source accepted \(accepted.count) block\(accepted.count == 1 ? "" : "s")"
                              + (accepted.last.map { ", tip height \($0.height)" } ?? ""))
                    }
                }
                if let declarator { print(JobDeclarationServerCommand.status(declarator)) }
                if let jdClient { print(JobDeclarationClientCommand.status(jdClient)); jdClient.stop() }
                if let proxy { print(ProxyCommand.status(proxy)) }
                if let sv1 { print(TranslatorCommand.status(sv1.translator)); sv1.deviceLines.forEach { print($0) } }
                for client in clients {
                    let s = client.mining.session.statistics
                    print("\(client.mining.session.configuration.userIdentity): \(s.sharesAccepted) accepted, "
                          + "\(s.sharesRejected) rejected, \(s.blocksFound) blocks")
                }
            })
    }
}

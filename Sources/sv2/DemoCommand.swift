import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Bitcoin
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

    @Option(name: .long, help: "I/O backend: io_uring or epoll.")
    var backend: String?

    @Option(name: .long, help: "Library log level (default error).")
    var logLevel = "error"

    func run() throws {
        guard let level = Logger.Level(rawValue: logLevel) else { throw ValidationError("unknown log level \(logLevel)") }
        LoopHost.bootstrapLogging(level: level)
        guard let bits = UInt32(nbits, radix: 16), Target(compact: bits) != nil else {
            throw ValidationError("--nbits must be a compact target in hex")
        }
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
        var proxy: ProxyAggregator?
        var sv1: DemoSv1?
        var clients: [MinerClient] = []
        let started = Date()
        func stamp() -> String { String(format: "[%5.1fs]", Date().timeIntervalSince(started)) }

        print("demo: pool + \(proxyMiners > 0 ? "proxy + " : "")\(miners + proxyMiners) CPU miners, "
              + "\(noNoise ? "plain" : "Noise") transport, \(Int(duration)) s; authority key \(authority.publicKey)")
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
                    templateSource: .embedded(embedded), eventLoop: loop)
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

import CCrypto
import Foundation
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Pool
@testable import Sv2Proxy
@testable import Sv2Miner
@testable import Sv2TemplateProvider

/// The whole stack as `sv2 demo` runs it: CPU miners → proxy → pool → embedded template source, with Noise.
@Suite("End to end: miners → proxy → pool → template source", .serialized)
struct EndToEndTests {
    @Test func blocksReachTheTemplateSource() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let authority = try AuthorityKeyPair.generate()
        let proxyAuthority = try AuthorityKeyPair.generate()
        let identity = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 600)
        var pool = PoolConfiguration(payoutScript: [0x51])
        pool.sharesPerMinute = 600
        var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
        templates.source.nbits = 0x1e03_ffff  // about one block a second from three CPU threads
        let loopback = try SocketAddress(ip: "127.0.0.1", port: 0)

        let handles = TestBox<[AnyObject]>([])
        let service = try runner.sync { () -> PoolService in
            let service = try PoolService(
                configuration: pool, server: Sv2ServerConfiguration(listenAddress: loopback, noise: identity),
                templateSource: .embedded(templates), eventLoop: runner.loop)
            try service.start()
            return service
        }
        let proxy = try runner.sync { () -> ProxyAggregator in
            var configuration = ProxyConfiguration(
                downstream: Sv2ServerConfiguration(
                    listenAddress: loopback,
                    noise: .freshStaticKeyPerConnection(authority: proxyAuthority, certificateValidity: 600)),
                upstream: Sv2ClientConfiguration(
                    serverAddress: service.localAddress!, sv2Protocol: .mining, security: .noise(authority: authority.publicKey)),
                userIdentity: "proxy", nominalHashrate: 1_000)  // easy upstream target: every downstream share goes up
            configuration.downstreamSharesPerMinute = 600
            return try ProxyAggregator.start(configuration: configuration, eventLoop: runner.loop)
        }
        let clients = try runner.sync { () -> [MinerClient] in
            var clients: [MinerClient] = []
            for (name, channel, address, key) in [
                ("direct-standard", MinerConfiguration.ChannelType.standard, service.localAddress!, authority.publicKey),
                ("direct-extended", .extended, service.localAddress!, authority.publicKey),
                ("proxied", .standard, proxy.localAddress!, proxyAuthority.publicKey),
            ] {
                let client = try MinerSession.makeClient(
                    // Announced near what a debug-build CPU thread does, so the initial targets ask ~10 shares/s
                    // (1,000 H/s announced made every hash a share: a flood that, on a loaded machine, filled the
                    // proxy's write buffer towards the miner and closed it).
                    configuration: MinerConfiguration(userIdentity: name, nominalHashrate: 500_000, channelType: channel,
                                                      cpu: CPUMinerConfiguration(workerCount: 1)),
                    server: Sv2ClientConfiguration(serverAddress: address, sv2Protocol: .mining, security: .noise(authority: key)),
                    eventLoop: runner.loop)
                client.connect()
                clients.append(client)
            }
            return clients
        }
        handles.value = [service, proxy] + clients
        defer { _ = try? runner.sync { for client in clients { client.mining.session.stop() } } }

        // Every miner gets shares accepted, the proxy forwards, and blocks reach the template source.
        let flowed = try runner.wait(timeout: 120) {
            clients.allSatisfy { $0.mining.session.statistics.sharesAccepted >= 3 }
                && proxy.statistics.upstreamAccepted >= 3
                && (service.embeddedTemplateProvider?.acceptedBlocks.count ?? 0) >= 3
        }
        let report = try runner.sync {
            "miners \(clients.map { $0.mining.session.statistics }), proxy \(proxy.statistics), "
                + "pool \(service.pool.statistics), blocks \(service.embeddedTemplateProvider?.acceptedBlocks.count ?? 0)"
        }
        #expect(flowed, "\(report)")
        try runner.sync {
            let accepted = service.embeddedTemplateProvider!.acceptedBlocks
            for block in accepted {
                // Checked independently of the pool: hash the 80-byte header ourselves and compare with nbits.
                var digest = [UInt8](repeating: 0, count: 32)
                let header = block.header.bytes
                #expect(header.count == 80)
                header.withUnsafeBytes { raw in
                    var first = [UInt8](repeating: 0, count: 32)
                    cshims_sha256(raw.baseAddress!, 80, &first)
                    cshims_sha256(first, 32, &digest)
                }
                #expect(digest == block.hash.bytes)
                let target = try #require(Target(compact: block.header.nbits))
                #expect(target.isMet(by: block.hash))
                #expect(block.coinbaseTransaction.count > 60)
            }
            // Heights advance one block at a time and the pool counted what the source accepted.
            #expect(accepted.map(\.height) == Array(1...UInt32(accepted.count)))
            #expect(service.pool.statistics.blocksFound >= UInt64(accepted.count))
            // Rejections can only be races with a new chain tip (a share in flight when a block moved the tip).
            for client in clients {
                #expect(Set(client.mining.session.statistics.rejections.keys).isSubset(of: ["stale-share"]))
            }
            #expect(proxy.statistics.sharesForwarded >= proxy.statistics.upstreamAccepted)
        }
    }
}

import Foundation
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Pool
@testable import Sv2TemplateProvider

/// `sv2 template-provider` (``TemplateProviderService``, what the command runs) serving `sv2 pool --tp`
/// (``PoolService`` with a remote Template Distribution client), Noise on with a pinned authority key.
@Suite("Standalone template provider", .serialized)
struct TemplateProviderServiceTests {
    static func startProvider(_ runner: LoopRunner, authority: AuthorityKeyPair) throws -> TemplateProviderService {
        try runner.sync {
            let provider = try TemplateProviderService(
                provider: .init(source: .init(nbits: 0x207f_ffff), refreshInterval: nil),
                server: Sv2ServerConfiguration(
                    listenAddress: loopbackAddress,
                    noise: .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3_600)),
                eventLoop: runner.loop)
            try provider.start()
            return provider
        }
    }

    static func startPool(
        _ runner: LoopRunner, provider: TemplateProviderService, authority: AuthorityPublicKey
    ) throws -> PoolService {
        try runner.sync {
            let service = try PoolService(
                configuration: PoolServiceTests.configuration(),
                server: Sv2ServerConfiguration(listenAddress: loopbackAddress),
                templateSource: .remote(address: provider.localAddress!, security: .noise(authority: authority)),
                eventLoop: runner.loop)
            try service.start()
            return service
        }
    }

    @Test func poolGetsTemplatesOverNoiseAndItsBlocksAreAccepted() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let authority = try AuthorityKeyPair.generate()
        let provider = try Self.startProvider(runner, authority: authority)
        let service = try Self.startPool(runner, provider: provider, authority: authority.publicKey)
        #expect(try runner.wait { service.pool.chainTip != nil && service.pool.currentTemplate != nil })
        try runner.sync {
            #expect(service.pool.chainTip?.prevHash == provider.state.source.chainTip.prevHash)
            #expect(service.pool.currentTemplate?.coinbasePrefix == Script.pushNumber(1))
            #expect(provider.server.statistics.handshakesCompleted == 1)
        }
        // A miner on the pool finds a block (regtest target: about every second hash); the pool submits it to the
        // provider, which checks it and announces the next block's template and tip.
        let miner = TestMinerState(extended: true)
        let client = try connectMiner(runner, to: service, state: miner)
        let blockHash = try runner.sync { () -> Hash256 in
            let block = try #require(miner.findShare(meeting: Target(compact: 0x207f_ffff)!))
            try submit(block.fields, extended: true, via: client)
            return block.hash
        }
        #expect(try runner.wait { service.pool.chainTip?.prevHash == blockHash })
        try runner.sync {
            #expect(provider.state.acceptedBlocks.map(\.hash) == [blockHash])
            #expect(provider.state.rejectedSolutions == 0)
            #expect(provider.state.source.height == 2)
            #expect(service.pool.statistics.solutionsSubmitted == 1)
            // The accepted block carries the pool's coinbase (with witness) and the miner's header.
            let accepted = provider.state.acceptedBlocks[0]
            #expect(accepted.header.hash == blockHash)
            #expect(accepted.header.prevHash == EmbeddedTemplateProvider.Configuration().genesisHash)
            let tag = Array("Sv2/test-pool/".utf8)
            #expect(accepted.coinbaseTransaction.indices.contains { accepted.coinbaseTransaction[$0...].starts(with: tag) })
        }
        try runner.sync {
            client.close()
            service.stop()
            provider.stop()
        }
    }

    /// Noise is really on: a pool pinned to another authority key fails the handshake and gets nothing.
    @Test func poolPinnedToAnotherKeyGetsNoTemplates() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let provider = try Self.startProvider(runner, authority: try AuthorityKeyPair.generate())
        let service = try Self.startPool(runner, provider: provider, authority: try AuthorityKeyPair.generate().publicKey)
        // The pool checks the provider's certificate against its pinned key and drops the connection.
        #expect(try runner.wait { (service.templateClient?.statistics.handshakeFailures ?? 0) >= 1 })
        try runner.sync {
            #expect(service.pool.chainTip == nil && service.pool.currentTemplate == nil)
            #expect(service.pool.statistics.templatesReceived == 0)
            service.stop()
            provider.stop()
        }
    }
}

import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Mining

/// A template source that dies silently is noticed, reconnected, and no new work is handed out meanwhile
/// (issue 12, item 5). Over loopback on both backends.
@Suite struct TemplateSourceLivenessTests {
    typealias ProviderServer = Sv2Server<
        NullSv2MiningServerHandler, NullSv2JobDeclarationServerHandler, EmbeddedTemplateProvider>

    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func aSilentTemplateSourceIsDetectedAndReconnected(backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        // A provider that sends its template and chain tip once, then nothing (no refresh, no blocks): from the
        // pool's side indistinguishable from one that hangs.
        let provider = try runner.sync {
            let server = try ProviderServer(
                configuration: Sv2ServerConfiguration(listenAddress: loopbackAddress), eventLoop: runner.loop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: EmbeddedTemplateProvider(configuration: .init(refreshInterval: nil)))
            try server.start()
            server.templateDistribution.state.attach(to: server.connections)
            return server
        }
        let service = try runner.sync {
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: testPayoutScript),
                server: Sv2ServerConfiguration(listenAddress: loopbackAddress),
                templateSource: .remote(address: provider.localAddress!, security: .plain), eventLoop: runner.loop)
            service.templateSourceTimeout = .milliseconds(400)
            service.reconnectDelay = .milliseconds(50)
            try service.start()
            return service
        }
        #expect(try runner.wait { service.pool.chainTip != nil })
        // Silence past the timeout: the pool declares the source lost, reconnects, and is fed again.
        #expect(try runner.wait {
            service.pool.statistics.templateSourceLosses >= 1 && provider.statistics.connectionsOpened >= 2
                && service.pool.templateSourceAvailable
        })
        try runner.sync {
            #expect(service.templateClient?.statistics.inactivityTimeouts ?? 0 >= 1)
            service.stop()
            provider.stop()
        }
    }
}

import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2Pool
@testable import Sv2TemplateProvider

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
            service.reconnectPolicy = ReconnectPolicy(initialDelay: .milliseconds(50))
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

    static func provider(_ runner: LoopRunner, at address: SocketAddress) throws -> ProviderServer {
        try runner.sync {
            let server = try ProviderServer(
                configuration: Sv2ServerConfiguration(listenAddress: address), eventLoop: runner.loop,
                mining: NullSv2MiningServerHandler(), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: EmbeddedTemplateProvider(configuration: .init(refreshInterval: nil)))
            try server.start()
            server.templateDistribution.state.attach(to: server.connections)
            return server
        }
    }

    /// `--tp A --tp B`: A is down, so B is used; when A comes back the pool returns to it.
    @Test(arguments: [ReactorBackend.epoll, .ioUring])
    func failsOverToTheNextTemplateSourceAndReturnsToTheFirst(backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { _ = runner.stop() }
        // A free port for the first source, which is not running yet.
        let probe = try Self.provider(runner, at: loopbackAddress)
        let firstAddress = try #require(runner.sync { probe.localAddress })
        try runner.sync { probe.stop() }
        let second = try Self.provider(runner, at: loopbackAddress)
        let secondAddress = try #require(runner.sync { second.localAddress })
        let endpoints = [Endpoint(host: "localhost", port: firstAddress.port), Endpoint(secondAddress)]
        let service = try runner.sync {
            let service = try PoolService(
                configuration: PoolConfiguration(payoutScript: testPayoutScript),
                server: Sv2ServerConfiguration(listenAddress: loopbackAddress),
                templateSource: .failover(endpoints: endpoints, security: .plain), eventLoop: runner.loop)
            service.reconnectPolicy = ReconnectPolicy(
                initialDelay: .milliseconds(20), maximumDelay: .milliseconds(200), primaryRetryInterval: .milliseconds(100))
            try service.start()
            return service
        }
        #expect(try runner.wait {
            service.pool.chainTip != nil && second.statistics.setupsAccepted >= 1
                && service.templateFailover?.current == endpoints[1]
        })
        let first = try Self.provider(runner, at: firstAddress)
        #expect(try runner.wait {
            first.statistics.setupsAccepted >= 1 && service.templateFailover?.current == endpoints[0]
                && service.templateFailover?.isUp == true && service.pool.templateSourceAvailable
        })
        try runner.sync {
            service.stop()
            first.stop()
            second.stop()
        }
    }
}

import LoopTestSupport
import Reactor
import Sv2Codec
@testable import Sv2Service
import Testing

/// A server released without `stop()` while its connections are still open: the loop keeps those sockets, and their
/// handlers must neither touch the freed server nor keep it alive. (Handlers reach the server through a `Lifeline`,
/// an unretained reference with an atomic call count and `gone` bit, instead of a weak reference whose side table cost
/// every read a slow-path retain and release; LifelineTests covers a release on another thread racing a call.)
@Suite("A server released without stop()", .serialized)
struct ReleasedServerTests {
    @Test(arguments: [ReactorBackend.ioUring, .epoll])
    func itsConnectionsAreAbortedOnTheirNextReadAndTheLoopRunsOn(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let server = Box<TestServer?>(nil)
        let released = Box<Bool>(false)
        let address = try runner.sync { () -> SocketAddress in
            let made = try TestServer(
                configuration: serverConfiguration(noise: false), eventLoop: runner.loop,
                mining: TestPool(state: PoolState()), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try made.start()
            server.value = made
            return made.localAddress!
        }
        let peer = try HostileClient(server: address, noise: false)
        try peer.setUp()
        // Release the only reference on the loop thread; a weak reference tells whether it really went away.
        try runner.sync {
            weak let watcher = server.value
            server.value = nil
            released.value = watcher == nil
        }
        #expect(released.value, "the server outlived its last reference (something still retains it)")
        // The next bytes reach a handler whose server is gone: the connection is aborted, nothing crashes.
        peer.send(peer.frame(OpenStandardMiningChannel(
            requestID: 1, userIdentity: "after-release", nominalHashRate: 1, maxTarget: .max)))
        #expect(peer.waitForClose())
        // The loop is still serving: a timer scheduled now fires.
        let fired = Box<Bool>(false)
        _ = try runner.sync { runner.loop.schedule(after: .milliseconds(1)) { fired.value = true } }
        #expect(try runner.wait { fired.value })
    }

    /// The last reference dropped by a handler while the server is inside that handler's call (a pool shutting its
    /// server down from a message): the server lives until the call returns — the reply goes out — and is gone after.
    @Test(arguments: [ReactorBackend.ioUring, .epoll])
    func aHandlerMayReleaseItsServerDuringTheCall(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let holder = ServerHolder()
        let address = try runner.sync { () -> SocketAddress in
            let made = try ReleasingServer(
                configuration: serverConfiguration(noise: false), eventLoop: runner.loop,
                mining: ReleasingPool(holder: holder))
            try made.start()
            holder.server = made
            holder.watcher = made
            return made.localAddress!
        }
        let peer = try HostileClient(server: address, noise: false)
        try peer.setUp()
        peer.send(peer.frame(OpenStandardMiningChannel(
            requestID: 7, userIdentity: "releaser", nominalHashRate: 1, maxTarget: .max)))
        let (header, _) = try peer.readFrame()
        #expect(header.knownMessageType == .openStandardMiningChannelSuccess)
        #expect(try runner.sync { holder.watcher == nil }, "the server outlived the call that released it")
        peer.send(peer.frame(OpenStandardMiningChannel(
            requestID: 8, userIdentity: "releaser", nominalHashRate: 1, maxTarget: .max)))
        #expect(peer.waitForClose())
    }
}

/// Holds the only strong reference to a server, for a handler to drop.
final class ServerHolder {
    var server: ReleasingServer?
    weak var watcher: ReleasingServer?
}

/// Answers a channel open after dropping its server's last reference (so the server is only alive through the call).
struct ReleasingPool: Sv2MiningServerHandler {
    let holder: ServerHolder

    mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        holder.server = nil
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: 1, target: .max, extranoncePrefix: [1, 2, 3, 4], groupChannelID: 0))
    }
}

typealias ReleasingServer = Sv2Server<ReleasingPool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>


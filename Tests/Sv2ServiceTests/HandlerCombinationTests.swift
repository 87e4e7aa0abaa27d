import Foundation
import Reactor
import Sv2Codec
import Sv2Service
import Testing

/// Real (non-Null) Job Declaration and Template Distribution handlers, small enough for negotiation tests.
struct TestJobDeclarator: Sv2JobDeclarationServerHandler {
    mutating func handle(_ message: AllocateMiningJobTokenView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(AllocateMiningJobTokenSuccess(requestID: message.requestID, miningJobToken: [1, 2], coinbaseTxOutputs: []))
    }
}

struct TestTemplateProvider: Sv2TemplateDistributionServerHandler {
    mutating func handle(_ message: CoinbaseOutputConstraintsView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(NewTemplate(
            templateID: 1, futureTemplate: true, version: 0x2000_0000, coinbaseTxVersion: 2, coinbasePrefix: [1, 1],
            coinbaseTxInputSequence: .max, coinbaseTxValueRemaining: 50, coinbaseTxOutputsCount: 0, coinbaseTxOutputs: [],
            coinbaseTxLocktime: 0, merklePath: []))
    }
}

final class ExchangeLog { var answers: [String] = [] }

struct JDClientProbe: Sv2JobDeclarationClientHandler {
    let log: ExchangeLog
    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(AllocateMiningJobToken(userIdentifier: "u", requestID: 5))
    }
    mutating func handle(_ message: AllocateMiningJobTokenSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        log.answers.append("token \(message.requestID)")
    }
}

struct TDClientProbe: Sv2TemplateDistributionClientHandler {
    let log: ExchangeLog
    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(CoinbaseOutputConstraints(coinbaseOutputMaxAdditionalSize: 100, coinbaseOutputMaxAdditionalSigops: 4))
    }
    mutating func handle(_ message: NewTemplateView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        log.answers.append("template \(message.templateID)")
    }
}

struct MiningClientProbe: Sv2MiningClientHandler {
    let log: ExchangeLog
    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannel(requestID: 3, userIdentity: "m", nominalHashRate: 1, maxTarget: .max))
    }
    mutating func handle(_ message: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        log.answers.append("channel \(message.requestID)")
    }
}

@Suite("Every combination of Null and real server handlers", .serialized)
struct HandlerCombinationTests {
    /// Bit 0 = Mining, 1 = Job Declaration, 2 = Template Distribution served by a real handler.
    @Test(arguments: 1..<8)
    func negotiation(mask: Int) throws {
        let runner = try LoopRunner(.ioUring)
        defer { runner.stop() }
        let pool = PoolState()
        let server = Box(try runner.sync { () -> (AnyObject, SocketAddress) in
            try Self.makeServer(runner.loop, mask: mask, pool: pool)
        })
        for sv2Protocol in Sv2Protocol.allCases {
            let served = mask & (1 << Int(sv2Protocol.rawValue)) != 0
            let log = ExchangeLog()
            let state = Box<Sv2ClientState>(.idle)
            let client = Box(try runner.sync { () -> AnyObject in
                let configuration = clientConfiguration(server: server.value.1, noise: false, sv2Protocol: sv2Protocol)
                let mining = MiningClientProbe(log: log), jd = JDClientProbe(log: log), td = TDClientProbe(log: log)
                switch sv2Protocol {
                case .mining:
                    // The one-subprotocol initialisers: the other two handlers are the Null ones.
                    let c = try Sv2Client(configuration: configuration, eventLoop: runner.loop, mining: mining)
                    c.onStateChange = { state.value = $0 }
                    c.connect()
                    return c
                case .jobDeclaration:
                    let c = try Sv2Client(configuration: configuration, eventLoop: runner.loop, jobDeclaration: jd)
                    c.onStateChange = { state.value = $0 }
                    c.connect()
                    return c
                case .templateDistribution:
                    let c = try Sv2Client(configuration: configuration, eventLoop: runner.loop, templateDistribution: td)
                    c.onStateChange = { state.value = $0 }
                    c.connect()
                    return c
                }
            })
            if served {
                #expect(try runner.wait { log.answers.count == 1 }, "\(sv2Protocol) mask \(mask)")
                try runner.sync {
                    if case .ready = state.value {} else { Issue.record("\(sv2Protocol) not ready: \(state.value)") }
                }
            } else {
                #expect(try runner.wait { state.value == .closed(.error(.setupRefused(code: "unsupported-protocol", flags: 0))) },
                        "\(sv2Protocol) mask \(mask)")
                try runner.sync { #expect(log.answers.isEmpty) }
            }
            _ = client
        }
    }

    static func makeServer(_ loop: EventLoop, mask: Int, pool: PoolState) throws -> (AnyObject, SocketAddress) {
        func start<M: Sv2MiningServerHandler, J: Sv2JobDeclarationServerHandler, T: Sv2TemplateDistributionServerHandler>(
            _ m: M, _ j: J, _ t: T
        ) throws -> (AnyObject, SocketAddress) {
            try started(Sv2Server(configuration: serverConfiguration(noise: false), eventLoop: loop,
                                  mining: m, jobDeclaration: j, templateDistribution: t))
        }
        func started<M, J, T>(_ server: Sv2Server<M, J, T>) throws -> (AnyObject, SocketAddress) {
            try server.start()
            return (server, server.localAddress!)
        }
        let m = TestPool(state: pool), nm = NullSv2MiningServerHandler()
        let j = TestJobDeclarator(), nj = NullSv2JobDeclarationServerHandler()
        let t = TestTemplateProvider(), nt = NullSv2TemplateDistributionServerHandler()
        let configuration = serverConfiguration(noise: false)
        switch mask {
        // One subprotocol: the one-subprotocol initialisers pass the Null handlers.
        case 1: return try started(Sv2Server(configuration: configuration, eventLoop: loop, mining: m))
        case 2: return try started(Sv2Server(configuration: configuration, eventLoop: loop, jobDeclaration: j))
        case 3: return try start(m, j, nt)
        case 4: return try started(Sv2Server(configuration: configuration, eventLoop: loop, templateDistribution: t))
        case 5: return try start(m, nj, t)
        case 6: return try start(nm, j, t)
        default: return try start(m, j, t)
        }
    }

    @Test func allNullIsRejectedAtConstruction() throws {
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        _ = try runner.sync {
            #expect(throws: Sv2ServiceError.invalidConfiguration("a server needs at least one supported subprotocol")) {
                _ = try Sv2Server(configuration: serverConfiguration(noise: false), eventLoop: runner.loop,
                                  mining: NullSv2MiningServerHandler(), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                                  templateDistribution: NullSv2TemplateDistributionServerHandler())
            }
        }
    }
}

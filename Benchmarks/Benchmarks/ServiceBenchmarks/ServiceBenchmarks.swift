import Benchmark
import Dispatch
import Foundation
import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service

// Shares through the whole stack over loopback — client encode (+ encrypt) → reactor → server split (+ decrypt) →
// view → handler → ack encode (+ encrypt) → reactor → client decode → handler — in batches of 1000, plain and with
// Noise. Both ends run on one event loop thread in this process, so malloc counts cover everything; one batch costs
// one `execute {}` closure (the cross-thread door), i.e. 0.001 allocations per share from the harness itself.

let batch = 1000

final class Counter: @unchecked Sendable {
    var acks = 0
    var target = 0
    let done = DispatchSemaphore(value: 0)
}

struct AckingPool: Sv2MiningServerHandler {
    mutating func handle(_ open: OpenStandardMiningChannelView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannelSuccess(
            requestID: open.requestID, channelID: 1, target: .max, extranoncePrefix: [0, 0, 0, 1], groupChannelID: 0))
    }
    mutating func handle(_ share: SubmitSharesStandardView, context: Sv2ServerContext) throws(Sv2ServiceError) {
        try context.send(SubmitSharesSuccess(
            channelID: share.channelID, lastSequenceNumber: share.sequenceNumber, newSubmitsAcceptedCount: 1,
            newSharesSum: 1))
    }
}

struct CountingMiner: Sv2MiningClientHandler {
    let counter: Counter
    mutating func connectionDidSetUp(context: Sv2ClientContext) throws(Sv2ServiceError) {
        try context.send(OpenStandardMiningChannel(requestID: 1, userIdentity: "bench", nominalHashRate: 1, maxTarget: .max))
    }
    mutating func handle(_ success: OpenStandardMiningChannelSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        counter.done.signal()
    }
    mutating func handle(_ ack: SubmitSharesSuccessView, context: Sv2ClientContext) throws(Sv2ServiceError) {
        counter.acks += 1
        if counter.acks == counter.target { counter.done.signal() }
    }
}

typealias BenchClient = Sv2Client<CountingMiner, NullSv2JobDeclarationClientHandler, NullSv2TemplateDistributionClientHandler>

/// A server and one connected client on a background loop.
final class Rig: @unchecked Sendable {
    let loop: EventLoop
    let counter = Counter()
    var client: BenchClient!
    var server: AnyObject!

    init(noise: Bool) throws {
        loop = try EventLoop()
        let loop = self.loop
        Thread { try? loop.run() }.start()
        let authority = try AuthorityKeyPair.generate()
        let address = try SocketAddress(ip: "127.0.0.1", port: 0)
        let ready = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let rig = self
        loop.execute {
            let server = try! Sv2Server(
                configuration: .init(listenAddress: address,
                                     noise: noise ? .freshStaticKeyPerConnection(authority: authority, certificateValidity: 3600) : nil),
                eventLoop: loop, mining: AckingPool(), jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try! server.start()
            rig.server = server
            rig.client = try! BenchClient(
                configuration: .init(serverAddress: server.localAddress!, sv2Protocol: .mining,
                                     security: noise ? .noise(authority: authority.publicKey) : .plain),
                eventLoop: loop, mining: CountingMiner(counter: rig.counter),
                jobDeclaration: NullSv2JobDeclarationClientHandler(),
                templateDistribution: NullSv2TemplateDistributionClientHandler())
            rig.client.connect()
            ready.signal()
        }
        ready.wait()
        counter.done.wait()  // channel open
    }

    /// Sends one batch of shares and waits for all acks.
    func runBatch() {
        nonisolated(unsafe) let rig = self
        loop.execute {
            let counter = rig.counter
            counter.target = counter.acks + batch
            for sequence in 0..<batch {
                try? rig.client.send(SubmitSharesStandard(
                    channelID: 1, sequenceNumber: UInt32(truncatingIfNeeded: sequence), jobID: 1, nonce: 7, ntime: 0,
                    version: 0))
            }
        }
        counter.done.wait()
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .mallocCountTotal, .throughput], warmupIterations: 3, maxDuration: .seconds(3))

    for noise in [false, true] {
        let rig = try! Rig(noise: noise)
        Benchmark("\(batch) shares round trip over loopback, \(noise ? "Noise" : "plain")") { benchmark in
            for _ in benchmark.scaledIterations { rig.runBatch() }
        }
    }
}

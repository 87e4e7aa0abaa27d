import Dispatch
import Foundation
import Glibc
@testable import Reactor
import Sv2Codec
import Sv2Noise
import Sv2Service
import Testing

/// A loopback address other than 127.0.0.1, to look like another host to the per-source limits.
func loopbackSource(_ last: Int) -> SocketAddress { try! SocketAddress(ip: "127.0.0.\(last)", port: 0) }

/// Admission control before authentication: every limit refuses at accept (no crypto), counts why, and leaves other
/// sources and established miners alone.
@Suite("Admission control before authentication", .serialized)
struct AdmissionTests {
    /// A source past its token bucket is refused; other sources still complete handshakes.
    @Test(arguments: ReactorBackend.allCases)
    func sourceRateLimit(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: true) {
            $0.newConnectionsPerSourceBurst = 5
            $0.newConnectionsPerSourcePerSecond = 0.01  // one token per 100 s: none refills during the test
        }
        defer { harness.stop() }
        let sockets = try (0..<12).map { _ in try RawSocket(connectingTo: harness.address, from: loopbackSource(2)) }
        defer { for socket in sockets { socket.close() } }
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.statistics.refusedSourceRate >= 6 })
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count + harness.server.value.statistics.connectionsRefused == 13 })
        let stats = try harness.statistics()
        #expect((6...7).contains(stats.refusedSourceRate), "\(stats)")  // 12 - 5, minus at most one refilled token
        #expect(stats.connectionsRefused == stats.refusedSourceRate)
        #expect(stats.handshakesCompleted == 1)  // the honest miner only: refused peers cost no crypto
        // Another source is not affected.
        let other = try HostileClient(server: harness.address, noise: true, from: loopbackSource(3))
        try other.setUp()
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// At most `maxConnectionsPerSource` open connections per source; a closed one frees its place.
    @Test(arguments: ReactorBackend.allCases)
    func sourceConnectionCap(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: false) { $0.maxConnectionsPerSource = 3 }
        defer { harness.stop() }
        var clients = try (0..<3).map { _ in try HostileClient(server: harness.address, noise: false, from: loopbackSource(4)) }
        for client in clients { try client.setUp() }
        let refused = try RawSocket(connectingTo: harness.address, from: loopbackSource(4))
        defer { refused.close() }
        #expect(refused.receiveUntilClosed().closed)
        #expect(try harness.statistics().refusedSourceConnections == 1)
        clients.removeFirst()  // closes its socket
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count == 3 })
        let again = try HostileClient(server: harness.address, noise: false, from: loopbackSource(4))
        try again.setUp()
        #expect(try harness.statistics().refusedSourceConnections == 1)
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// Connections not yet set up are capped; set-up connections do not count; finished handshakes free places.
    @Test(arguments: ReactorBackend.allCases)
    func handshakesInFlightCap(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: true) { $0.maxHandshakesInFlight = 3 }
        defer { harness.stop() }
        var silent = try (0..<3).map { _ in try RawSocket(connectingTo: harness.address, from: loopbackSource(5)) }
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count == 4 })
        let refused = try RawSocket(connectingTo: harness.address, from: loopbackSource(6))
        defer { refused.close() }
        #expect(refused.receiveUntilClosed().closed)
        #expect(try harness.statistics().refusedHandshakesInFlight == 1)
        #expect(try harness.honestShareIsAcknowledged())  // established miners are not affected
        silent.removeLast().close()
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count == 3 })
        let newcomer = try HostileClient(server: harness.address, noise: true, from: loopbackSource(6))
        try newcomer.setUp()
        // Set up: it no longer counts, so one more handshake fits.
        let another = try HostileClient(server: harness.address, noise: true, from: loopbackSource(7))
        try another.setUp()
        #expect(try harness.statistics().refusedHandshakesInFlight == 1)
        for socket in silent { socket.close() }
    }

    /// Handshakes on the worker thread (the default): ten act 1s read in one iteration are all answered off the loop,
    /// a connection that leaves before its act 2 costs nothing on the loop (its answer is dropped), and bytes sent
    /// before act 2 (no initiator has keys yet) are refused.
    @Test(arguments: ReactorBackend.allCases)
    func handshakesRunOnTheWorkerThread(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: true)
        defer { harness.stop() }
        let clients = try (0..<10).map { _ in try HostileClient(server: harness.address, noise: false) }
        let leaver = try RawSocket(connectingTo: harness.address)
        let early = try RawSocket(connectingTo: harness.address)
        defer { early.close() }
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count == 13 })
        var initiators: [NoiseInitiator] = []
        func actOne() throws -> (NoiseInitiator, [UInt8]) {
            var initiator = try NoiseInitiator(authorityKey: testAuthority.publicKey)
            var bytes = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
            try bytes.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
            return (initiator, bytes)
        }
        try harness.runner.inspect {
            for client in clients {
                let (initiator, bytes) = try actOne()
                client.send(bytes)
                initiators.append(initiator)
            }
            leaver.send(try actOne().1)
            leaver.close()
            early.send(try actOne().1 + [1, 2, 3])
        }
        for (index, client) in clients.enumerated() {
            let actTwo = try client.read(NoiseInitiator.actTwoSize)
            try actTwo.withUnsafeBytes { raw in client.session = try initiators[index].readActTwo(raw) }
            try client.setUp()
        }
        #expect(early.receiveUntilClosed().closed)
        #expect(try harness.runner.wait { harness.errors.value.contains(.noise(.outOfOrder)) })
        #expect(try harness.runner.wait {
            let stats = harness.server.value.statistics
            return stats.handshakesOffloaded == 13 && stats.handshakesCompleted + stats.handshakeAnswersDropped == 13
        })
        let stats = try harness.statistics()
        #expect(stats.handshakesCompleted >= 11 && stats.handshakesDeferred == 0, "\(stats)")
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// Handshakes on the loop (worker off): act 1s beyond `maxHandshakesPerIteration` wait for later iterations
    /// (FIFO) and are all answered.
    @Test(arguments: ReactorBackend.allCases)
    func handshakeWorkIsSpreadOverIterations(backend: ReactorBackend) throws {
        let harness = try HostileHarness(backend: backend, noise: true) {
            $0.handshakesOnWorkerThread = false
            $0.maxHandshakesPerIteration = 1
        }
        defer { harness.stop() }
        let clients = try (0..<10).map { _ in try HostileClient(server: harness.address, noise: false) }
        #expect(try harness.runner.wait(timeout: 10) { harness.server.value.connections.count == 11 })
        var initiators: [NoiseInitiator] = []
        // All ten act 1s arrive while the loop is parked, so they are read in one iteration.
        try harness.runner.inspect {
            for client in clients {
                var initiator = try NoiseInitiator(authorityKey: testAuthority.publicKey)
                var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
                try actOne.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
                client.send(actOne)
                initiators.append(initiator)
            }
        }
        for (index, client) in clients.enumerated() {
            let actTwo = try client.read(NoiseInitiator.actTwoSize)
            try actTwo.withUnsafeBytes { raw in client.session = try initiators[index].readActTwo(raw) }
            try client.setUp()
        }
        let stats = try harness.statistics()
        #expect(stats.handshakesCompleted == 11)
        #expect(stats.handshakesDeferred >= 1, "\(stats)")
        #expect(try harness.honestShareIsAcknowledged())
    }

    /// A flood of connections, each sending a random 64-byte act 1 and leaving, while honest miners from other
    /// sources submit shares one at a time: the flood is refused at accept (counted, no crypto beyond the flooding
    /// sources' buckets) and every share is acknowledged. Prints the miners' ack latency quiet and under the flood.
    /// `SV2_FLOOD_BENCH=1` (a quiet machine) runs the scale — two flooding threads from two sources, 100
    /// honest miners taking turns — and asserts the flood p99 within 2× of the quiet p99 (+100 µs of timer noise),
    /// which a shared 2-core CI machine cannot promise.
    @Test(arguments: ReactorBackend.allCases)
    func actOneFloodIsRefusedWhileMinersAreServed(backend: ReactorBackend) throws {
        let bench = ProcessInfo.processInfo.environment["SV2_FLOOD_BENCH"] == "1"
        // SV2_FLOOD_DEFAULTS=1 (benchmark only): default per-source limits, so the flood is admitted and answered —
        // what the handshake worker thread alone does for the miners' latency.
        let admitted = ProcessInfo.processInfo.environment["SV2_FLOOD_DEFAULTS"] == "1"
        let harness = try HostileHarness(backend: backend, noise: true) {
            if !admitted {
                $0.newConnectionsPerSourceBurst = 50
                $0.newConnectionsPerSourcePerSecond = 50
            }
            $0.handshakeTimeout = .seconds(2)
        }
        defer { harness.stop() }
        // One source per miner: the tight per-source limits above apply to them too.
        let miners = try (0..<(bench ? 100 : 1)).map { index in
            try HostileClient(server: harness.address, noise: true, from: loopbackSource(20 + index))
        }
        var channels: [UInt32] = []
        for miner in miners {
            try miner.setUp()
            channels.append(try miner.openChannel())
        }
        var sequences = [UInt32](repeating: 0, count: miners.count)
        var turn = 0
        /// One share at a time, the miners taking turns, for `seconds`, bounded at 200,000 shares.
        func latencies(for seconds: Double) throws -> [Double] {
            let end = Date().addingTimeInterval(seconds)
            var values: [Double] = []
            while Date() < end && values.count < 200_000 {
                values.append(try latency(turn % miners.count))
                turn += 1
            }
            return values
        }
        func latency(_ index: Int) throws -> Double {
            let miner = miners[index]
            sequences[index] += 1
            let sequence = sequences[index]
            let start = DispatchTime.now().uptimeNanoseconds
            miner.send(miner.share(channel: channels[index], sequence: sequence))
            let (header, payload) = try miner.readFrame()
            let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start) / 1000
            guard header.knownMessageType == .submitSharesSuccess,
                  try SubmitSharesSuccess(decoding: payload).lastSequenceNumber == sequence
            else { throw HostileError.unexpected("\(header)") }
            return elapsed
        }
        func percentile(_ values: [Double], _ p: Double) -> Double {
            let sorted = values.sorted()
            return sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))]
        }
        let quiet = try latencies(for: bench ? 5 : 1)

        let address = harness.address
        let stop = Shared(false)
        let attempts = Shared(0)
        let flooders = (0..<(bench ? 2 : 1)).map { index in
            Thread {
                var noise = SystemRandomNumberGenerator()
                let deadline = Date().addingTimeInterval(bench ? 30 : 10)
                // The benchmark paces each flooder at 2,500 connections/s (the 5,000/s in all); unpaced, two
                // threads reach ~16,000/s and the flood measures this 2-core machine's scheduler, not the server.
                let started = DispatchTime.now().uptimeNanoseconds
                var opened: UInt64 = 0
                while !stop.value && Date() < deadline {
                    if bench {
                        let due = started + opened * 400_000
                        let now = DispatchTime.now().uptimeNanoseconds
                        if now < due { usleep(UInt32((due - now) / 1000)) }
                        opened += 1
                    }
                    guard let socket = try? RawSocket(connectingTo: address, from: loopbackSource(2 + index)) else { continue }
                    socket.send((0..<64).map { _ in UInt8.random(in: 0...255, using: &noise) })
                    socket.close()
                    attempts.add(1)
                }
            }
        }
        let floodStarted = Date()
        for flooder in flooders { flooder.start() }
        defer { stop.value = true }
        // The measurement starts once the flood has used up its source's burst and is being refused.
        #expect(try harness.runner.wait(timeout: 10) {
            admitted ? harness.server.value.statistics.handshakesOffloaded > 100
                : harness.server.value.statistics.refusedSourceRate > 100
        })
        // SV2_FLOOD_MARK=<path> (benchmark tooling): <path>.start/.end bracket the measured flood, for a profiler.
        let mark = ProcessInfo.processInfo.environment["SV2_FLOOD_MARK"]
        if let mark { _ = FileManager.default.createFile(atPath: mark + ".start", contents: nil) }
        let before = try harness.runner.sync { harness.runner.loop.backendCounters }
        let flooded = try latencies(for: bench ? 10 : 2)
        let after = try harness.runner.sync { harness.runner.loop.backendCounters }
        if let mark { _ = FileManager.default.createFile(atPath: mark + ".end", contents: nil) }
        stop.value = true
        let floodStats = try harness.statistics()
        let rate = Double(attempts.value) / Date().timeIntervalSince(floodStarted)
        let quiet99 = percentile(quiet, 0.99), flood99 = percentile(flooded, 0.99)
        print("act 1 flood (\(backend)): \(attempts.value) attempts (\(Int(rate))/s), \(floodStats.refusedSourceRate) refused, "
            + "\(floodStats.handshakesOffloaded - miners.count - 1) act 1s computed; \(miners.count) miners' ack p50/p99 quiet "
            + "\(Int(percentile(quiet, 0.5)))/\(Int(quiet99)) µs (\(quiet.count) shares), under flood \(Int(percentile(flooded, 0.5)))/\(Int(flood99)) µs (\(flooded.count) shares)")
        let waits = Double(max(after.waits - before.waits, 1))
        func perWait(_ value: KeyPath<BackendCounters, UInt64>) -> String {
            String(format: "%.2f", Double(after[keyPath: value] - before[keyPath: value]) / waits)
        }
        print("act 1 flood (\(harness.runner.loop.backend)) loop under flood: \(after.waits - before.waits) waits "
            + "(\(after.blockingWaits - before.blockingWaits) blocking), per wait: \(perWait(\.completions)) completions, "
            + "\(perWait(\.accepts)) accepts, \(perWait(\.acceptsAheadOfReads)) accepts ahead of reads; largest batch "
            + "\(after.largestBatch), accepts held \(after.acceptsHeld - before.acceptsHeld), accept re-arms "
            + "\(after.acceptRearms - before.acceptRearms), extra submits \(after.extraSubmits - before.extraSubmits), "
            + "overflowed waits \(after.overflowedWaits - before.overflowedWaits), wake-ups \(after.wakeups - before.wakeups)")
        if !admitted {
            #expect(floodStats.refusedSourceRate > 100)
            #expect(floodStats.connectionsRefused == floodStats.refusedSourceRate)
            // Most of the flood never reached the crypto.
            #expect(floodStats.handshakesOffloaded - miners.count - 1 < floodStats.refusedSourceRate)
        }
        if bench { #expect(flood99 <= 2 * quiet99 + 100, "p99 \(flood99) µs under flood vs \(quiet99) µs quiet") }
    }
}

/// A tiny lock-protected value shared with a helper thread.
final class Shared<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: T
    init(_ value: T) { stored = value }
    var value: T {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

extension Shared where T == Int {
    func add(_ amount: Int) { lock.withLock { stored += amount } }
}

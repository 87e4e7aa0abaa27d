import ArgumentParser
import Foundation
@_spi(Benchmarks) import Sv2Noise

extension LoadTestCommand {
    /// `sv2 loadtest handshakes`: in-process responder handshakes against their secp256k1 cost floor.
    struct Handshakes: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time Noise responder handshakes in-process against their secp256k1 cost floor.",
            discussion: """
                Runs ROUNDS rounds; each times BATCH handshakes of each kind on this thread (thread CPU time, so time \
                the scheduler gives other processes does not count), the kinds in a rotating order: `fresh` (a \
                fresh static key and certificate per connection, SRI style), `persistent` (sv2-tp style) and \
                `floor` (3 BIP324 ECDHs + 1 key generation with its ElligatorSwift encoding + 1 BIP340 signature, \
                the same primitives, no allocation). Prints each round and the medians, with floor ÷ fresh. \
                With --only a single kind runs, without timing (for counting its allocations with `perf stat`: \
                see Docs/Performance.md, Handshakes).
                """)

        @Option(name: .long, help: "Rounds.")
        var rounds = 15

        @Option(name: .long, help: "Handshakes of each kind per round.")
        var batch = 200

        @Option(name: .long, help: "Run only this kind: fresh, persistent or floor.")
        var only: String?

        func run() throws {
            let kinds = ["fresh", "persistent", "floor"]
            if let only, !kinds.contains(only) { throw ValidationError("--only: fresh, persistent or floor") }
            let authority = try AuthorityKeyPair.generate()
            let fresh = NoiseResponder.Identity.freshStaticKeyPerConnection(authority: authority, certificateValidity: 3_600)
            let persistent = try NoiseResponder.Identity.makePersistent(authority: authority, validFrom: 0, notValidAfter: .max)
            var actOne = [UInt8](repeating: 0, count: NoiseInitiator.actOneSize)
            var initiator = try NoiseInitiator(authorityKey: authority.publicKey)
            try actOne.withUnsafeMutableBytes { try initiator.writeActOne(into: $0) }
            var actTwo = [UInt8](repeating: 0, count: NoiseResponder.actTwoSize)
            var floor = try HandshakeCostFloor()
            var sink: UInt8 = 0

            /// Thread CPU microseconds per handshake of `count` handshakes of `kind`.
            func time(_ kind: String, _ count: Int) throws -> Double {
                let start = Self.threadCPUTime()
                for _ in 0..<count {
                    switch kind {
                    case "floor":
                        sink ^= floor.run()
                    default:
                        var responder = try NoiseResponder(identity: kind == "fresh" ? fresh : persistent)
                        try actOne.withUnsafeBytes { one in
                            try actTwo.withUnsafeMutableBytes { two in
                                let session = try responder.respond(toActOne: one, into: two)
                                sink ^= UInt8(truncatingIfNeeded: session.sendNonce)
                            }
                        }
                        sink ^= actTwo[0]
                    }
                }
                return count == 0 ? 0 : (Self.threadCPUTime() - start) / Double(count)
            }

            if let only {
                _ = try time(only, rounds * batch)
                print("\(only): \(rounds * batch) done (\(sink))")
                return
            }
            for kind in kinds { _ = try time(kind, max(batch / 10, 1)) }  // warm-up
            var samples: [String: [Double]] = [:]
            var ratios: [Double] = [], persistentRatios: [Double] = []
            for round in 0..<rounds {
                var line: [String: Double] = [:]
                for offset in 0..<kinds.count {
                    let kind = kinds[(round + offset) % kinds.count]
                    line[kind] = try time(kind, batch)
                    samples[kind, default: []].append(line[kind]!)
                }
                ratios.append(line["floor"]! / line["fresh"]!)
                persistentRatios.append(line["floor"]! / line["persistent"]!)
                print(String(
                    format: "round %2d: fresh %7.1f µs  persistent %7.1f µs  floor %7.1f µs  floor/fresh %.3f",
                    round + 1, line["fresh"]!, line["persistent"]!, line["floor"]!, ratios.last!))
            }
            func median(_ values: [Double]) -> Double {
                let sorted = values.sorted()
                return sorted.count % 2 == 1
                    ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
            }
            print(String(
                format: "median: fresh %.1f µs  persistent %.1f µs  floor %.1f µs  floor/fresh %.3f  floor/persistent %.3f  (%d)",
                median(samples["fresh"]!), median(samples["persistent"]!), median(samples["floor"]!), median(ratios),
                median(persistentRatios), sink))
        }

        /// This thread's CPU time in microseconds.
        static func threadCPUTime() -> Double {
            var ts = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
            return Double(ts.tv_sec) * 1e6 + Double(ts.tv_nsec) / 1e3
        }
    }
}

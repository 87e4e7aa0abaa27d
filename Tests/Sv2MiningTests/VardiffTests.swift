import Foundation
import Testing
@testable import Sv2Bitcoin
@testable import Sv2Mining

/// A simulated miner: shares per second are Poisson with mean hashrate / (hashes per share at the target).
struct SimulatedMiner {
    var hashrate: Double
    var rng: SplitMix64

    mutating func shares(in seconds: Double, at target: Target) -> UInt64 {
        poisson(hashrate * seconds / target.expectedHashesPerShare)
    }

    mutating func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }

    mutating func poisson(_ lambda: Double) -> UInt64 {
        if lambda > 50 { // normal approximation
            let u1 = Swift.max(uniform(), 1e-300), u2 = uniform()
            let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            return UInt64(Swift.max(0, (lambda + z * lambda.squareRoot()).rounded()))
        }
        let limit = exp(-lambda)
        var k: UInt64 = 0
        var p = uniform()
        while p > limit {
            k += 1
            p *= uniform()
        }
        return k
    }
}

@Suite struct VardiffTests {
    static let hashrate = 100e12 // 100 TH/s

    /// Runs `minutes` of simulated mining, updating every second; returns the shares of the last `tail` minutes.
    static func run(
        _ vardiff: inout Vardiff, miner: inout SimulatedMiner, from start: Double, minutes: Int, tail: Int
    ) -> UInt64 {
        var tailShares: UInt64 = 0
        for second in 0..<(minutes * 60) {
            let now = start + Double(second + 1)
            let shares = miner.shares(in: 1, at: vardiff.target)
            vardiff.recordShares(shares)
            if second >= (minutes - tail) * 60 { tailShares += shares }
            _ = vardiff.update(now: now)
        }
        return tailShares
    }

    @Test(arguments: [1e-4, 1e-2, 1.0, 1e2, 1e4])
    func convergesToConfiguredRate(nominalMisreport: Double) {
        let configuration = Vardiff.Configuration(sharesPerMinute: 10, window: 60)
        var vardiff = Vardiff(configuration: configuration, nominalHashrate: Self.hashrate * nominalMisreport, now: 0)
        var miner = SimulatedMiner(hashrate: Self.hashrate, rng: SplitMix64(state: 42))
        let tailShares = Self.run(&vardiff, miner: &miner, from: 0, minutes: 120, tail: 60)
        let ideal = Target(hashrate: Self.hashrate, sharesPerMinute: 10)!
        let ratio = vardiff.target.value.doubleValue / ideal.value.doubleValue
        #expect(ratio > 0.6 && ratio < 1.6, "target off by \(ratio)")
        let rate = Double(tailShares) / 60
        #expect(rate > 8 && rate < 12, "observed \(rate) shares/min")
        #expect(abs(vardiff.estimatedHashrate / Self.hashrate - 1) < 0.6)
    }

    @Test func stepIsBoundedPerUpdate() {
        let configuration = Vardiff.Configuration(sharesPerMinute: 10, window: 60, maxStep: 4)
        let start = Target(difficulty: 1_000)!
        var vardiff = Vardiff(configuration: configuration, initialTarget: start, now: 0)
        #expect(vardiff.update(now: 30) == nil) // window not over
        vardiff.recordShares(100_000)
        let harder = vardiff.update(now: 60)!
        #expect(abs(harder.difficulty / 4_000 - 1) < 1e-9)
        let easier = vardiff.update(now: 120)! // no shares at all
        #expect(abs(easier.difficulty / 1_000 - 1) < 1e-9)
        // On target: no change.
        vardiff.recordShares(10)
        #expect(vardiff.update(now: 180) == nil)
    }

    @Test func respectsBounds() {
        let bounds = Vardiff.Configuration(
            sharesPerMinute: 10, window: 60, minimumTarget: Target(difficulty: 2_000)!,
            maximumTarget: Target(difficulty: 500)!)
        var vardiff = Vardiff(configuration: bounds, initialTarget: Target(difficulty: 1_000)!, now: 0)
        vardiff.recordShares(1_000_000)
        #expect(vardiff.update(now: 60) == Target(difficulty: 2_000)!)
        #expect(vardiff.update(now: 120) == Target(difficulty: 1_000 / 2)!) // ×4 easier, capped at diff 500
        #expect(vardiff.update(now: 180) == nil) // already at the easiest bound
        vardiff.reset(target: .max, now: 200)
        #expect(vardiff.target == Target(difficulty: 500)!)
    }

    @Test func deterministicForSameInputs() {
        func trace() -> [Target] {
            var vardiff = Vardiff(configuration: .init(), nominalHashrate: 1e9, now: 0)
            var miner = SimulatedMiner(hashrate: 5e12, rng: SplitMix64(state: 7))
            var targets: [Target] = []
            for second in 1...1800 {
                vardiff.recordShares(miner.shares(in: 1, at: vardiff.target))
                if let t = vardiff.update(now: Double(second)) { targets.append(t) }
            }
            return targets
        }
        let first = trace()
        #expect(!first.isEmpty && first == trace())
    }
}

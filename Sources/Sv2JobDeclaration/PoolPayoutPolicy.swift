public import Sv2Bitcoin

/// What a Job Declaration server requires of the coinbase of a declared or custom job: the pool's outputs get the
/// whole revenue the coinbase announces (the sum of its outputs; other outputs carry no value, like the witness
/// commitment), at least the block subsidy when the halving interval is known, and the outputs stay within the
/// size and sigop room the pool reserved.
public struct PoolPayoutPolicy: Sendable, Hashable {
    /// The pool's payout scripts (from the outputs handed out with every token).
    public var payoutScripts: Set<[UInt8]>
    /// Blocks per subsidy halving (210 000 on mainnet, 150 on regtest); `nil`: no subsidy floor.
    public var halvingInterval: UInt32?
    /// Largest coinbase accepted (bytes).
    public var maximumCoinbaseSize: Int
    /// Most legacy signature operations the coinbase outputs may carry.
    public var maximumSigops: Int

    /// Creates a policy paying `payoutScripts`.
    public init(
        payoutScripts: Set<[UInt8]>, halvingInterval: UInt32? = nil, maximumCoinbaseSize: Int = 20_000,
        maximumSigops: Int = 400
    ) {
        self.payoutScripts = payoutScripts
        self.halvingInterval = halvingInterval
        self.maximumCoinbaseSize = maximumCoinbaseSize
        self.maximumSigops = maximumSigops
    }

    /// Checks the outputs of a coinbase at `height` (its BIP34 height, if known) of `size` bytes.
    public func check(outputs: [TxOutput], height: UInt32?, size: Int) throws(JobDeclarationError) {
        guard size <= maximumCoinbaseSize else { throw .coinbaseTooLarge(size: size, limit: maximumCoinbaseSize) }
        var announced: UInt64 = 0
        var paid: UInt64 = 0
        var sigops = 0
        for output in outputs {
            let (sum, overflow) = announced.addingReportingOverflow(output.value)
            guard !overflow else { throw .invalidCoinbase("output values overflow") }
            announced = sum
            if payoutScripts.contains(output.script) { paid &+= output.value }  // ≤ announced: cannot overflow
            sigops += Self.sigops(in: output.script)
        }
        guard sigops <= maximumSigops else { throw .tooManySigops(count: sigops, limit: maximumSigops) }
        guard paid > 0, paid >= announced else { throw .underpaysPool(paid: paid, announced: announced) }
        if let halvingInterval, let height {
            let floor = Self.subsidy(height: height, halvingInterval: halvingInterval)
            guard paid >= floor else { throw .underpaysPool(paid: paid, announced: floor) }
        }
    }

    /// 50 BTC halved every `halvingInterval` blocks.
    public static func subsidy(height: UInt32, halvingInterval: UInt32) -> UInt64 {
        let halvings = height / Swift.max(halvingInterval, 1)
        return halvings >= 64 ? 0 : 5_000_000_000 >> UInt64(halvings)
    }

    /// Legacy sigop count of a script (as Bitcoin Core counts outputs: CHECKMULTISIG counts 20); pushed data is
    /// skipped, a truncated push ends the count.
    public static func sigops(in script: [UInt8]) -> Int {
        var count = 0
        var index = 0
        while index < script.count {
            let opcode = script[index]
            index += 1
            switch opcode {
            case 0x01...0x4b: index += Int(opcode)
            case 0x4c, 0x4d, 0x4e:
                let width = opcode == 0x4c ? 1 : opcode == 0x4d ? 2 : 4
                guard index + width <= script.count else { return count }
                var length = 0
                for shift in 0..<width { length |= Int(script[index + shift]) << (8 * shift) }
                index += width + length
            case 0xac, 0xad: count += 1
            case 0xae, 0xaf: count += 20
            default: break
            }
        }
        return count
    }
}

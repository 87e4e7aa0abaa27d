public import Sv2Bitcoin
public import Sv2Mining

/// A `SetCustomMiningJob` a pool received, parsed, for the check of its mining job token (Job Declaration).
///
/// The pool checks what only it can (channel, work selection, coinbase shape, `nbits` against its chain tip); the
/// token and the payout are checked by its Job Declaration server through ``Pool/customJobAuthorizer`` (a direct
/// call when it runs in the same process).
public struct CustomMiningJobRequest: Sendable, Hashable {
    /// The extended channel the job is for.
    public var channelID: UInt32
    /// The channel's `user_identity` (a token allocated to another user is foreign to it).
    public var userIdentity: String
    /// `mining_job_token`.
    public var token: [UInt8]
    /// Header version.
    public var version: UInt32
    /// The previous block the job builds on.
    public var prevHash: Hash256
    /// `min_ntime`.
    public var minNtime: UInt32
    /// `nbits`.
    public var nbits: UInt32
    /// `coinbase_tx_version`.
    public var coinbaseTxVersion: UInt32
    /// scriptSig bytes before the extranonce.
    public var coinbasePrefix: [UInt8]
    /// `coinbase_tx_input_nSequence`.
    public var coinbaseTxInputSequence: UInt32
    /// The coinbase outputs, parsed.
    public var coinbaseTxOutputs: [TxOutput]
    /// `coinbase_tx_locktime`.
    public var coinbaseTxLocktime: UInt32
    /// Merkle path of the coinbase.
    public var merklePath: [Hash256]

    /// Creates a request from its parts.
    public init(
        channelID: UInt32, userIdentity: String, token: [UInt8], version: UInt32, prevHash: Hash256, minNtime: UInt32,
        nbits: UInt32, coinbaseTxVersion: UInt32, coinbasePrefix: [UInt8], coinbaseTxInputSequence: UInt32,
        coinbaseTxOutputs: [TxOutput], coinbaseTxLocktime: UInt32, merklePath: [Hash256]
    ) {
        self.channelID = channelID
        self.userIdentity = userIdentity
        self.token = token
        self.version = version
        self.prevHash = prevHash
        self.minNtime = minNtime
        self.nbits = nbits
        self.coinbaseTxVersion = coinbaseTxVersion
        self.coinbasePrefix = coinbasePrefix
        self.coinbaseTxInputSequence = coinbaseTxInputSequence
        self.coinbaseTxOutputs = coinbaseTxOutputs
        self.coinbaseTxLocktime = coinbaseTxLocktime
        self.merklePath = merklePath
    }

    /// The coinbase around the extranonce, `witness` as in ``Coinbase/parts(witness:)``: scriptSig =
    /// `coinbase_prefix ‖ extranonce(extranonceLength)`, one BIP141 witness item of 32 zero bytes.
    public func coinbaseParts(extranonceLength: Int, witness: Bool) -> CoinbaseParts {
        var prefix: [UInt8] = []
        withUnsafeBytes(of: coinbaseTxVersion.littleEndian) { prefix.append(contentsOf: $0) }
        if witness { prefix += [0x00, 0x01] }
        prefix.append(0x01)
        prefix += [UInt8](repeating: 0, count: 32) + [0xff, 0xff, 0xff, 0xff]
        CompactSize.append(UInt64(coinbasePrefix.count + extranonceLength), to: &prefix)
        prefix += coinbasePrefix
        var suffix: [UInt8] = []
        withUnsafeBytes(of: coinbaseTxInputSequence.littleEndian) { suffix.append(contentsOf: $0) }
        CompactSize.append(UInt64(coinbaseTxOutputs.count), to: &suffix)
        for output in coinbaseTxOutputs { output.serialize(into: &suffix) }
        if witness { suffix += [0x01, 0x20] + [UInt8](repeating: 0, count: 32) }
        withUnsafeBytes(of: coinbaseTxLocktime.littleEndian) { suffix.append(contentsOf: $0) }
        return CoinbaseParts(prefix: prefix, suffix: suffix)
    }
}

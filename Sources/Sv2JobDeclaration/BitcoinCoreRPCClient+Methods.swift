public import Sv2Bitcoin
import Sv2Codec

/// What `getblockchaininfo` says (the start-up check: the right chain, and where its tip is).
public struct BitcoinCoreChainInfo: Sendable, Hashable {
    /// `main`, `test`, `testnet4`, `signet` or `regtest`.
    public var chain: String
    /// Height of the tip.
    public var blocks: Int
    /// Hash of the tip.
    public var bestBlockHash: Hash256
    /// Whether the node is still catching up (its mempool and tip are not current yet).
    public var initialBlockDownload: Bool
}

/// bitcoind's verdict on a `submitblock`.
public enum BitcoinCoreSubmitBlockResult: Sendable, Hashable, CustomStringConvertible {
    /// `null`: the block was valid and connected to the node's best chain.
    case accepted
    /// A reason string: `duplicate` (the node had the block already: stored, but not necessarily on its best chain —
    /// a block that lost the race or was reorged out is a duplicate too), `inconclusive` (stored but not connected:
    /// usually a competing block at that height came first; its scripts were not checked), or a rejection
    /// (`high-hash`, `bad-txnmrklroot`, …).
    case answered(String)

    /// Whether the node stored the block: `null` (accepted and connected), `duplicate` or `inconclusive`. Only
    /// ``accepted`` says the block is on the node's best chain; the other two must be followed by `getblockheader`
    /// (``BitcoinCoreRPCClient/getBlockHeader(hash:timeout:completion:)``) before the block is taken as settled
    /// (``isStoredWithoutVerdict``).
    public var nodeStoredBlock: Bool {
        switch self {
        case .accepted: true
        case .answered: isStoredWithoutVerdict
        }
    }

    /// `duplicate` or `inconclusive`: the node stored the block but did not say whether it is on its best chain.
    public var isStoredWithoutVerdict: Bool {
        switch self {
        case .accepted: false
        case .answered(let reason): reason == "duplicate" || reason == "inconclusive"
        }
    }

    /// `accepted`, or bitcoind's reason.
    public var description: String {
        switch self {
        case .accepted: "accepted"
        case .answered(let reason): reason
        }
    }
}

/// What the node knows of a block, by `getblockheader` (asked for a block whose whole serialization is not at hand,
/// to learn whether the node took it anyway).
public enum BitcoinCoreBlockStatus: Sendable, Hashable, CustomStringConvertible {
    /// Error -5 ("Block not found"): the node knows neither the block nor its header.
    case unknown
    /// On the node's best chain at `height`, `confirmations` (at least 1) deep: the node has the whole block and
    /// validated it (only such blocks join its best chain).
    case onBestChain(height: Int, confirmations: Int)
    /// Known at `height` but not on the node's best chain (`confirmations` -1): a stale block, one that may still
    /// become best, one found invalid, or a header whose block the node does not have.
    case offBestChain(height: Int)

    /// e.g. "on the best chain at height 840000 (3 confirmations)".
    public var description: String {
        switch self {
        case .unknown: "unknown to the node"
        case .onBestChain(let height, let confirmations):
            "on the best chain at height \(height) (\(confirmations) confirmations)"
        case .offBestChain(let height): "known at height \(height) but not on the best chain"
        }
    }
}

extension BitcoinCoreRPCClient {
    /// `getblockchaininfo`.
    public func getBlockchainInfo(completion: @escaping (Result<BitcoinCoreChainInfo, BitcoinCoreRPCError>) -> Void) {
        call("getblockchaininfo") { result in
            completion(result.flatMap { value in
                guard let chain = value["chain"]?.string, let blocks = value["blocks"]?.int,
                      let best = value["bestblockhash"]?.string.flatMap({ Hash256(displayHex: $0) })
                else { return .failure(.malformedResponse(method: "getblockchaininfo", reason: "missing chain, blocks or bestblockhash")) }
                let ibd: Bool
                if case .bool(let value) = value["initialblockdownload"] ?? .bool(false) { ibd = value } else { ibd = false }
                return .success(BitcoinCoreChainInfo(chain: chain, blocks: blocks, bestBlockHash: best, initialBlockDownload: ibd))
            })
        }
    }

    /// `getblockheader <hash> true`: whether the node knows block `hash` and where (``BitcoinCoreBlockStatus``). The
    /// hash goes in display order, as RPC prints hashes (`Hash256.displayHex`); the answer must name the same
    /// hash, carry `height` (0 or more) and `confirmations` (1 or more, or -1 off the best chain), else
    /// ``BitcoinCoreRPCError/malformedResponse(method:reason:)``. Error -5 ("Block not found") is
    /// ``BitcoinCoreBlockStatus/unknown``, any other error object a failure (-28 while the node starts is transient).
    public func getBlockHeader(
        hash: Hash256, timeout: Duration? = nil,
        completion: @escaping (Result<BitcoinCoreBlockStatus, BitcoinCoreRPCError>) -> Void
    ) {
        call("getblockheader", [.string(hash.displayHex), .bool(true)], timeout: timeout) { result in
            switch result {
            case .failure(.rpc(_, -5, _)):
                completion(.success(.unknown))
            case .failure(let error):
                completion(.failure(error))
            case .success(let value):
                completion(Self.blockStatus(value, asked: hash))
            }
        }
    }

    /// The status in a `getblockheader` verbose answer for `asked`.
    static func blockStatus(_ value: BitcoinCoreRPCValue, asked: Hash256) -> Result<BitcoinCoreBlockStatus, BitcoinCoreRPCError> {
        func malformed(_ reason: String) -> Result<BitcoinCoreBlockStatus, BitcoinCoreRPCError> {
            .failure(.malformedResponse(method: "getblockheader", reason: reason))
        }
        guard value.object != nil else { return malformed("verbose answer is not an object") }
        // Another block's header must never settle this one.
        guard let hash = value["hash"]?.string.flatMap({ Hash256(displayHex: $0) }) else { return malformed("missing hash") }
        guard hash == asked else { return malformed("answer names block \(hash), not \(asked)") }
        guard let height = value["height"]?.int, height >= 0 else { return malformed("missing or negative height") }
        guard let confirmations = value["confirmations"]?.int else { return malformed("missing confirmations") }
        switch confirmations {
        case -1: return .success(.offBestChain(height: height))
        case 1...: return .success(.onBestChain(height: height, confirmations: confirmations))
        default: return malformed("confirmations \(confirmations) is neither -1 nor 1 or more")
        }
    }

    /// `submitblock` with the block's serialization.
    public func submitBlock(
        _ block: [UInt8], completion: @escaping (Result<BitcoinCoreSubmitBlockResult, BitcoinCoreRPCError>) -> Void
    ) {
        call("submitblock", [.string(Sv2Hex.encode(block))]) { result in
            completion(result.flatMap { value in
                switch value {
                case .null: .success(.accepted)
                case .string(let reason): .success(.answered(String(reason.prefix(200))))
                default: .failure(.malformedResponse(method: "submitblock", reason: "answer is neither null nor a string"))
                }
            })
        }
    }

    /// `getrawtransaction` for each txid, as one batch: the transactions the node has (mempool, or with `txindex`
    /// the chain), keyed by the txid asked for. Unknown ids (error -5) are simply absent.
    public func getRawTransactions(
        txids: [Hash256], timeout: Duration? = nil,
        completion: @escaping (Result<[Hash256: [UInt8]], BitcoinCoreRPCError>) -> Void
    ) {
        batch("getrawtransaction", params: txids.map { [.string($0.displayHex)] }, timeout: timeout) { result in
            completion(result.flatMap { answers in
                var found: [Hash256: [UInt8]] = [:]
                for (txid, answer) in zip(txids, answers) {
                    switch answer {
                    case .success(let value):
                        guard let hex = value.string, let bytes = Sv2Hex.decode(hex), !bytes.isEmpty else {
                            return .failure(.malformedResponse(method: "getrawtransaction", reason: "result is not transaction hex"))
                        }
                        found[txid] = bytes
                    case .failure(.rpc(_, -5, _)):
                        continue
                    case .failure(let error):
                        return .failure(error)
                    }
                }
                return .success(found)
            })
        }
    }

    /// `getrawmempool true`: the txid of every mempool transaction keyed by its wtxid (what declared jobs name).
    public func getMempoolWtxids(
        timeout: Duration? = nil, completion: @escaping (Result<[Hash256: Hash256], BitcoinCoreRPCError>) -> Void
    ) {
        call("getrawmempool", [.bool(true)], timeout: timeout) { result in
            completion(result.flatMap { value in
                guard let entries = value.object else {
                    return .failure(.malformedResponse(method: "getrawmempool", reason: "verbose answer is not an object"))
                }
                var map: [Hash256: Hash256] = [:]
                map.reserveCapacity(entries.count)
                for (txidText, entry) in entries {
                    guard let txid = Hash256(displayHex: txidText) else {
                        return .failure(.malformedResponse(method: "getrawmempool", reason: "key is not a txid"))
                    }
                    // Nodes before 0.21 have no wtxid field: their transactions are keyed by txid only.
                    let wtxid = entry["wtxid"]?.string.flatMap { Hash256(displayHex: $0) } ?? txid
                    map[wtxid] = txid
                }
                return .success(map)
            })
        }
    }
}

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
    /// `null`: the block was valid and accepted.
    case accepted
    /// A reason string: `duplicate` (already known: the JD client's Template Provider was first),
    /// `inconclusive` (valid, not on the best chain yet), or a rejection (`high-hash`, `bad-txnmrklroot`, …).
    case answered(String)

    /// Whether the node has the block now (accepted, already known, or valid but not yet on the best chain).
    public var nodeHasBlock: Bool {
        switch self {
        case .accepted: true
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

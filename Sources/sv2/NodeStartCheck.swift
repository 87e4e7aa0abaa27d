import Sv2JobDeclaration

/// What the start-up check of `sv2 pool --rpc` and `sv2 jd-server --rpc` makes of the node's answer to
/// `getblockchaininfo` (``JobDeclarationNode/checkNode(_:_:logLabel:transient:loop:)``): the app stops only for a
/// failure that waiting will not mend (refused credentials, a malformed answer, an RPC error other than warmup).
enum NodeStartCheck: Equatable {
    /// The node answered: the line to print (chain, tip, whether it is still in initial block download).
    case ready(String)
    /// The node is still starting (error -28, "Loading block index…"): logged at warning, the app runs on and its
    /// blocks wait for the node within their retries.
    case starting(String)
    /// The node was not reached or did not answer in full: logged at error, the app runs on.
    case notReached(String)
    /// A lasting failure: logged critical, the app stops.
    case stop(String)

    /// The verdict on `result`; `transient` says what the app does while the node is not there.
    init(_ result: Result<BitcoinCoreChainInfo, BitcoinCoreRPCError>, transient: String) {
        switch result {
        case .success(let info):
            self = .ready("bitcoind RPC: chain \(info.chain), tip \(info.blocks) \(info.bestBlockHash.displayHex)"
                + (info.initialBlockDownload ? " (still in initial block download)" : ""))
        case .failure(let error) where error.isWarmup:
            self = .starting("\(error) (bitcoind is still starting; \(transient))")
        case .failure(let error) where error.isTransient:
            self = .notReached("\(error) (\(transient))")
        case .failure(let error):
            self = .stop("\(error): stopping")
        }
    }
}

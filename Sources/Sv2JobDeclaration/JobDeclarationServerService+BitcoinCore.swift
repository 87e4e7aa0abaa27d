public import Logging
public import Sv2Mining
public import Sv2Pool

extension JobDeclarationServerService {
    /// Uses Bitcoin Core through `rpc` (`sv2 jd-server --rpc`); see
    /// ``JobDeclaratorServer/useBitcoinCore(_:journal:pool:logger:)``.
    @discardableResult
    public func useBitcoinCore(
        _ rpc: BitcoinCoreRPCClient, journal: (any BlockJournaling)?, pool: Pool? = nil,
        logger: Logger = Logger(label: "stratum.jd-server.blocks")
    ) -> JobDeclarationBlockSubmitter {
        declarator.useBitcoinCore(rpc, journal: journal, pool: pool, logger: logger)
    }
}

extension JobDeclaratorServer {
    /// Uses Bitcoin Core through `rpc`: declared transactions the mempool view lacks are looked up in the node's
    /// mempool before the JD client is asked for them, and pushed solutions are assembled into blocks, journaled in
    /// `journal` and submitted with `submitblock` (see ``JobDeclarationBlockSubmitter``). With `pool`, solutions on
    /// the pool's chain tip must carry its `nbits`. Loop thread only; returns the submitter (its statistics, its
    /// retry settings), which this server keeps.
    @discardableResult
    public func useBitcoinCore(
        _ rpc: BitcoinCoreRPCClient, journal: (any BlockJournaling)?, pool: Pool? = nil,
        logger: Logger = Logger(label: "stratum.jd-server.blocks")
    ) -> JobDeclarationBlockSubmitter {
        let lookup = BitcoinCoreTransactionLookup(rpc: rpc)
        let submitter = JobDeclarationBlockSubmitter(declarator: self, rpc: rpc, logger: logger)
        submitter.journal = journal
        submitter.mempoolLookup = lookup
        submitter.transactionLookup = { wtxids, completion in lookup.lookUp(wtxids, completion: completion) }
        if let pool {
            submitter.chainTip = { [weak pool] in pool?.chainTip.map { ($0.prevHash, $0.nbits) } }
        }
        transactionLookup = { wtxids, completion in lookup.lookUp(wtxids, completion: completion) }
        // Held here (the submitter refers back to this server unowned): a discarded result still submits blocks.
        onPushedSolution = { solution, jobs, connection in
            submitter.handle(solution, jobs: jobs, from: connection.rawValue)
        }
        return submitter
    }
}

import Logging
import Reactor
import Sv2JobDeclaration
import Sv2Mining

/// `sv2 pool --rpc` without a Job Declaration server: Bitcoin Core for the blocks an earlier run journaled but never
/// saw settled. Those journaled whole (its own found blocks, made whole from the template provider's transactions,
/// and any JD server's) are submitted again at start-up, the node is asked whether it has the others (the provider
/// usually submitted them) (``JournaledBlockSubmission``, as `sv2 blocks submit` does), each settling outcome
/// journaled and the start-up gauge counted down; the running pool still submits its new blocks through its
/// template provider only. With a JD server, ``JobDeclarationNode`` does the same through its block
/// submitter.
struct PoolBitcoinCoreNode {
    let rpc: BitcoinCoreRPCClient
    /// Kept alive while it submits.
    let submission: JournaledBlockSubmission

    /// Connects to the node, checks it (``JobDeclarationNode/checkNode(_:_:logLabel:transient:loop:)``) and
    /// submits the earlier run's whole blocks (and asks about the others). Loop thread (or its creating thread before it runs).
    static func start(
        _ configuration: BitcoinCoreRPCConfiguration, journal: any BlockJournaling, earlier: EarlierUnsettledBlocks,
        loop: EventLoop
    ) -> PoolBitcoinCoreNode {
        let rpc = BitcoinCoreRPCClient(configuration: configuration, eventLoop: loop)
        let logger = Logger(label: "sv2.pool.blocks")
        // The default schedule is the JD server's submitter's (`RetryBackoff`): patient with a node started
        // together with the pool, which answers -28 until its block index is loaded.
        let submission = JournaledBlockSubmission(rpc: rpc, journal: journal, logger: logger)
        earlier.resubmit { records, done in
            submission.submit(records) { results in
                for result in results { result.log(to: logger) }
                done(results)
            }
        }
        JobDeclarationNode.checkNode(
            rpc, configuration, logLabel: "sv2.pool",
            transient: "the earlier run's blocks are retried, then left unsettled for `sv2 blocks submit`", loop: loop)
        return PoolBitcoinCoreNode(rpc: rpc, submission: submission)
    }
}

import Logging
import Reactor
import Sv2JobDeclaration
import Sv2Mining
import Sv2Pool

/// `sv2 jd-server --rpc`: the JD server's Bitcoin Core connection, its block submitter, and the start-up check
/// (`getblockchaininfo`: which chain, where its tip is; refused credentials stop the app, a node not up yet or still
/// starting is only reported: blocks wait for it within the submitter's retries).
struct JobDeclarationNode {
    let rpc: BitcoinCoreRPCClient
    let submitter: JobDeclarationBlockSubmitter

    /// Connects the JD server to the node. Loop thread.
    static func start(
        _ configuration: BitcoinCoreRPCConfiguration, jds: JobDeclarationServerService, pool: PoolService?,
        journal: any BlockJournaling, earlier: EarlierUnsettledBlocks? = nil, loop: EventLoop
    ) -> JobDeclarationNode {
        let rpc = BitcoinCoreRPCClient(configuration: configuration, eventLoop: loop)
        // Without a pool (`--without-pool`) no chain tip is known here: pushed solutions are checked by the node.
        let submitter = jds.useBitcoinCore(rpc, journal: journal, pool: pool?.pool)
        // Blocks an earlier run found but never saw settled: those journaled whole submitted again now (the node
        // answers "duplicate" for those it has), the node asked about the others (`getblockheader`), each settling
        // outcome journaled, the start-up gauge counted down.
        earlier?.resubmit { records, done in submitter.resubmitJournaled(records, completion: done) }
        checkNode(rpc, configuration, logLabel: "sv2.jd-server", transient: "declared transactions are asked of the JD clients; blocks are retried", loop: loop)
        return JobDeclarationNode(rpc: rpc, submitter: submitter)
    }

    /// Prints the node's address, then asks it `getblockchaininfo` and prints its chain and tip (``NodeStartCheck``):
    /// refused credentials (or any other lasting failure) stop the loop; a node still starting (error -28) is logged
    /// at warning, one not up yet at error, both with `transient` (what happens meanwhile), and the app runs on.
    /// Loop thread.
    static func checkNode(
        _ rpc: BitcoinCoreRPCClient, _ configuration: BitcoinCoreRPCConfiguration, logLabel: String, transient: String,
        loop: EventLoop
    ) {
        print("bitcoind RPC: \(configuration.endpoint) (\(configuration.credentials))")
        rpc.getBlockchainInfo { result in
            switch NodeStartCheck(result, transient: transient) {
            case .ready(let line): print(line)
            case .starting(let message): Logger(label: logLabel).warning("\(message)")
            case .notReached(let message): Logger(label: logLabel).error("\(message)")
            case .stop(let message):
                Logger(label: logLabel).critical("\(message)")
                loop.stop()
            }
        }
    }

    /// The status line: blocks assembled, bitcoind's verdicts, failures.
    var status: String {
        let s = submitter.statistics
        return "jd-server blocks: \(s.solutionsReceived) solutions pushed, \(s.blocksFound) blocks, "
            + "verdicts \(s.results.sorted { $0.key < $1.key }), \(s.retries) retries, \(s.submissionFailures) failed, "
            + "rpc answered \(rpc.answered), failures \(rpc.failures.sorted { $0.key < $1.key })"
    }
}

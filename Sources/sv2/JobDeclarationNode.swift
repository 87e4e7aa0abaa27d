import Logging
import Reactor
import Sv2JobDeclaration
import Sv2Mining
import Sv2Pool

/// `sv2 jd-server --rpc`: the JD server's Bitcoin Core connection, its block submitter, and the start-up check
/// (`getblockchaininfo`: which chain, where its tip is; refused credentials stop the app, a node not up yet is
/// only reported: blocks wait for it within the submitter's retries).
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
        // Blocks an earlier run found and journaled whole but never saw settled: submitted again now (the node
        // answers "duplicate" for those it has), each outcome journaled, the start-up gauge counted down.
        if let earlier, !earlier.withBlockData.isEmpty {
            print("bitcoind RPC: submitting \(earlier.withBlockData.count) unsettled blocks of an earlier run from the journal")
            submitter.resubmitJournaled(earlier.withBlockData) { results in
                let settled = results.filter(\.outcome.settled).count
                earlier.remaining = Swift.max(0, earlier.remaining - settled)
                print("bitcoind RPC: \(settled) of \(results.count) journaled blocks of an earlier run settled, "
                    + "\(earlier.remaining) still unsettled")
            }
        }
        print("bitcoind RPC: \(configuration.endpoint) (\(configuration.credentials))")
        rpc.getBlockchainInfo { result in
            switch result {
            case .success(let info):
                print("bitcoind RPC: chain \(info.chain), tip \(info.blocks) \(info.bestBlockHash.displayHex)"
                    + (info.initialBlockDownload ? " (still in initial block download)" : ""))
            case .failure(let error) where error.isTransient:
                Logger(label: "sv2.jd-server").error("\(error) (declared transactions are asked of the JD clients; blocks are retried)")
            case .failure(let error):
                Logger(label: "sv2.jd-server").critical("\(error): stopping")
                loop.stop()
            }
        }
        return JobDeclarationNode(rpc: rpc, submitter: submitter)
    }

    /// The status line: blocks assembled, bitcoind's verdicts, failures.
    var status: String {
        let s = submitter.statistics
        return "jd-server blocks: \(s.solutionsReceived) solutions pushed, \(s.blocksFound) blocks, "
            + "verdicts \(s.results.sorted { $0.key < $1.key }), \(s.retries) retries, \(s.submissionFailures) failed, "
            + "rpc answered \(rpc.answered), failures \(rpc.failures.sorted { $0.key < $1.key })"
    }
}

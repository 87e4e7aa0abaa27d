import Logging
import Sv2JobDeclaration
import Sv2Mining

/// The start-up check of `sv2 pool` and `sv2 jd-server`: blocks an earlier run journaled as found but never saw
/// settled (it stopped before the network's verdict) are read from the block journal and each logged at error
/// level with what to do, so none is silently forgotten across a restart; the count is exported as
/// `sv2_pool_journal_unsettled_blocks`. Counted down as `sv2 pool --rpc` or `sv2 jd-server --rpc` settles them by
/// itself (``resubmit(_:)``). Loop thread only once the loop runs.
final class EarlierUnsettledBlocks {
    /// The unsettled blocks found at start-up.
    let records: [BlockJournalRecord]
    /// Those not settled since (the gauge's value).
    var remaining: Int

    init(records: [BlockJournalRecord]) {
        self.records = records
        remaining = records.count
    }

    /// Reads the journal at `path` (before this run writes to it) and logs every unsettled block and every
    /// unreadable line. A journal that cannot be read at all is logged critical and counts as none.
    static func check(_ path: String, logger: Logger = Logger(label: "sv2.blocks")) -> EarlierUnsettledBlocks {
        let reader: BlockJournalReader
        do { reader = try BlockJournalReader(path: path) } catch {
            logger.critical("cannot read the block journal back to look for unsettled blocks of an earlier run: \(error)")
            return EarlierUnsettledBlocks(records: [])
        }
        for problem in reader.problems {
            logger.error("\(problem): if it was a found block, look at that line by hand")
        }
        let unsettled = reader.unsettled
        for record in unsettled { logger.error("\(message(record, journal: reader.path))") }
        if !unsettled.isEmpty {
            logger.error("\(unsettled.count) unsettled blocks of an earlier run in \(reader.path): list them with `sv2 blocks list --journal \(reader.path) --unsettled`")
        }
        return EarlierUnsettledBlocks(records: unsettled)
    }

    /// The log line for one unsettled block: hash, height, found time, last state, and what to do.
    static func message(_ record: BlockJournalRecord, journal: String) -> String {
        let height = record.height.map { String($0) } ?? "?"
        let found = record.foundTime.map(BlocksCommand.timestamp) ?? "? (its found line is missing)"
        let what = "unsettled block of an earlier run: \(record.hash.displayHex) (height \(height), found \(found), last \(record.state.rawValue))"
        if record.blockData != nil {
            return what + ": submit it with `sv2 blocks submit --journal \(journal) --rpc HOST:PORT --rpc-cookie FILE`"
                + " (sv2 pool --rpc and sv2 jd-server --rpc do so by themselves at start-up)"
        }
        return what + ": the journal holds its header and coinbase but not its other transactions (the template"
            + " provider never sent them), so `sv2 blocks submit` cannot rebuild it, but its provider usually did submit"
            + " it: `sv2 blocks submit --journal \(journal) --rpc HOST:PORT --rpc-cookie FILE` asks the node and settles"
            + " it if the node has it on its best chain (sv2 pool --rpc and sv2 jd-server --rpc do so by themselves at"
            + " start-up); if not, check the chain (`bitcoin-cli getblockheader \(record.hash.displayHex)`, on the"
            + " template provider's node too) and journal what you found with `sv2 blocks settle"
            + " \(record.hash.displayHex) --journal \(journal) --as acknowledged|superseded|failed --reason TEXT`"
    }

    /// The blocks whose whole serialization the journal holds (those `sv2 pool --rpc` and `sv2 jd-server --rpc`
    /// resubmit; the others they ask the node about).
    var withBlockData: [BlockJournalRecord] { records.filter { $0.blockData != nil } }

    /// Hands every unsettled block to `submit` (a ``JournaledBlockSubmission``, or the JD server's block submitter,
    /// which submit those with block data, ask the node whether it has the others, and journal each settling
    /// outcome), then counts the settled ones down from ``remaining`` and prints the summary. Nothing to do without
    /// unsettled blocks. Loop thread.
    func resubmit(
        _ submit: (_ records: [BlockJournalRecord], _ done: @escaping ([JournaledBlockSubmission.Result]) -> Void) -> Void
    ) {
        guard !records.isEmpty else { return }
        let whole = withBlockData.count
        print("bitcoind RPC: submitting \(whole) unsettled blocks of an earlier run from the journal"
            + (whole < records.count ? ", asking the node about the \(records.count - whole) without block data" : ""))
        submit(records) { [self] results in
            let settled = results.filter(\.outcome.settled).count
            remaining = Swift.max(0, remaining - settled)
            print("bitcoind RPC: \(settled) of \(results.count) journaled blocks of an earlier run settled, "
                + "\(remaining) still unsettled")
        }
    }
}

public import Sv2Bitcoin

/// One block as the block journal tells its story: every line about its hash folded into its latest state
/// (``BlockJournalReader``).
public struct BlockJournalRecord: Sendable, Hashable {
    /// The block hash.
    public var hash: Hash256
    /// The block's height (BIP34) when its `found` line had it.
    public var height: UInt32?
    /// Unix time of the `found` line (`nil` when that line is missing or unreadable).
    public var foundTime: UInt64?
    /// The latest event.
    public var state: BlockJournalEntry.Event
    /// Unix time of the latest event.
    public var time: UInt64
    /// The latest reason any line gave (a `failed` line's cause, bitcoind's verdict).
    public var reason: String?
    /// The `found` line's block record (header, coinbase, template, channel, user).
    public var block: FoundBlock?
    /// The whole serialized block, when a `found` line carried it (a Job Declaration server's block, or a pool's
    /// once its template provider sent the block's other transactions: a second `found` line). Kept while
    /// the block is unsettled or `failed` (a JD server journals `failed` for a block its node never took, e.g. one
    /// still unreachable after every retry: `sv2 blocks submit --retry-failed` sends it again); dropped once it is
    /// `acknowledged` or `superseded`, where its bytes would only cost memory.
    public var blockData: [UInt8]?
    /// Line number of the `found` line (`nil`: the block is known only from later lines).
    public var foundLine: Int?
    /// Line number of the latest line about this block.
    public var lastLine: Int
    /// Whether an `acknowledged`, `superseded` or `failed` line came after the (latest) `found` line.
    public var isSettled: Bool

    /// A record started from its first line.
    public init(_ entry: BlockJournalEntry, line: Int) {
        hash = entry.hash
        height = nil
        foundTime = nil
        state = entry.event
        time = entry.time
        reason = nil
        block = nil
        blockData = nil
        foundLine = nil
        lastLine = line
        isSettled = false
        apply(entry, line: line)
    }

    /// Folds the next line about this block in.
    ///
    /// A `found` line about a block already found opens nothing new unless the block failed:
    /// - while the block is unsettled it only adds what it carries (height, record, whole block): a pool journals
    ///   its block's data this way once its template provider sent the block's transactions, and neither the
    ///   block's state nor its time change;
    /// - after `acknowledged` or `superseded` it changes nothing: the verdict stands (a pool's data line may come
    ///   after the chain tip moved onto its block);
    /// - after `failed` it opens the story again: the block was found (pushed) again and is being submitted again.
    public mutating func apply(_ entry: BlockJournalEntry, line: Int) {
        lastLine = line
        if entry.event == .found, foundLine != nil || isSettled {
            switch state {
            case .acknowledged, .superseded:
                return
            case .found, .submitted:
                if let height = entry.height { self.height = height }
                if let block = entry.block { self.block = block }
                if let data = entry.blockData { blockData = data }
                return
            case .failed:
                break
            }
        }
        state = entry.event
        time = entry.time
        if let reason = entry.reason { self.reason = reason }
        switch entry.event {
        case .found:
            // A found line opens the story (again, after a failure): whatever settled it before is history.
            foundTime = entry.time
            foundLine = line
            isSettled = false
            if let height = entry.height { self.height = height }
            if let block = entry.block { self.block = block }
            if let data = entry.blockData { blockData = data }
        case .submitted:
            break
        case .failed:
            isSettled = true
        case .acknowledged, .superseded:
            isSettled = true
            blockData = nil
        }
    }

    /// The user identity of the share that found it, from the `found` line.
    public var userIdentity: String? { block?.userIdentity }
}

import Sv2Codec
import Sv2Bitcoin
import Sv2Mining

/// The pool's found blocks, from the share that found them until the chain tip settles them. Loop thread only.
///
/// Policy (what ``Pool`` does with it):
/// - A block is kept until the template source has taken it: the chain tip moving onto it (``settle(tip:)``)
///   acknowledges it; the tip moving onto another block supersedes it. Only a true duplicate (the same block hash)
///   is ever suppressed.
/// - One submission per previous block is in flight at a time: at a very easy network target (regtest) miners
///   find thousands of sibling blocks a second, and submitting them all floods the template source. A sibling
///   waits as pending and is submitted when the one in flight was not acknowledged within the acknowledgement
///   timeout, or when its submission failed.
/// - At most `maximumPerTip` blocks per previous block are kept (siblings past that are only counted); settled
///   blocks are dropped oldest first beyond `maximumSettled`.
struct FoundBlockBook {
    struct Entry {
        var block: FoundBlock
        /// `nil` when the block cannot be submitted (its template was gone).
        var solution: SubmitSolution?
        /// `.found` while pending; then `.submitted`, and finally `.acknowledged`, `.superseded` or `.failed`.
        var state: BlockJournalEntry.Event
        var submittedAt = 0.0

        var isSettled: Bool { state == .acknowledged || state == .superseded || state == .failed }
    }

    private(set) var entries: [Entry] = []
    let maximumPerTip: Int
    let maximumSettled: Int

    init(maximumPerTip: Int = 16, maximumSettled: Int = 64) {
        self.maximumPerTip = Swift.max(1, maximumPerTip)
        self.maximumSettled = Swift.max(0, maximumSettled)
    }

    /// Whether a block with this hash was already recorded (a true duplicate).
    func contains(_ hash: Hash256) -> Bool { entries.contains { $0.block.hash == hash } }

    /// Blocks not yet settled.
    var unsettledCount: Int { entries.reduce(0) { $0 + ($1.isSettled ? 0 : 1) } }

    /// Records a new block; `false` when `maximumPerTip` unsettled blocks on its previous block are already kept.
    mutating func add(_ entry: Entry) -> Bool {
        let prevHash = entry.block.header.prevHash
        let siblings = entries.reduce(0) { $0 + (!$1.isSettled && $1.block.header.prevHash == prevHash ? 1 : 0) }
        guard entry.isSettled || siblings < maximumPerTip else { return false }
        entries.append(entry)
        prune()
        return true
    }

    /// The pending block to submit now on `prevHash`, if no submission on it is in flight (younger than `timeout`).
    func nextToSubmit(prevHash: Hash256, now: Double, timeout: Double) -> Int? {
        var candidate: Int?
        for index in entries.indices where entries[index].block.header.prevHash == prevHash {
            switch entries[index].state {
            case .submitted where now - entries[index].submittedAt < timeout: return nil
            case .found where candidate == nil && entries[index].solution != nil: candidate = index
            default: break
            }
        }
        return candidate
    }

    mutating func markSubmitted(_ index: Int, now: Double) {
        entries[index].state = .submitted
        entries[index].submittedAt = now
    }

    /// After the template source's link was re-established: what was handed to the old link may be lost with it,
    /// so submitted-but-unacknowledged blocks are pending again.
    mutating func resubmitAfterReconnect() {
        for index in entries.indices where entries[index].state == .submitted { entries[index].state = .found }
    }

    /// Settles blocks against a new chain tip; returns the blocks whose state changed, with their new state.
    mutating func settle(tip prevHash: Hash256) -> [(FoundBlock, BlockJournalEntry.Event)] {
        var changed: [(FoundBlock, BlockJournalEntry.Event)] = []
        for index in entries.indices where !entries[index].isSettled {
            let block = entries[index].block
            if block.hash == prevHash {
                entries[index].state = .acknowledged
            } else if block.header.prevHash != prevHash {
                entries[index].state = .superseded
            } else {
                continue
            }
            changed.append((block, entries[index].state))
        }
        prune()
        return changed
    }

    private mutating func prune() {
        var settled = entries.reduce(0) { $0 + ($1.isSettled ? 1 : 0) }
        guard settled > maximumSettled else { return }
        entries.removeAll { entry in
            guard entry.isSettled, settled > maximumSettled else { return false }
            settled -= 1
            return true
        }
    }
}

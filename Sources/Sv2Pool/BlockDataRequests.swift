import Sv2Bitcoin
import Sv2Mining

/// The `RequestTransactionData` requests outstanding on a pool's template link, and the found blocks waiting for
/// their template's transactions to be journaled whole. Loop thread only (the loop of the template link).
///
/// Routing: a template provider answers requests in the order it got them, and every answer names its template.
/// Each request sent through the pool is recorded in wire order with who asked; an answer goes to the first
/// outstanding request for its template: a found block's (the block path) or another user's (``Pool/onTransactionData``,
/// e.g. a Job Declaration server feeding its mempool view). An answer no recorded request waits for goes to
/// ``Pool/onTransactionData`` as before.
///
/// Bounds: at most ``maximumBlocks`` blocks wait (a block past that is logged and stays as journaled), one request
/// per template is outstanding for blocks (blocks found on the same template share its answer), at most
/// ``maximumOutstanding`` requests are remembered (the oldest forgotten first), and the hashes of the last
/// ``maximumJournaled`` blocks journaled whole are kept so that a block submitted again is not fetched again.
struct BlockDataRequests {
    /// Who asked.
    enum Purpose: Equatable {
        /// The block path: the answer completes the blocks waiting on its template.
        case foundBlocks
        /// Someone else (``Pool/requestTransactionData(templateID:)``): the answer goes to ``Pool/onTransactionData``.
        case forwarded
    }

    /// A found block waiting for its template's transactions.
    struct Waiting {
        var block: FoundBlock
        var height: UInt32?
        /// ``Pool/clock`` seconds after which the wait is given up.
        var deadline: Double
    }

    /// What to do with a block that wants its data.
    enum Decision: Equatable {
        /// Send a request for its template (recorded as waiting already).
        case send
        /// A request for its template is outstanding already and was sent before this block's submission: it
        /// waits for that answer (recorded as waiting).
        case joined
        /// Its data was journaled, or it waits already: nothing to do.
        case nothing
        /// ``maximumBlocks`` blocks wait already.
        case full
    }

    static let maximumBlocks = 16
    static let maximumOutstanding = 256
    static let maximumJournaled = 64

    private(set) var outstanding: [(templateID: UInt64, purpose: Purpose)] = []
    private(set) var waiting: [Waiting] = []
    private var journaled: [Hash256] = []

    /// Decides for `block` (and records it as waiting unless the answer is ``Decision/nothing`` or ``Decision/full``).
    mutating func want(_ block: FoundBlock, height: UInt32?, deadline: Double) -> Decision {
        if journaled.contains(block.hash) || waiting.contains(where: { $0.block.hash == block.hash }) { return .nothing }
        guard waiting.count < Self.maximumBlocks else { return .full }
        waiting.append(Waiting(block: block, height: height, deadline: deadline))
        let asked = outstanding.contains { $0.templateID == block.templateID && $0.purpose == .foundBlocks }
        return asked ? .joined : .send
    }

    /// The request ``want(_:height:deadline:)`` answered ``Decision/send`` for could not be sent: the blocks of
    /// `templateID` stop waiting (returned). None joined them: nothing was recorded as asked in between.
    mutating func notSent(templateID: UInt64) -> [Waiting] { take { $0.block.templateID == templateID } }

    /// Records a request put on the wire.
    mutating func sent(templateID: UInt64, purpose: Purpose) {
        if outstanding.count >= Self.maximumOutstanding { outstanding.removeFirst() }
        outstanding.append((templateID, purpose))
    }

    /// An answer for `templateID` arrived: who asked (`nil`: no recorded request), and for the block path the
    /// blocks that wait for it (no longer waiting).
    mutating func answer(templateID: UInt64) -> (purpose: Purpose?, blocks: [Waiting]) {
        guard let index = outstanding.firstIndex(where: { $0.templateID == templateID }) else { return (nil, []) }
        let purpose = outstanding.remove(at: index).purpose
        guard purpose == .foundBlocks else { return (purpose, []) }
        return (purpose, take { $0.block.templateID == templateID })
    }

    /// Records that `hash` was journaled whole.
    mutating func journaledWhole(_ hash: Hash256) {
        if journaled.count >= Self.maximumJournaled { journaled.removeFirst() }
        journaled.append(hash)
    }

    /// Blocks whose wait ended by `now` (no longer waiting). Their request stays recorded: a late answer is still
    /// routed, and finds no block.
    mutating func expired(now: Double) -> [Waiting] { take { $0.deadline <= now } }

    /// The template link is gone (or a new one came up): no answer will come to what was asked on it.
    mutating func linkClosed() -> [Waiting] {
        outstanding.removeAll()
        let gone = waiting
        waiting.removeAll()
        return gone
    }

    /// The waiting blocks `matching` (no longer waiting).
    private mutating func take(_ matching: (Waiting) -> Bool) -> [Waiting] {
        let taken = waiting.filter(matching)
        if !taken.isEmpty { waiting.removeAll(where: matching) }
        return taken
    }
}

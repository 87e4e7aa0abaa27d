import Testing
@testable import Sv2Mining
@testable import Sv2Proxy

@Suite("Acknowledgement counting: spec deltas and SRI's cumulative totals")
struct ShareAcknowledgementTests {
    @Test func specDeltasWithRejectionsInBetween() {
        var counter = ShareAcknowledgementCounter(firstSequenceNumber: 10)
        // Shares 10…14; 12 rejected; one batch acknowledges up to 14 with 4 accepted.
        counter.rejected(sequenceNumber: 12)
        let delta = counter.succeeded(lastSequenceNumber: 14, count: 4, sum: 40)
        #expect(delta == .init(accepted: 4, work: 40, countAgreed: true))
        #expect(!counter.semantics.isCumulative)
        // Next batch: 15, 16.
        #expect(counter.succeeded(lastSequenceNumber: 16, count: 2, sum: 20) == .init(accepted: 2, work: 20, countAgreed: true))
        #expect(counter.accepted == 6 && counter.acceptedWork == 60)
    }

    @Test func cumulativeTotalsAreDetectedAndTurnedIntoDeltas() {
        var counter = ShareAcknowledgementCounter()
        // SRI: every ack carries the totals since the channel opened.
        #expect(counter.succeeded(lastSequenceNumber: 0, count: 1, sum: 100).accepted == 1)
        let second = counter.succeeded(lastSequenceNumber: 1, count: 2, sum: 200)
        #expect(second == .init(accepted: 1, work: 100, countAgreed: true))
        #expect(counter.semantics.isCumulative)
        counter.rejected(sequenceNumber: 2)
        let third = counter.succeeded(lastSequenceNumber: 4, count: 4, sum: 400)
        #expect(third == .init(accepted: 2, work: 200, countAgreed: true))
        #expect(counter.accepted == 4 && counter.acceptedWork == 400)
    }

    @Test func rejectionAfterTheAcknowledgedRangeWaitsForTheNextOne() {
        var counter = ShareAcknowledgementCounter()
        // Shares 0, 1 accepted (batched), 2 rejected at once, then the batch ack for 0…1 arrives.
        counter.rejected(sequenceNumber: 2)
        #expect(counter.succeeded(lastSequenceNumber: 1, count: 2, sum: 2).accepted == 2)
        #expect(counter.succeeded(lastSequenceNumber: 3, count: 1, sum: 1).accepted == 1)
        #expect(counter.accepted == 3 && counter.semantics.inconsistentCount == 0)
    }

    @Test func countsNeverExceedSequenceProgress() {
        var counter = ShareAcknowledgementCounter(firstSequenceNumber: .max)  // wraps to 0 after the first
        #expect(counter.succeeded(lastSequenceNumber: .max, count: 1, sum: 1).accepted == 1)
        // A bogus count far above what the message can cover credits only what the sequence numbers cover.
        let bogus = counter.succeeded(lastSequenceNumber: 1, count: 1_000_000, sum: 1)
        #expect(bogus.accepted == 2 && !bogus.countAgreed)
        // A repeated or backwards last_sequence_number credits nothing.
        #expect(counter.succeeded(lastSequenceNumber: 1, count: 1, sum: 1).accepted == 0)
        #expect(counter.succeeded(lastSequenceNumber: 0, count: 1, sum: 1).accepted == 0)
        #expect(counter.staleAcknowledgements == 2 && counter.accepted == 3)
    }
}

@Suite("Proxy: downstream acknowledgements in submission order")
struct DownstreamAckQueueTests {
    @Test func localAcknowledgementsWaitForEarlierForwardedShares() {
        var queue = DownstreamAckQueue()
        queue.append(0, .pending)   // forwarded to the pool
        queue.append(1, .accepted)  // below the pool's target: the proxy accepts it itself
        // Acknowledging 1 now would tell the miner share 0 was accepted too: held back.
        #expect(queue.takeSettled() == nil)
        queue.append(2, .pending)
        let settled0 = queue.settle(0, .accepted)
        #expect(settled0)
        let first = queue.takeSettled()
        #expect(first?.last == 1 && first?.count == 2)
        // The pool rejects 2 (the miner got its error already): nothing to acknowledge; 3 then goes out alone.
        let settled2 = queue.settle(2, .rejected)
        #expect(settled2)
        #expect(queue.takeSettled() == nil)
        queue.append(3, .accepted)
        let second = queue.takeSettled()
        #expect(second?.last == 3 && second?.count == 1)
        #expect(queue.count == 0)
        // Settling something unknown or already settled changes nothing.
        let again = queue.settle(3, .accepted)
        let unknown = queue.settle(9, .rejected)
        #expect(!again && !unknown)
    }
}

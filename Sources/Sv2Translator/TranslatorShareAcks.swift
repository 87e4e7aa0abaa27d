import Sv1

/// The shares one upstream channel of a ``Sv2Translator`` forwarded and the pool has not answered yet, in sequence
/// order, each with the device and the Sv1 request waiting for the answer.
///
/// Sequence numbers are per channel, so an acknowledgement is mapped back by (channel, sequence). Bounded by the
/// translator (`maxInFlightShares` across all channels).
struct TranslatorShareAcks {
    struct Entry {
        let sequence: UInt32
        let device: UInt64
        let requestID: Sv1ID
        var settled = false
    }

    private var entries: [Entry] = []
    private var head = 0
    /// The sequence number of the next forwarded share.
    private(set) var nextSequence: UInt32 = 0

    /// Entries still held (a rejected share in the middle stays until the ones before it are answered).
    var count: Int { entries.count - head }

    /// Records the share just sent with ``nextSequence``.
    mutating func record(device: UInt64, requestID: Sv1ID) {
        entries.append(Entry(sequence: nextSequence, device: device, requestID: requestID))
        nextSequence &+= 1
    }

    /// Everything up to `last` not rejected was accepted: calls `body` for each, returns how many.
    mutating func acknowledge(upTo last: UInt32, _ body: (Entry) -> Void) -> UInt32 {
        var acknowledged: UInt32 = 0
        while head < entries.count, Int32(bitPattern: entries[head].sequence &- last) <= 0 {
            let entry = entries[head]
            head += 1
            guard !entry.settled else { continue }
            acknowledged &+= 1
            body(entry)
        }
        compact()
        return acknowledged
    }

    /// The share `sequence` was rejected: its entry, if it was waiting.
    mutating func reject(_ sequence: UInt32) -> Entry? {
        guard let index = entries[head...].firstIndex(where: { $0.sequence == sequence && !$0.settled }) else {
            return nil
        }
        entries[index].settled = true
        let entry = entries[index]
        if index == head {
            while head < entries.count, entries[head].settled { head += 1 }
            compact()
        }
        return entry
    }

    /// Empties the queue, calling `body` for every share still waiting (the link is gone).
    mutating func drain(_ body: (Entry) -> Void) {
        for entry in entries[head...] where !entry.settled { body(entry) }
        entries.removeAll()
        head = 0
    }

    private mutating func compact() {
        if head == entries.count {
            entries.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024, head * 2 > entries.count {
            entries.removeFirst(head)
            head = 0
        }
    }
}

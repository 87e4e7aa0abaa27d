/// Orders a proxy's acknowledgements to one downstream channel so they keep the spec's meaning.
///
/// In the spec, `SubmitShares.Success.last_sequence_number` acknowledges every share up to it, and
/// `new_submits_accepted_count` counts the accepted ones since the previous acknowledgement. A proxy settles some
/// shares itself (below the upstream target) and others only when the upstream answers, so answering each as it
/// settles would acknowledge a share number before earlier ones are known — and a client that counts from
/// sequence-number progress (as it must with SRI's cumulative counts) would miscount. This queue holds the
/// channel's shares in submission order and releases one `Success` for the settled head of the queue.
/// Rejections are answered at once (per share) by the caller and only recorded here.
struct DownstreamAckQueue {
    enum State: UInt8 { case pending, accepted, rejected }
    private var sequences: [UInt32] = []
    private var states: [State] = []
    private var head = 0
    /// Where the last settled share was + 1: upstream answers come in submission order, so the next one is
    /// almost always here (keeps settling a batch linear, not quadratic).
    private var hint = 0

    /// Shares awaiting their upstream answer or an earlier share's.
    var count: Int { sequences.count - head }

    /// Appends a share in submission order.
    mutating func append(_ sequence: UInt32, _ state: State) {
        sequences.append(sequence)
        states.append(state)
    }

    /// Settles a pending share (upstream answer); false when it is not queued or not pending.
    mutating func settle(_ sequence: UInt32, _ state: State) -> Bool {
        let start = Swift.max(head, Swift.min(hint, sequences.count))
        if let index = find(sequence, in: start..<sequences.count) ?? find(sequence, in: head..<start) {
            states[index] = state
            hint = index + 1
            return true
        }
        return false
    }

    private func find(_ sequence: UInt32, in range: Range<Int>) -> Int? {
        for index in range where sequences[index] == sequence && states[index] == .pending { return index }
        return nil
    }

    /// Pops the settled head: the last accepted sequence number and how many were accepted (nil if none).
    mutating func takeSettled() -> (last: UInt32, count: UInt32)? {
        var last: UInt32 = 0
        var accepted: UInt32 = 0
        while head < sequences.count, states[head] != .pending {
            if states[head] == .accepted {
                last = sequences[head]
                accepted &+= 1
            }
            head += 1
        }
        if head == sequences.count {
            sequences.removeAll(keepingCapacity: true)
            states.removeAll(keepingCapacity: true)
            head = 0
            hint = 0
        } else if head > 1024, head * 2 > sequences.count {
            sequences.removeFirst(head)
            states.removeFirst(head)
            hint = Swift.max(0, hint - head)
            head = 0
        }
        return accepted > 0 ? (last, accepted) : nil
    }
}

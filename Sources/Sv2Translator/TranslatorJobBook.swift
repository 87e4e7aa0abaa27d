/// The Sv1 job ids the translator handed out and what each stands for: the upstream job and its version.
///
/// Sv1 job ids are one translator-wide counter (hex), so a job notified to every device is built once; a device's
/// difficulty change re-notifies the running job under a fresh id for that device alone, so shares are always
/// checked against the difficulty that was in force when their job id was sent. Bounded: the oldest ids are
/// forgotten first (their shares would be stale anyway; each device keeps only a few jobs valid).
struct TranslatorJobBook {
    struct Entry {
        let upstreamJobID: UInt32
        let version: UInt32
    }

    private var entries: [UInt32: Entry] = [:]
    private var order: [UInt32] = []
    private var head = 0
    private var next: UInt32 = 1
    let capacity: Int

    init(capacity: Int = 1 << 16) { self.capacity = Swift.max(16, capacity) }

    /// Records a new Sv1 id for `upstreamJobID`.
    mutating func add(upstreamJobID: UInt32, version: UInt32) -> UInt32 {
        let id = next
        next = next == .max ? 1 : next + 1
        if entries.count >= capacity, head < order.count {
            entries[order[head]] = nil
            head += 1
        }
        entries[id] = Entry(upstreamJobID: upstreamJobID, version: version)
        order.append(id)
        if head > 4096, head * 2 > order.count {
            order.removeFirst(head)
            head = 0
        }
        return id
    }

    subscript(id: UInt32) -> Entry? { entries[id] }

    /// The Sv1 wire form of an id.
    static func text(_ id: UInt32) -> String { String(id, radix: 16) }

    /// Reads a wire job id; `nil` for anything the translator never sends.
    static func id(_ text: String) -> UInt32? {
        guard !text.isEmpty, text.utf8.count <= 8 else { return nil }
        return UInt32(text, radix: 16)
    }
}

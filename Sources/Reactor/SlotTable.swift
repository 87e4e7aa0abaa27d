/// Index-addressed storage for objects referenced from kernel completions.
///
/// A 64-bit kernel token carries (kind, generation, slot); the generation makes tokens of a freed slot
/// harmless after the slot is reused.
struct SlotTable<Element: AnyObject> {
    private var elements: [Element?] = []
    private var generations: [UInt32] = []
    private var free: [UInt32] = []
    private(set) var count = 0

    mutating func insert(_ make: (_ slot: UInt32, _ generation: UInt32) -> Element) -> Element {
        let slot: UInt32
        if let reused = free.popLast() {
            slot = reused
        } else {
            slot = UInt32(elements.count)
            elements.append(nil)
            generations.append(1)
        }
        let element = make(slot, generations[Int(slot)])
        elements[Int(slot)] = element
        count += 1
        return element
    }

    mutating func remove(slot: UInt32) {
        let i = Int(slot)
        guard elements[i] != nil else { return }
        elements[i] = nil
        generations[i] = (generations[i] &+ 1) & 0xFF_FFFF
        if generations[i] == 0 { generations[i] = 1 }
        free.append(slot)
        count -= 1
    }

    func lookup(slot: UInt32, generation: UInt32) -> Element? {
        let i = Int(slot)
        guard i < elements.count, generations[i] == generation else { return nil }
        return elements[i]
    }

    /// All live elements (allocates; for shutdown paths only).
    var all: [Element] { elements.compactMap { $0 } }
}

/// What a kernel completion/event refers to.
enum TokenKind: UInt64 {
    case wake = 1, listener, receive, send, connect, cancel
}

/// Packs (kind, generation, slot) into the 64-bit user data of an epoll event or io_uring SQE.
struct Token {
    var kind: TokenKind
    var generation: UInt32
    var slot: UInt32

    init(_ kind: TokenKind, generation: UInt32, slot: UInt32) {
        self.kind = kind
        self.generation = generation
        self.slot = slot
    }

    init?(_ raw: UInt64) {
        guard let kind = TokenKind(rawValue: raw >> 56) else { return nil }
        self.kind = kind
        generation = UInt32((raw >> 32) & 0xFF_FFFF)
        slot = UInt32(truncatingIfNeeded: raw)
    }

    var raw: UInt64 { kind.rawValue << 56 | UInt64(generation & 0xFF_FFFF) << 32 | UInt64(slot) }
}

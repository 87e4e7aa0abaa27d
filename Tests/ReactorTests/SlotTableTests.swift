import Testing
@testable import Reactor

private final class Item {
    let slot: UInt32
    let generation: UInt32
    init(_ slot: UInt32, _ generation: UInt32) {
        self.slot = slot
        self.generation = generation
    }
}

/// `SlotTable` and `Token` are how kernel completions find their objects: a stale completion must never reach the
/// object that reuses a slot.
@Suite("SlotTable and Token")
struct SlotTableTests {
    @Test func insertsLooksUpAndCounts() {
        var table = SlotTable<Item>()
        let a = table.insert { Item($0, $1) }
        let b = table.insert { Item($0, $1) }
        #expect(a.slot == 0 && b.slot == 1 && a.generation == 1 && b.generation == 1)
        #expect(table.count == 2)
        #expect(table.lookup(slot: 0, generation: 1) === a)
        #expect(table.lookup(slot: 1, generation: 1) === b)
        #expect(table.lookup(slot: 2, generation: 1) == nil)  // beyond the table
        #expect(table.lookup(slot: 1, generation: 2) == nil)  // wrong generation
        #expect(Set(table.all.map(\.slot)) == [0, 1])
    }

    @Test func removedSlotsAreReusedUnderANewGeneration() {
        var table = SlotTable<Item>()
        let a = table.insert { Item($0, $1) }
        table.remove(slot: a.slot)
        #expect(table.count == 0)
        #expect(table.lookup(slot: a.slot, generation: a.generation) == nil)
        table.remove(slot: a.slot)  // removing twice is a no-op
        #expect(table.count == 0)
        let b = table.insert { Item($0, $1) }
        #expect(b.slot == a.slot && b.generation == a.generation + 1)
        #expect(table.lookup(slot: a.slot, generation: a.generation) == nil)  // a stale token stays stale
        #expect(table.lookup(slot: b.slot, generation: b.generation) === b)
        #expect(table.count == 1)
    }

    @Test func generationsStayWithin24BitsAndNeverZero() {
        var table = SlotTable<Item>()
        var seen = Set<UInt32>()
        for _ in 0..<1000 {
            let item = table.insert { Item($0, $1) }
            #expect(item.slot == 0)
            #expect(item.generation != 0 && item.generation <= 0xFF_FFFF)
            seen.insert(item.generation)
            table.remove(slot: item.slot)
        }
        #expect(seen.count == 1000)
    }

    @Test(arguments: [TokenKind.wake, .listener, .receive, .send, .connect, .cancel])
    func tokenRoundTrips(_ kind: TokenKind) throws {
        for (generation, slot) in [(UInt32(0), UInt32(0)), (1, 1), (0xFF_FFFF, UInt32.max), (0x12_3456, 0x89AB_CDEF)] {
            let token = try #require(Token(Token(kind, generation: generation, slot: slot).raw))
            #expect(token.kind == kind && token.generation == generation && token.slot == slot)
        }
    }

    @Test func tokenLayout() {
        let raw = Token(.send, generation: 0xAB_CDEF, slot: 0x0123_4567).raw
        #expect(raw == 4 << 56 | 0xAB_CDEF << 32 | 0x0123_4567)
        // Generations are 24 bits: higher bits never spill into the kind.
        let wide = Token(.receive, generation: 0xFFFF_FFFF, slot: 5)
        #expect(Token(wide.raw)?.kind == .receive && Token(wide.raw)?.generation == 0xFF_FFFF)
    }

    @Test func unknownKindsAreNotTokens() {
        #expect(Token(0) == nil)  // user data 0 (e.g. an SQE without a token)
        #expect(Token(7 << 56) == nil)
        #expect(Token(UInt64.max) == nil)
    }
}

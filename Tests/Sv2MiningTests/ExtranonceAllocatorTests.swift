import Testing
@testable import Sv2Mining

@Suite struct ExtranonceAllocatorTests {
    /// The loops of a multi-core pool: each allocator hands out only its own contiguous part of the ids after the
    /// reserved ones, so no two loops ever give out the same prefix; a partition's exhaustion is its own.
    @Test func partitionsNeverOverlap() throws {
        var first = try ExtranonceAllocator(localLength: 1, totalLength: 4, reservedIDs: 2, partition: 0, of: 2)
        var second = try ExtranonceAllocator(localLength: 1, totalLength: 4, reservedIDs: 2, partition: 1, of: 2)
        #expect(first.capacity == 127 && second.capacity == 127)
        var a = Set<Extranonce>()
        var b = Set<Extranonce>()
        for _ in 0..<127 {
            a.insert(try first.allocate())
            b.insert(try second.allocate())
        }
        #expect(a.count == 127 && b.count == 127 && a.isDisjoint(with: b))
        #expect(!a.contains(Extranonce(bytes: [0])!) && !a.contains(Extranonce(bytes: [1])!))  // reserved
        #expect(throws: ExtranonceAllocatorError.self) { try first.allocate() }
        // A freed prefix comes back to its own partition only.
        let freed = try #require(b.first)
        try second.release(freed)
        #expect(try second.allocate() == freed)
        #expect(throws: ExtranonceAllocatorError.self) {
            try ExtranonceAllocator(localLength: 1, totalLength: 4, partition: 2, of: 2)
        }
    }

    @Test func tenThousandChannelsGetUniquePrefixes() throws {
        var allocator = try ExtranonceAllocator(localLength: 2, totalLength: 8)
        #expect(allocator.rollableLength == 6 && allocator.capacity == 65536)
        var seen = Set<Extranonce>()
        for _ in 0..<10_000 {
            let prefix = try allocator.allocate()
            #expect(prefix.count == 2)
            #expect(seen.insert(prefix).inserted)
        }
        #expect(allocator.allocatedCount == 10_000)
        // Close half of them and reopen as many: still no duplicate among open channels.
        let closing = Array(seen.prefix(5_000))
        for prefix in closing {
            try allocator.release(prefix)
            seen.remove(prefix)
        }
        for _ in 0..<5_000 {
            #expect(seen.insert(try allocator.allocate()).inserted)
        }
        #expect(seen.count == 10_000 && allocator.allocatedCount == 10_000)
    }

    @Test func exhaustionAndReuseOldestFirst() throws {
        var allocator = try ExtranonceAllocator(localLength: 1, totalLength: 4, reservedIDs: 2)
        #expect(allocator.capacity == 254)
        var prefixes: [Extranonce] = []
        for _ in 0..<254 { prefixes.append(try allocator.allocate()) }
        // Reserved ids 0 and 1 never appear.
        #expect(!prefixes.contains(Extranonce(bytes: [0])!) && !prefixes.contains(Extranonce(bytes: [1])!))
        #expect(throws: ExtranonceAllocatorError.exhausted(capacity: 254)) { try allocator.allocate() }
        try allocator.release(prefixes[10])
        try allocator.release(prefixes[3])
        #expect(try allocator.allocate() == prefixes[10])
        #expect(try allocator.allocate() == prefixes[3])
        #expect(throws: ExtranonceAllocatorError.exhausted(capacity: 254)) { try allocator.allocate() }
    }

    @Test func releaseRejectsForeignAndDoubleRelease() throws {
        var allocator = try ExtranonceAllocator(localLength: 1, totalLength: 4)
        let prefix = try allocator.allocate()
        try allocator.release(prefix)
        #expect(throws: ExtranonceAllocatorError.notAllocated(prefix)) { try allocator.release(prefix) }
        let foreign = Extranonce(bytes: [9, 9])!
        #expect(throws: ExtranonceAllocatorError.notAllocated(foreign)) { try allocator.release(foreign) }
    }

    @Test func stackedProxiesNeverCollide() throws {
        var pool = try ExtranonceAllocator(localLength: 2, totalLength: 16)
        let proxyA = try pool.allocate(), proxyB = try pool.allocate()
        var allocatorA = try ExtranonceAllocator(upstreamPrefix: proxyA, localLength: 2, totalLength: 16)
        var allocatorB = try ExtranonceAllocator(upstreamPrefix: proxyB, localLength: 2, totalLength: 16)
        #expect(allocatorA.rollableLength == 12)
        var seen = Set<Extranonce>()
        for _ in 0..<1_000 {
            let a = try allocatorA.allocate(), b = try allocatorB.allocate()
            #expect(proxyA.isPrefix(of: a) && proxyB.isPrefix(of: b))
            #expect(seen.insert(a).inserted && seen.insert(b).inserted)
        }
    }

    @Test func invalidLayouts() {
        #expect(throws: ExtranonceAllocatorError.invalidLayout(upstreamLength: 0, localLength: 4, totalLength: 33)) {
            try ExtranonceAllocator(localLength: 4, totalLength: 33)
        }
        let upstream = Extranonce(bytes: [1, 2, 3, 4])!
        #expect(throws: ExtranonceAllocatorError.invalidLayout(upstreamLength: 4, localLength: 2, totalLength: 5)) {
            try ExtranonceAllocator(upstreamPrefix: upstream, localLength: 2, totalLength: 5)
        }
    }
}

import Testing
@testable import Sv2LoadTest

struct SourceAddressPoolTests {
    private func dotted(_ pool: SourceAddressPool, _ index: Int) -> String? {
        pool.rawAddress(forConnection: index).map(SourceAddressPool.dotted)
    }

    @Test func movesToTheNextAddressAfterEachBlockOfConnections() throws {
        let pool = try SourceAddressPool(first: "127.0.0.2", connectionsPerAddress: 3)
        #expect(dotted(pool, 0) == "127.0.0.2")
        #expect(dotted(pool, 2) == "127.0.0.2")
        #expect(dotted(pool, 3) == "127.0.0.3")
        #expect(dotted(pool, 3 * 252) == "127.0.0.254")
        #expect(pool.addressCount(forConnections: 7) == 3)
        #expect(pool.addressCount(forConnections: 0) == 0)
    }

    @Test func skipsNetworkAndBroadcastOctets() throws {
        let pool = try SourceAddressPool(first: "127.0.0.254", connectionsPerAddress: 1)
        #expect(dotted(pool, 0) == "127.0.0.254")
        #expect(dotted(pool, 1) == "127.0.1.1")
        #expect(dotted(pool, 254) == "127.0.1.254")
        #expect(dotted(pool, 255) == "127.0.2.1")
        let fromZero = try SourceAddressPool(first: "127.0.5.0", connectionsPerAddress: 1)
        #expect(dotted(fromZero, 0) == "127.0.5.1")
        let fromBroadcast = try SourceAddressPool(first: "127.0.5.255", connectionsPerAddress: 1)
        #expect(dotted(fromBroadcast, 0) == "127.0.6.1")
    }

    @Test func coversHundredThousandConnectionsAndStopsAtTheEndOf127() throws {
        let pool = try SourceAddressPool(connectionsPerAddress: 20_000)
        #expect(dotted(pool, 99_999) == "127.0.0.6")
        let tail = try SourceAddressPool(first: "127.255.255.254", connectionsPerAddress: 1)
        #expect(dotted(tail, 0) == "127.255.255.254")
        #expect(tail.rawAddress(forConnection: 1) == nil)
        #expect(tail.address(forConnection: 0)?.ip == "127.255.255.254")
        #expect(tail.address(forConnection: 0)?.port == 0)
    }

    @Test func refusesAddressesOutside127AndEmptyBlocks() {
        #expect(throws: LoadTestError.self) { try SourceAddressPool(first: "10.0.0.1") }
        #expect(throws: LoadTestError.self) { try SourceAddressPool(first: "127.0.0") }
        #expect(throws: LoadTestError.self) { try SourceAddressPool(first: "127.0.0.300") }
        #expect(throws: LoadTestError.self) { try SourceAddressPool(connectionsPerAddress: 0) }
    }
}

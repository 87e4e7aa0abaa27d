public import Reactor

/// Local source addresses for outgoing connections, rotated through 127.0.0.0/8.
///
/// One source address can hold only as many connections to one server as it has ephemeral ports (about 28k with
/// Linux's default `ip_local_port_range`); every address of 127.0.0.0/8 reaches the loopback interface, so a load
/// generator spreads its connections over as many of them as needed. Addresses ending in .0 or .255 are skipped
/// (some tools treat them as network or broadcast addresses).
public struct SourceAddressPool: Sendable, Equatable {
    /// The first address handed out, as a host-order IPv4 integer (default 127.0.0.2: 127.0.0.1 is the server's).
    public let first: UInt32
    /// Connections placed on one address before moving to the next.
    public let connectionsPerAddress: Int

    /// Creates a pool starting at `first` (dotted IPv4 inside 127.0.0.0/8) with `connectionsPerAddress` per address.
    public init(first: String = "127.0.0.2", connectionsPerAddress: Int = 20_000) throws(LoadTestError) {
        let parts = first.split(separator: ".", omittingEmptySubsequences: false).compactMap { UInt32($0) }
        guard parts.count == 4, parts.allSatisfy({ $0 <= 255 }), parts[0] == 127 else {
            throw .invalidConfiguration("source address \(first) is not an IPv4 address in 127.0.0.0/8")
        }
        guard connectionsPerAddress > 0 else {
            throw .invalidConfiguration("connections per source address must be positive")
        }
        self.first = parts.reduce(0) { $0 << 8 | $1 }
        self.connectionsPerAddress = connectionsPerAddress
    }

    /// The address (host-order integer) for the `index`-th connection; nil once 127.0.0.0/8 is exhausted.
    public func rawAddress(forConnection index: Int) -> UInt32? {
        var address = first
        var remaining = index / connectionsPerAddress
        // Skip .0 and .255 as the walk proceeds: at most two skips per 256 addresses, so step in whole octets.
        if address & 0xFF == 0 || address & 0xFF == 255 { address = Self.nextUsable(after: address) }
        let usablePerBlock = 254
        let offsetInBlock = Int(address & 0xFF) - 1
        let total = offsetInBlock + remaining
        let blocks = total / usablePerBlock
        remaining = total % usablePerBlock
        let block = UInt64(address >> 8) + UInt64(blocks)
        guard block <= 0x7F_FFFF else { return nil }
        return UInt32(block) << 8 | UInt32(remaining + 1)
    }

    /// The socket address (port 0: the kernel picks it per destination) for the `index`-th connection.
    public func address(forConnection index: Int) -> SocketAddress? {
        guard let raw = rawAddress(forConnection: index) else { return nil }
        return try? SocketAddress(ip: Self.dotted(raw), port: 0)
    }

    /// How many distinct addresses `connections` connections use.
    public func addressCount(forConnections connections: Int) -> Int {
        connections <= 0 ? 0 : (connections - 1) / connectionsPerAddress + 1
    }

    /// Dotted-quad text of a host-order IPv4 integer.
    public static func dotted(_ raw: UInt32) -> String {
        "\(raw >> 24).\(raw >> 16 & 0xFF).\(raw >> 8 & 0xFF).\(raw & 0xFF)"
    }

    private static func nextUsable(after address: UInt32) -> UInt32 {
        (address & 0xFF) == 255 ? (address & ~0xFF) &+ 0x101 : address | 1
    }
}

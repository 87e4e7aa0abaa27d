/// Who a connection comes from, for per-source limits: an IPv4 address, or the /64 prefix of an IPv6 address (one
/// subscriber usually holds a whole /64, so counting single IPv6 addresses would let one host dodge every limit).
/// IPv4-mapped IPv6 addresses (dual-stack listeners) count as their IPv4 address.
public struct SourceKey: Hashable, Sendable, CustomStringConvertible {
    let family: SocketAddress.Family
    let high: UInt64
    let low: UInt64

    public var description: String {
        switch family {
        case .ipv4:
            // `low` holds the four address bytes in network order, first byte lowest (as they lie in memory).
            return (0..<4).map { String((low >> (8 * UInt64($0))) & 0xFF) }.joined(separator: ".")
        case .ipv6:
            return String(UInt64(bigEndian: high), radix: 16) + "::/64"
        }
    }
}

extension SocketAddress {
    /// The key per-source limits count this address under (port dropped; IPv6 cut to its /64).
    public var sourceKey: SourceKey {
        let (high, low) = rawBits
        switch family {
        case .ipv4:
            return SourceKey(family: .ipv4, high: 0, low: high & 0xFFFF_FFFF)
        case .ipv6:
            // ::ffff:a.b.c.d — bytes 0-9 zero, bytes 10-11 0xff, the IPv4 address in bytes 12-15. The words hold the
            // bytes as they lie in memory (byte 8 is `low`'s lowest byte on this little-endian platform).
            if high == 0, low & 0xFFFF_FFFF == 0xFFFF_0000 {
                return SourceKey(family: .ipv4, high: 0, low: low >> 32)
            }
            return SourceKey(family: .ipv6, high: high, low: 0)
        }
    }
}

import CUring
import Glibc

/// An IPv4 or IPv6 address plus TCP port. Only numeric addresses are accepted (no name resolution,
/// which would block the loop).
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The address family.
    public enum Family: Sendable, Hashable { case ipv4, ipv6 }

    /// The address family.
    public let family: Family
    /// The TCP port in host byte order.
    public let port: UInt16
    // Address bytes in network order; IPv4 uses the first 4 bytes.
    private let high: UInt64
    private let low: UInt64
    private let scopeID: UInt32
    /// The 16 address bytes as two words, in memory order (IPv4: the first 4 bytes).
    var rawBits: (UInt64, UInt64) { (high, low) }

    /// Creates an address from a numeric IP (`"127.0.0.1"`, `"::1"`, `"fe80::1%2"` is not supported) and a port.
    public init(ip: String, port: UInt16) throws(ReactorError) {
        var v4 = in_addr()
        if inet_pton(AF_INET, ip, &v4) == 1 {
            var bytes = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &bytes) { raw in
                withUnsafeBytes(of: v4) { raw.copyMemory(from: $0) }
            }
            self.init(family: .ipv4, port: port, high: bytes.0, low: bytes.1, scopeID: 0)
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, ip, &v6) == 1 {
            var bytes = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &bytes) { raw in
                withUnsafeBytes(of: v6) { raw.copyMemory(from: $0) }
            }
            self.init(family: .ipv6, port: port, high: bytes.0, low: bytes.1, scopeID: 0)
            return
        }
        throw ReactorError(.invalidAddress, context: "not a numeric IP address: \(ip)")
    }

    /// Parses `"host:port"` (IPv4) or `"[v6]:port"`; `"localhost:port"` maps to 127.0.0.1. Host names are not
    /// resolved here (see ``Endpoint`` and ``HostResolver``).
    public init(parsing text: String) throws(ReactorError) {
        let endpoint = try Endpoint(parsing: text)
        guard let address = endpoint.numericAddress else {
            throw ReactorError(.invalidAddress, context: "not a numeric IP address: \(endpoint.host)")
        }
        self = address
    }

    private init(family: Family, port: UInt16, high: UInt64, low: UInt64, scopeID: UInt32) {
        self.family = family
        self.port = port
        self.high = high
        self.low = low
        self.scopeID = scopeID
    }

    /// Converts a kernel socket address; nil for families other than IPv4/IPv6.
    init?(storage: UnsafePointer<sockaddr_storage>) {
        switch Int32(storage.pointee.ss_family) {
        case AF_INET:
            let sin = UnsafeRawPointer(storage).load(as: sockaddr_in.self)
            var bytes = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &bytes) { raw in
                withUnsafeBytes(of: sin.sin_addr) { raw.copyMemory(from: $0) }
            }
            self.init(family: .ipv4, port: UInt16(bigEndian: sin.sin_port), high: bytes.0, low: bytes.1, scopeID: 0)
        case AF_INET6:
            let sin6 = UnsafeRawPointer(storage).load(as: sockaddr_in6.self)
            var bytes = (UInt64(0), UInt64(0))
            withUnsafeMutableBytes(of: &bytes) { raw in
                withUnsafeBytes(of: sin6.sin6_addr) { raw.copyMemory(from: $0) }
            }
            self.init(family: .ipv6, port: UInt16(bigEndian: sin6.sin6_port), high: bytes.0, low: bytes.1,
                      scopeID: sin6.sin6_scope_id)
        default:
            return nil
        }
    }

    /// Calls `body` with this address as a kernel `sockaddr` and its length.
    func withSockAddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        let bytes = (high, low)
        switch family {
        case .ipv4:
            var sin = sockaddr_in()
            sin.sin_family = sa_family_t(AF_INET)
            sin.sin_port = port.bigEndian
            withUnsafeMutableBytes(of: &sin.sin_addr) { dst in
                withUnsafeBytes(of: bytes) { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[0..<4])) }
            }
            return withUnsafePointer(to: &sin) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        case .ipv6:
            var sin6 = sockaddr_in6()
            sin6.sin6_family = sa_family_t(AF_INET6)
            sin6.sin6_port = port.bigEndian
            sin6.sin6_scope_id = scopeID
            withUnsafeMutableBytes(of: &sin6.sin6_addr) { dst in
                withUnsafeBytes(of: bytes) { dst.copyMemory(from: $0) }
            }
            return withUnsafePointer(to: &sin6) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { body($0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
            }
        }
    }

    /// The IP in its textual form (without port).
    public var ip: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let bytes = (high, low)
        withUnsafeBytes(of: bytes) { raw in
            _ = inet_ntop(family == .ipv4 ? AF_INET : AF_INET6, raw.baseAddress, &buffer, socklen_t(buffer.count))
        }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `"1.2.3.4:port"` or `"[::1]:port"`, parseable by ``init(parsing:)``.
    public var description: String {
        family == .ipv4 ? "\(ip):\(port)" : "[\(ip)]:\(port)"
    }
}

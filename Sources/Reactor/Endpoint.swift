/// An upstream as an operator writes it: a host name or numeric IP, and a port. Resolved to ``SocketAddress``es
/// off the loop thread by ``HostResolver`` (name resolution blocks), again on every reconnect so DNS changes are
/// followed.
public struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name, IPv4 literal or IPv6 literal (without brackets).
    public let host: String
    /// TCP port.
    public let port: UInt16

    /// Creates an endpoint.
    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// The endpoint of a numeric address.
    public init(_ address: SocketAddress) {
        self.init(host: address.ip, port: address.port)
    }

    /// Parses `host:port`, `1.2.3.4:port` or `[v6]:port`.
    public init(parsing text: String) throws(ReactorError) {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text.index(after: close) < text.endIndex, text[text.index(after: close)] == ":"
            else { throw ReactorError(.invalidAddress, context: "expected [ipv6]:port, got \(text)") }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), !text[..<colon].contains(":") else {
                throw ReactorError(.invalidAddress, context: "expected host:port or [ipv6]:port, got \(text)")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard let port = UInt16(portText) else {
            throw ReactorError(.invalidAddress, context: "invalid port in \(text)")
        }
        // A host name is at most 253 bytes of letters, digits, '-', '.', and (for literals) ':' and '%'.
        guard !host.isEmpty, host.utf8.count <= 253,
              host.utf8.allSatisfy({ $0 == 0x2d || $0 == 0x2e || $0 == 0x3a || $0 == 0x25 || $0 == 0x5f
                  || (0x30...0x39).contains($0) || (0x41...0x5a).contains($0) || (0x61...0x7a).contains($0) })
        else { throw ReactorError(.invalidAddress, context: "invalid host in \(text)") }
        self.init(host: String(host), port: port)
    }

    /// The address when ``host`` is a numeric IP (no resolution needed); `localhost` counts as 127.0.0.1.
    public var numericAddress: SocketAddress? {
        try? SocketAddress(ip: host == "localhost" ? "127.0.0.1" : host, port: port)
    }

    /// `host:port`, or `[v6]:port` for an IPv6 literal.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

import Testing
@testable import Reactor

struct SocketAddressTests {
    @Test(arguments: [
        ("127.0.0.1:3333", "127.0.0.1:3333"),
        ("[::1]:80", "[::1]:80"),
        ("[2001:db8::5]:34254", "[2001:db8::5]:34254"),
        ("localhost:1", "127.0.0.1:1"),
        ("0.0.0.0:0", "0.0.0.0:0"),
    ])
    func parsesAndPrints(_ text: String, _ expected: String) throws {
        let address = try SocketAddress(parsing: text)
        #expect(address.description == expected)
        #expect(try SocketAddress(parsing: address.description) == address)
    }

    @Test(arguments: ["127.0.0.1", "::1:80", "[::1]80", "1.2.3.4:65536", "example.com:80", "[::1", ""])
    func rejectsMalformed(_ text: String) {
        #expect(throws: ReactorError.self) { try SocketAddress(parsing: text) }
    }

    @Test func familiesAndPorts() throws {
        #expect(try SocketAddress(ip: "10.0.0.1", port: 5).family == .ipv4)
        #expect(try SocketAddress(ip: "fe80::1", port: 5).family == .ipv6)
        #expect(try SocketAddress(ip: "::", port: 65535).port == 65535)
    }
}

import Glibc
import Testing
@testable import Reactor

@Suite(.timeLimit(.minutes(1)))
struct ConnectFromTests {
    @Test(arguments: backends)
    func bindsTheRequestedSourceAddress(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let accepted = Probe<String>()
        let listener = try runner.sync {
            try runner.loop.listen(on: loopback) { connection in
                accepted.record(connection.remoteAddress.ip)
                return EchoHandler()
            }
        }
        let sources = ["127.0.0.7", "127.1.2.3"]
        let connected = Probe<Result<Connection, ReactorError>>()
        try runner.sync {
            for ip in sources {
                runner.loop.connect(to: listener.localAddress, from: try SocketAddress(ip: ip, port: 0),
                                    timeout: .seconds(2), handler: EchoHandler()) { connected.record($0) }
            }
        }
        let results = connected.wait(count: 2)
        #expect(results.count == 2)
        for result in results {
            if case .failure(let error) = result { Issue.record("connect failed: \(error)") }
        }
        #expect(Set(accepted.wait(count: 2)) == Set(sources))
    }

    @Test(arguments: backends)
    func reportsAnUnusableSourceAddress(_ backend: ReactorBackend) throws {
        let runner = try LoopRunner(backend)
        defer { runner.stop() }
        let listener = try runner.sync { try runner.loop.listen(on: loopback) { _ in EchoHandler() } }
        let connected = Probe<Result<Connection, ReactorError>>()
        try runner.sync {
            // TEST-NET-1 (RFC 5737) is never assigned to a local interface.
            runner.loop.connect(to: listener.localAddress, from: try SocketAddress(ip: "192.0.2.1", port: 0),
                                timeout: .seconds(2), handler: EchoHandler()) { connected.record($0) }
        }
        guard case .failure(let error) = connected.wait().first else {
            Issue.record("binding 192.0.2.1 should fail")
            return
        }
        #expect(error.errno == EADDRNOTAVAIL)
        #expect(error.context.contains("from 192.0.2.1:0"))
        #expect(try runner.sync { runner.loop.connections.count } == 0)
    }
}

import Benchmark
import CEchoBaseline
import Foundation
import Reactor

// Loopback ping-pong of 100-byte messages against three echo servers, driven by the same C client
// (CEchoBaseline) in the same run: the minimal C epoll server, and the Reactor on io_uring and on epoll.
// One benchmark iteration = one `pp_client_run` of 20_000 messages (1 connection × 20_000 rounds, or
// 1000 connections × 20 rounds), so mallocs per message = "Malloc (total)" / 20_000. The C client
// allocates nothing while running, so the mallocs counted are the server's.

/// Echoes every byte back (what the C baseline does).
final class Echo: ConnectionHandler {
    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        connection.write(UnsafeRawBufferPointer(bytes))
        return bytes.count
    }
    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}
}

enum Server: String, CaseIterable {
    case c = "C-epoll"
    case ioUring = "Reactor-io_uring"
    case epoll = "Reactor-epoll"
}

/// A running echo server plus a connected client, built in `setup` and torn down in `teardown`.
final class Fixture: @unchecked Sendable {
    let server: Server
    let connections: Int
    var cServer: OpaquePointer?
    var loop: EventLoop?
    var loopDone = DispatchSemaphore(value: 0)
    var client: OpaquePointer?

    init(server: Server, connections: Int) {
        self.server = server
        self.connections = connections
    }

    func start() throws {
        var port: Int32 = 0
        switch server {
        case .c:
            cServer = c_echo_server_start(&port)
        case .ioUring, .epoll:
            let loop = try EventLoop(configuration: .init(backend: server == .ioUring ? .ioUring : .epoll))
            let listener = try loop.listen(on: try SocketAddress(ip: "127.0.0.1", port: 0)) { _ in Echo() }
            port = Int32(listener.localAddress.port)
            self.loop = loop
            let done = loopDone
            Thread {
                do { try loop.run() } catch { print("loop failed: \(error)") }
                done.signal()
            }.start()
        }
        guard let client = pp_client_connect(port, Int32(connections), 100) else {
            throw ReactorError(.system, context: "benchmark client connect")
        }
        self.client = client
        _ = pp_client_run(client, 100) // warm up: every connection accepted and served once
    }

    func stop() {
        if let client { pp_client_close(client) }
        client = nil
        if let cServer { c_echo_server_stop(cServer) }
        cServer = nil
        if let loop {
            loop.execute { loop.stop(gracePeriod: .milliseconds(200)) }
            loopDone.wait()
        }
        loop = nil
    }
}

let messagesPerSecond = BenchmarkMetric.custom("messages/s", polarity: .prefersLarger, useScalingFactor: false)

let benchmarks: @Sendable () -> Void = {
    for connections in [1, 1000] {
        // Rounds per iteration: ~20k messages per iteration either way.
        let rounds: Int32 = connections == 1 ? 20_000 : 20
        for server in Server.allCases {
            let fixture = Fixture(server: server, connections: connections)
            Benchmark(
                "pingpong 100B \(connections) conn \(server.rawValue)",
                configuration: .init(
                    metrics: [.wallClock, .mallocCountTotal, messagesPerSecond],
                    scalingFactor: .one,
                    maxDuration: .seconds(4),
                    maxIterations: 50
                ),
                closure: { benchmark in
                    let start = DispatchTime.now().uptimeNanoseconds
                    var messages: Int64 = 0
                    for _ in benchmark.scaledIterations {
                        let n = pp_client_run(fixture.client, rounds)
                        precondition(n > 0, "ping-pong failed")
                        messages += n
                    }
                    let elapsed = DispatchTime.now().uptimeNanoseconds - start
                    benchmark.measurement(messagesPerSecond, Int(Double(messages) * 1e9 / Double(elapsed)))
                },
                setup: { try fixture.start() },
                teardown: { fixture.stop() }
            )
        }
    }
}

public import Prometheus
public import Reactor
public import Logging

/// A tiny HTTP/1.1 responder for Prometheus scrapes on a Reactor event loop: `GET /metrics` answers the
/// registry's text exposition (format 0.0.4); anything else gets a short error. One request per connection
/// (`Connection: close`), requests bounded to 8 KiB, at most 64 connections at once, each closed after
/// ``connectionLifetime`` (10 s) whatever it did (a client that never sends a request holds nothing for long). No web framework. Loop thread
/// only.
///
/// Before each scrape the ``addRefresher(_:)`` closures run on the loop thread, so exporters can turn the
/// services' plain counters into metric values exactly when they are read (nothing runs per share).
public final class MetricsHTTPServer {
    /// The registry served.
    public let registry: PrometheusCollectorRegistry
    /// The loop it runs on.
    public let eventLoop: EventLoop
    /// Scrapes answered.
    public private(set) var scrapes: UInt64 = 0
    /// Requests answered with an error (bad request, unknown path, too large).
    public private(set) var badRequests: UInt64 = 0
    private var listener: Listener?
    private var refreshers: [() -> Void] = []
    private let logger: Logger

    /// Largest request accepted (request line + headers).
    static let maximumRequestSize = 8192
    /// Connections served at once (more are refused).
    static let maximumConnections = 64
    /// Longest a connection may stay open (default 10 s).
    public let connectionLifetime: Duration
    /// Connections open now.
    public private(set) var openConnections = 0

    /// Creates a responder for `registry` on `eventLoop` (nothing listens until ``start(on:)``).
    public init(
        registry: PrometheusCollectorRegistry, eventLoop: EventLoop, connectionLifetime: Duration = .seconds(10),
        logger: Logger = Logger(label: "stratum.metrics")
    ) {
        self.registry = registry
        self.eventLoop = eventLoop
        self.connectionLifetime = connectionLifetime
        self.logger = logger
    }

    /// Runs `body` on the loop thread before every scrape.
    public func addRefresher(_ body: @escaping () -> Void) { refreshers.append(body) }

    /// Starts listening on `address`. Loop thread only.
    public func start(on address: SocketAddress) throws(ReactorError) {
        guard listener == nil else { return }
        listener = try eventLoop.listen(on: address, backlog: 64) { [weak self] connection in
            guard let self, self.openConnections < Self.maximumConnections else { return nil }
            self.openConnections += 1
            let handler = MetricsHTTPConnection(server: self)
            handler.deadline = self.eventLoop.schedule(after: self.connectionLifetime) { [weak handler] in
                guard let handler, !handler.isClosed else { return }
                connection.abort()
            }
            return handler
        }
        logger.info("metrics on http://\(listener!.localAddress)/metrics")
    }

    /// The bound address, once started.
    public var localAddress: SocketAddress? { listener?.localAddress }

    /// Stops listening (a scrape in progress is still answered).
    public func stop() {
        listener?.close()
        listener = nil
    }

    /// The response to one request head (`nil` while it is incomplete).
    func respond(to head: [UInt8]) -> [UInt8] {
        guard let lineEnd = head.firstIndex(of: UInt8(ascii: "\r")) else { return error(400, "Bad Request") }
        let parts = head[..<lineEnd].split(separator: UInt8(ascii: " "))
        guard parts.count == 3, parts[2].starts(with: Array("HTTP/1.".utf8)) else { return error(400, "Bad Request") }
        guard parts[0].elementsEqual("GET".utf8) || parts[0].elementsEqual("HEAD".utf8) else {
            return error(405, "Method Not Allowed")
        }
        let path = parts[1].prefix { $0 != UInt8(ascii: "?") }
        guard path.elementsEqual("/metrics".utf8) else { return error(404, "Not Found") }
        for refresh in refreshers { refresh() }
        scrapes &+= 1
        let body = registry.emitToBuffer()
        let head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            + "Content-Length: \(body.count)\r\nConnection: close\r\n\r\n"
        return Array(head.utf8) + (parts[0].elementsEqual("HEAD".utf8) ? [] : body)
    }

    func connectionClosed() { openConnections -= 1 }

    func error(_ status: Int, _ reason: String) -> [UInt8] {
        badRequests &+= 1
        let body = "\(status) \(reason)\n"
        return Array(("HTTP/1.1 \(status) \(reason)\r\nContent-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Connection: close\r\n\r\n" + body).utf8)
    }
}

/// One scrape connection: collects the request head, answers once, closes.
///
/// Weak: the application may release its metrics server while a scrape connection is still open on the loop; the
/// connection then answers nothing and closes.
final class MetricsHTTPConnection: ConnectionHandler {
    private weak var server: MetricsHTTPServer?
    private var head: [UInt8] = []
    private var answered = false
    var deadline: TimerHandle?
    private(set) var isClosed = false

    init(server: MetricsHTTPServer) { self.server = server }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard !answered else { return bytes.count }
        guard let server else {
            connection.close()
            return bytes.count
        }
        head.append(contentsOf: bytes)
        let end = Self.endOfHead(head)
        if (end ?? head.count) > MetricsHTTPServer.maximumRequestSize {
            answer(connection, server.error(431, "Request Header Fields Too Large"))
        } else if let end {
            answer(connection, server.respond(to: Array(head[..<end])))
        }
        return bytes.count
    }

    private func answer(_ connection: Connection, _ response: [UInt8]) {
        answered = true
        head = []
        response.withUnsafeBytes { _ = connection.write($0) }
        connection.close()
    }

    static func endOfHead(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index] == 10 && bytes[index - 1] == 13 && bytes[index - 2] == 10
            && bytes[index - 3] == 13 {
            return index + 1
        }
        return nil
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        isClosed = true
        guard let server else { return }
        if let deadline { server.eventLoop.cancel(deadline) }
        server.connectionClosed()
    }
}

public import Logging
public import Reactor

/// A Bitcoin Core JSON-RPC client on a Reactor event loop: HTTP/1.1 POST with Basic authentication, one request per
/// connection (`Connection: close`), never blocking the loop (names resolved by `HostResolver`, sockets driven by
/// the loop like every other connection). Loop thread only; completions run on the loop thread, never inside the
/// call that started them.
///
/// Bounded: ``BitcoinCoreRPCConfiguration/maximumConcurrentRequests`` connections at once, at most
/// ``BitcoinCoreRPCConfiguration/maximumQueuedRequests`` waiting (more are refused with
/// ``BitcoinCoreRPCError/queueFull(method:limit:)``), answers of at most
/// ``BitcoinCoreRPCConfiguration/maximumResponseBytes``, each request within
/// ``BitcoinCoreRPCConfiguration/requestTimeout``. Every failure is a typed ``BitcoinCoreRPCError`` naming the
/// method; credentials never appear in one.
public final class BitcoinCoreRPCClient {
    /// Where and how to reach bitcoind.
    public let configuration: BitcoinCoreRPCConfiguration
    /// The loop it runs on.
    public let eventLoop: EventLoop
    /// Calls answered (with a result or an RPC error object).
    public private(set) var answered: UInt64 = 0
    /// Calls that failed, by ``BitcoinCoreRPCError/name``.
    public private(set) var failures: [String: UInt64] = [:]

    private struct Pending {
        var method: String
        var body: [UInt8]
        var timeout: Duration
        var completion: (Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>) -> Void
    }

    private var queue: [Pending] = []
    private var queueHead = 0
    private var active: [UInt64: BitcoinCoreRPCExchange] = [:]
    private var nextExchange: UInt64 = 0
    private var nextID = 0
    private var stopped = false
    private let logger: Logger

    /// Creates a client (nothing is sent until the first call).
    public init(
        configuration: BitcoinCoreRPCConfiguration, eventLoop: EventLoop,
        logger: Logger = Logger(label: "stratum.bitcoind-rpc")
    ) {
        self.configuration = configuration
        self.eventLoop = eventLoop
        self.logger = logger
    }

    /// Requests waiting to be sent.
    public var queuedCount: Int { queue.count - queueHead }
    /// Requests in flight.
    public var activeCount: Int { active.count }

    /// Calls `method` with `params`; `completion` gets the `result` member, or the error. `timeout` (default
    /// ``BitcoinCoreRPCConfiguration/requestTimeout``) bounds the request from connecting to its last byte.
    public func call(
        _ method: String, _ params: [BitcoinCoreRPCValue] = [], timeout: Duration? = nil,
        completion: @escaping (Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>) -> Void
    ) {
        let id = makeID()
        let body = Self.requestText(method: method, params: params, id: id)
        send(method: method, body: body, timeout: timeout) { result in
            completion(result.flatMap { document in Self.answer(document, method: method, id: id) })
        }
    }

    /// Sends `calls` as one JSON-RPC batch (one HTTP request); `completion` gets one result per call, in order,
    /// or the error that failed the whole batch.
    public func batch(
        _ method: String, params: [[BitcoinCoreRPCValue]], timeout: Duration? = nil,
        completion: @escaping (Result<[Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>], BitcoinCoreRPCError>) -> Void
    ) {
        guard !params.isEmpty else {
            let box = LoopBound(completion, on: eventLoop)
            eventLoop.execute { box.value(.success([])) }
            return
        }
        let first = nextID
        let texts = params.map { Self.requestText(method: method, params: $0, id: makeID()) }
        let label = "\(method) ×\(params.count)"
        send(method: label, body: "[" + texts.joined(separator: ",") + "]", timeout: timeout) { result in
            completion(result.flatMap { document in
                Self.batchAnswers(document, method: method, label: label, ids: first..<(first + params.count))
            })
        }
    }

    /// Fails what waits and what is in flight with ``BitcoinCoreRPCError/stopped(method:)``; later calls fail the
    /// same way.
    public func stop() {
        eventLoop.assertInLoop()
        stopped = true
        let waiting = queue[queueHead...]
        queue = []
        queueHead = 0
        for pending in waiting { fail(pending, .stopped(method: pending.method)) }
        for exchange in active.values { exchange.timedOut() }
    }

    // MARK: Requests

    private func makeID() -> Int {
        defer { nextID &+= 1 }
        return nextID
    }

    static func requestText(method: String, params: [BitcoinCoreRPCValue], id: Int) -> String {
        "{\"jsonrpc\":\"1.0\",\"id\":\(id),\"method\":\(BitcoinCoreRPCValue.quoted(method)),"
            + "\"params\":\(BitcoinCoreRPCValue.array(params).jsonText)}"
    }

    private func send(
        method: String, body: String, timeout: Duration?,
        completion: @escaping (Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>) -> Void
    ) {
        eventLoop.assertInLoop()
        let pending = Pending(
            method: method, body: Array(body.utf8), timeout: timeout ?? configuration.requestTimeout, completion: completion)
        guard !stopped else { return fail(pending, .stopped(method: method)) }
        guard queuedCount < configuration.maximumQueuedRequests else {
            return fail(pending, .queueFull(method: method, limit: configuration.maximumQueuedRequests))
        }
        queue.append(pending)
        pump()
    }

    /// Reports a failure from the next loop iteration (never inside the call that asked).
    private func fail(_ pending: Pending, _ error: BitcoinCoreRPCError) {
        failures[error.name, default: 0] &+= 1
        let box = LoopBound(pending.completion, on: eventLoop)
        eventLoop.execute { box.value(.failure(error)) }
    }

    private func pump() {
        while !stopped, active.count < configuration.maximumConcurrentRequests, queueHead < queue.count {
            let pending = queue[queueHead]
            queueHead += 1
            if queueHead > 64, queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            start(pending)
        }
    }

    private func start(_ pending: Pending) {
        let authorization: String
        do throws(BitcoinCoreRPCCredentialError) { authorization = try configuration.credentials.authorization() } catch {
            return fail(pending, .credentials(method: pending.method, reason: error.reason))
        }
        let endpoint = configuration.endpoint
        var head = "POST / HTTP/1.1\r\nHost: \(endpoint)\r\nAuthorization: \(authorization)\r\n"
        head += "Content-Type: application/json\r\nContent-Length: \(pending.body.count)\r\nConnection: close\r\n\r\n"
        let key = nextExchange
        nextExchange &+= 1
        let seconds = Double(pending.timeout.components.seconds) + Double(pending.timeout.components.attoseconds) / 1e18
        let exchange = BitcoinCoreRPCExchange(
            request: Array(head.utf8) + pending.body, limit: configuration.maximumResponseBytes
        ) { [weak self] result in
            guard let self else { return }
            self.finished(key, pending, result.mapError { failure in
                switch failure {
                case .closed: .connectionClosed(method: pending.method)
                case .tooLarge: .responseTooLarge(method: pending.method, limit: self.configuration.maximumResponseBytes)
                case .malformed(let reason): .malformedResponse(method: pending.method, reason: reason)
                case .timedOut: self.stopped ? .stopped(method: pending.method) : .timedOut(method: pending.method, seconds: seconds)
                }
            })
        }
        active[key] = exchange
        exchange.deadline = eventLoop.schedule(after: pending.timeout) { [weak exchange] in
            exchange?.timedOut()
        }
        HostResolver.shared.resolve(endpoint, on: eventLoop) { [weak self, exchange] resolved in
            guard let self, !exchange.isFinished else { return }
            switch resolved {
            case .failure(let error):
                self.finished(key, pending, .failure(.unreachable(method: pending.method, error)))
            case .success(let addresses):
                self.eventLoop.connect(to: addresses[0], timeout: self.configuration.connectTimeout, handler: exchange) {
                    [weak self] connected in
                    switch connected {
                    case .success(let connection):
                        if exchange.isFinished { connection.abort() } else { exchange.connected(connection) }
                    case .failure(let error):
                        guard !exchange.isFinished else { return }
                        self?.finished(key, pending, .failure(.unreachable(method: pending.method, error)))
                    }
                }
            }
        }
    }

    /// One exchange ended (answer or failure): report it, free its slot, start the next.
    private func finished(
        _ key: UInt64, _ pending: Pending, _ result: Result<HTTPResponseReader.Response, BitcoinCoreRPCError>
    ) {
        guard let exchange = active.removeValue(forKey: key) else { return }
        if let deadline = exchange.deadline { eventLoop.cancel(deadline) }
        exchange.failed()  // no-op when the exchange reported this itself
        let outcome = result.flatMap { response in Self.document(response, method: pending.method) }
        switch outcome {
        case .success: answered &+= 1
        case .failure(let error):
            failures[error.name, default: 0] &+= 1
            logger.debug("\(error)")
        }
        pending.completion(outcome)
        pump()
    }

    // MARK: Answers

    /// The JSON document of an HTTP answer. bitcoind answers RPC errors with HTTP 500 (404 for an unknown method)
    /// and a JSON body, so those statuses are read as JSON-RPC too.
    static func document(
        _ response: HTTPResponseReader.Response, method: String
    ) -> Result<BitcoinCoreRPCValue, BitcoinCoreRPCError> {
        if response.status == 401 || response.status == 403 {
            return .failure(.unauthorized(method: method, status: response.status))
        }
        guard [200, 400, 404, 500].contains(response.status) else {
            return .failure(.httpStatus(method: method, status: response.status))
        }
        guard let document = BitcoinCoreRPCValue.parse(response.body) else {
            return .failure(response.status == 200
                ? .malformedResponse(method: method, reason: "body is not JSON")
                : .httpStatus(method: method, status: response.status))
        }
        return .success(document)
    }

    /// The `result` of one JSON-RPC answer object (or its `error`).
    static func answer(
        _ document: BitcoinCoreRPCValue, method: String, id: Int?
    ) -> Result<BitcoinCoreRPCValue, BitcoinCoreRPCError> {
        guard let object = document.object else {
            return .failure(.malformedResponse(method: method, reason: "answer is not a JSON object"))
        }
        if let id, let answered = object["id"], answered.int != id {
            return .failure(.malformedResponse(method: method, reason: "answer id \(answered.jsonText), expected \(id)"))
        }
        if let error = object["error"], error != .null {
            let code = error["code"]?.int ?? 0
            let message = error["message"]?.string ?? error.jsonText
            return .failure(.rpc(method: method, code: code, message: String(message.prefix(500))))
        }
        guard let result = object["result"] else {
            return .failure(.malformedResponse(method: method, reason: "answer has neither result nor error"))
        }
        return .success(result)
    }

    /// The answers of a batch, matched to the calls by id (bitcoind keeps the order, but JSON-RPC does not promise it).
    static func batchAnswers(
        _ document: BitcoinCoreRPCValue, method: String, label: String, ids: Range<Int>
    ) -> Result<[Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>], BitcoinCoreRPCError> {
        guard let answers = document.array else {
            // A batch refused as a whole comes back as one error object.
            if case .failure(let error) = answer(document, method: label, id: nil) { return .failure(error) }
            return .failure(.malformedResponse(method: label, reason: "batch answer is not an array"))
        }
        guard answers.count == ids.count else {
            return .failure(.malformedResponse(method: label, reason: "\(answers.count) answers to \(ids.count) calls"))
        }
        var results = [Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>?](repeating: nil, count: ids.count)
        for item in answers {
            guard let id = item["id"]?.int, ids.contains(id), results[id - ids.lowerBound] == nil else {
                return .failure(.malformedResponse(method: label, reason: "batch answer with an unknown or repeated id"))
            }
            results[id - ids.lowerBound] = answer(item, method: method, id: id)
        }
        return .success(results.map { $0! })
    }
}

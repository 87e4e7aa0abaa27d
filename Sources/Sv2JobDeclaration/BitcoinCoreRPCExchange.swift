import Reactor

/// One HTTP request to bitcoind on its own connection (`Connection: close`): writes the request once connected,
/// reads the answer with an ``HTTPResponseReader``, and reports exactly once (answer, or why not).
final class BitcoinCoreRPCExchange: ConnectionHandler {
    private let request: [UInt8]
    private var reader: HTTPResponseReader
    private var onFinish: ((Result<HTTPResponseReader.Response, ExchangeFailure>) -> Void)?
    /// The request timeout's timer (cancelled when the exchange finishes).
    var deadline: TimerHandle?
    /// The connection once connected (to abort it on timeout).
    weak var connection: Connection?

    /// Why an exchange produced no answer.
    enum ExchangeFailure: Error {
        case closed
        case tooLarge
        case malformed(String)
        case timedOut
    }

    init(request: [UInt8], limit: Int, onFinish: @escaping (Result<HTTPResponseReader.Response, ExchangeFailure>) -> Void) {
        self.request = request
        reader = HTTPResponseReader(limit: limit)
        self.onFinish = onFinish
    }

    var isFinished: Bool { onFinish == nil }

    /// Connected: send the whole request (bitcoind answers once it has read it).
    func connected(_ connection: Connection) {
        self.connection = connection
        request.withUnsafeBytes { _ = connection.write($0) }
    }

    func connection(_ connection: Connection, didRead bytes: UnsafeMutableRawBufferPointer) -> Int {
        guard !isFinished else { return bytes.count }
        reader.append(UnsafeRawBufferPointer(bytes))
        settle(connection)
        return bytes.count
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {
        guard !isFinished else { return }
        reader.finish()
        settle(nil)
        finish(.failure(.closed))
    }

    /// The request timeout passed.
    func timedOut() {
        guard !isFinished else { return }
        finish(.failure(.timedOut))
        connection?.abort()
    }

    /// Failed before a connection existed.
    func failed() { finish(.failure(.closed)) }

    private func settle(_ connection: Connection?) {
        switch reader.state {
        case .incomplete: return
        case .complete(let response): finish(.success(response))
        case .tooLarge: finish(.failure(.tooLarge))
        case .malformed(let reason): finish(.failure(.malformed(reason)))
        }
        connection?.abort()
    }

    private func finish(_ result: Result<HTTPResponseReader.Response, ExchangeFailure>) {
        guard let onFinish else { return }
        self.onFinish = nil
        onFinish(result)
    }
}

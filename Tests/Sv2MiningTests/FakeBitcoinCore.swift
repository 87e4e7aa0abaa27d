import Foundation
import Reactor
import Sv2Codec
import Sv2Mining
@testable import Sv2Bitcoin

/// A stand-in for Bitcoin Core's JSON-RPC server on a test's event loop (no bitcoind in CI): checks HTTP Basic
/// authentication and the JSON-RPC request shape (POST, JSON body, method, params array, id; batches), answers
/// `getblockchaininfo`, `getrawmempool`, `getrawtransaction` (from ``mempool``), `submitblock` (recording every
/// block) and `getblockheader` (from ``headers``, recording every hash asked), the way bitcoind does: HTTP 200 with the answer, HTTP 500 with the error object, 401 with an empty body.
/// Parses with Foundation's `JSONSerialization`, independently of the client under test. Loop thread only.
final class FakeBitcoinCore: @unchecked Sendable {
    let loop: EventLoop
    /// `user:password` the requests must carry.
    var credentials: String
    /// The node's mempool (full serializations).
    var mempool: () -> [[UInt8]] = { [] }
    /// The answer to `submitblock` (nil = `null`, accepted).
    var submitVerdict: ([UInt8]) -> String? = { _ in nil }
    /// Every block submitted (decoded from hex).
    private(set) var submitted: [[UInt8]] = []
    /// The block headers the node knows, by hash as RPC prints it (display order): height, and confirmations
    /// (1 or more on its best chain, -1 off it). `getblockheader` for any other hash is error -5, "Block not found".
    var headers: [String: (height: Int, confirmations: Int)] = [:]
    /// Replaces `getblockheader`'s verbose answer for a known header (given the answer bitcoind would give): to
    /// answer malformed, or about another block.
    var headerAnswer: (([String: Any]) -> Any)?
    /// Every hash `getblockheader` was asked about, as sent.
    private(set) var headerQueries: [String] = []
    /// Every method called, in order (batch calls one by one).
    private(set) var calls: [String] = []
    /// Requests refused for their credentials.
    private(set) var unauthorized = 0
    /// Requests that broke the HTTP/JSON-RPC shape (what was wrong).
    private(set) var shapeViolations: [String] = []
    /// The next this many requests are read, then the connection is closed without an answer (a node going down).
    var dropRequests = 0
    /// Every request is answered with these bytes instead (malformed or oversized answers).
    var rawAnswer: [UInt8]?
    /// Requests are read and never answered (a hung node).
    var silent = false
    /// The next calls (any method, batch calls one by one) are answered with these JSON-RPC errors, one each, in
    /// order, as bitcoind does (HTTP 500 with the error object): e.g. -28 "Loading block index…" while it starts.
    var errorAnswers: [(code: Int, message: String)] = []
    /// Every call of these methods (after ``errorAnswers``) is answered with this JSON-RPC error: e.g.
    /// `getblockheader` answering -28 while `submitblock` answers.
    var failingMethods: [String: (code: Int, message: String)] = [:]
    private var listener: Listener?

    init(loop: EventLoop, credentials: String = "__cookie__:c00k1e") {
        self.loop = loop
        self.credentials = credentials
    }

    /// Starts listening on a loopback port; returns the address.
    func start() throws -> SocketAddress {
        let listener = try loop.listen(on: try SocketAddress(ip: "127.0.0.1", port: 0)) { [weak self] _ in
            guard let self else { return nil }
            return FakeBitcoinCoreConnection(node: self)
        }
        self.listener = listener
        return listener.localAddress
    }

    func stop() {
        listener?.close()
        listener = nil
    }

    /// The full answer (HTTP response bytes) to one request; nil = close without answering.
    func answer(head: String, body: [UInt8]) -> [UInt8]? {
        if dropRequests > 0 {
            dropRequests -= 1
            return nil
        }
        if let rawAnswer { return rawAnswer }
        let lines = head.components(separatedBy: "\r\n")
        if !(lines.first ?? "").hasPrefix("POST / HTTP/1.1") { shapeViolations.append("request line \(lines.first ?? "")") }
        let headers = Dictionary(
            lines.dropFirst().compactMap { line -> (String, String)? in
                guard let colon = line.firstIndex(of: ":") else { return nil }
                return (line[..<colon].lowercased(), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
            }, uniquingKeysWith: { first, _ in first })
        guard headers["authorization"] == "Basic " + Data(credentials.utf8).base64EncodedString() else {
            unauthorized += 1
            return Self.http(401, "Unauthorized", body: [])
        }
        if headers["content-type"] != "application/json" { shapeViolations.append("content-type \(headers["content-type"] ?? "none")") }
        guard let document = try? JSONSerialization.jsonObject(with: Data(body)) else {
            shapeViolations.append("body is not JSON")
            return Self.http(500, "Internal Server Error", body: Array("{\"result\":null,\"error\":{\"code\":-32700,\"message\":\"Parse error\"},\"id\":null}".utf8))
        }
        if let batch = document as? [Any] {
            let answers = batch.map { answer(call: $0).object }
            return Self.http(200, "OK", json: answers)
        }
        let (object, failed) = answer(call: document)
        return Self.http(failed ? 500 : 200, failed ? "Internal Server Error" : "OK", json: object)
    }

    /// One JSON-RPC call's answer object, and whether it is an error.
    private func answer(call: Any) -> (object: [String: Any], failed: Bool) {
        guard let call = call as? [String: Any], let method = call["method"] as? String, let params = call["params"] as? [Any],
              let id = call["id"]
        else {
            shapeViolations.append("call without method, params array or id")
            return (["result": NSNull(), "error": ["code": -32600, "message": "Invalid Request"], "id": NSNull()], true)
        }
        calls.append(method)
        func error(_ code: Int, _ message: String) -> (object: [String: Any], failed: Bool) {
            (["result": NSNull(), "error": ["code": code, "message": message], "id": id], true)
        }
        if !errorAnswers.isEmpty {
            let answer = errorAnswers.removeFirst()
            return error(answer.code, answer.message)
        }
        if let failure = failingMethods[method] { return error(failure.code, failure.message) }
        func result(_ value: Any) -> (object: [String: Any], failed: Bool) { (["result": value, "error": NSNull(), "id": id], false) }
        switch method {
        case "getblockchaininfo":
            return result([
                "chain": "regtest", "blocks": 150, "initialblockdownload": false,
                "bestblockhash": String(repeating: "0", count: 63) + "1",
            ])
        case "getrawmempool":
            guard params.count == 1, params[0] as? Bool == true else { return error(-8, "verbose expected") }
            var entries: [String: Any] = [:]
            for transaction in mempool() {
                let txid = SHA256d.hash(TransactionSerialization.withoutWitness(transaction) ?? transaction)
                entries[txid.displayHex] = ["wtxid": SHA256d.hash(transaction).displayHex, "vsize": transaction.count]
            }
            return result(entries)
        case "getrawtransaction":
            guard let txid = params.first as? String else { return error(-8, "txid expected") }
            let found = mempool().first {
                SHA256d.hash(TransactionSerialization.withoutWitness($0) ?? $0).displayHex == txid
            }
            guard let found else { return error(-5, "No such mempool or blockchain transaction. Use gettransaction for wallet transactions.") }
            return result(Sv2Hex.encode(found))
        case "submitblock":
            guard params.count == 1, let hex = params[0] as? String, let block = Sv2Hex.decode(hex) else {
                return error(-22, "Block decode failed")
            }
            submitted.append(block)
            return result(submitVerdict(block) ?? NSNull())
        case "getblockheader":
            // bitcoind: (blockhash, verbose = true); a hash that is not 64 hex digits is -8.
            guard (1...2).contains(params.count), let hash = params[0] as? String else { return error(-8, "blockhash must be a string") }
            headerQueries.append(hash)
            guard hash.count == 64, Sv2Hex.decode(hash) != nil else { return error(-8, "blockhash must be of length 64 (not \(hash.count), for '\(hash)')") }
            guard params.count == 1 || params[1] as? Bool == true else { return error(-8, "verbose expected") }
            guard let known = headers[hash.lowercased()] else { return error(-5, "Block not found") }
            // The shape of bitcoind's verbose answer (fields other than hash, confirmations and height made up).
            var answer: [String: Any] = [
                "hash": hash.lowercased(), "confirmations": known.confirmations, "height": known.height,
                "version": 536_870_912, "versionHex": "20000000",
                "merkleroot": String(repeating: "ab", count: 32), "time": 1_700_000_100, "mediantime": 1_700_000_000,
                "nonce": 7, "bits": "207fffff", "difficulty": 4.656542373906925e-10,
                "chainwork": String(repeating: "0", count: 60) + "0130", "nTx": 1,
                "previousblockhash": String(repeating: "0", count: 63) + "1",
            ]
            if known.height == 0 { answer["previousblockhash"] = nil }
            return result(headerAnswer?(answer) ?? answer)
        default:
            return error(-32601, "Method not found")
        }
    }

    static func http(_ status: Int, _ reason: String, json: Any) -> [UInt8] {
        let body = (try? JSONSerialization.data(withJSONObject: json)) ?? Data()
        return http(status, reason, body: Array(body))
    }

    static func http(_ status: Int, _ reason: String, body: [UInt8]) -> [UInt8] {
        Array("HTTP/1.1 \(status) \(reason)\r\nContent-Type: application/json\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body
    }
}

/// One connection to the fake node: reads a request (head, then `Content-Length` bytes), answers, closes.
final class FakeBitcoinCoreConnection: ConnectionHandler {
    private weak var node: FakeBitcoinCore?
    private var bytes: [UInt8] = []

    init(node: FakeBitcoinCore) { self.node = node }

    func connection(_ connection: Connection, didRead buffer: UnsafeMutableRawBufferPointer) -> Int {
        bytes.append(contentsOf: buffer)
        guard let node, let end = Self.headEnd(bytes) else { return buffer.count }
        let head = String(decoding: bytes[..<end], as: UTF8.self)
        let length = head.components(separatedBy: "\r\n")
            .first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
        guard bytes.count >= end + length else { return buffer.count }
        let body = Array(bytes[end..<(end + length)])
        bytes = []
        if node.silent { return buffer.count }
        if let answer = node.answer(head: head, body: body) {
            answer.withUnsafeBytes { _ = connection.write($0) }
            connection.close()
        } else {
            connection.abort()
        }
        return buffer.count
    }

    func connection(_ connection: Connection, didCloseWith reason: CloseReason) {}

    static func headEnd(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 3..<bytes.count where bytes[index - 3] == 13 && bytes[index - 2] == 10 && bytes[index - 1] == 13 && bytes[index] == 10 {
            return index + 1
        }
        return nil
    }
}

/// A block journal in memory, for assertions.
final class MemoryBlockJournal: BlockJournaling, @unchecked Sendable {
    private(set) var entries: [BlockJournalEntry] = []
    func append(_ entry: BlockJournalEntry) throws(BlockJournalError) { entries.append(entry) }
}

import Foundation
import Glibc
import Reactor
import Sv2Codec
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration

/// The Bitcoin Core JSON-RPC client against ``FakeBitcoinCore`` on loopback: authentication, request shape,
/// typed answers, and every way an answer can fail (typed error naming the method, no crash).
@Suite("Bitcoin Core RPC client", .serialized)
struct BitcoinCoreRPCClientTests {
    /// A cookie file holding `contents` in a fresh directory.
    static func cookie(_ contents: String) throws -> String {
        let directory = NSTemporaryDirectory() + "rpc-cookie-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/.cookie"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Runs one call on a fresh client and waits for its result.
    static func result<T>(
        _ runner: ClientTestLoop, _ configure: (inout BitcoinCoreRPCConfiguration) -> Void = { _ in },
        endpoint: SocketAddress, credentials: BitcoinCoreRPCCredentials,
        _ call: @escaping (BitcoinCoreRPCClient, @escaping (Result<T, BitcoinCoreRPCError>) -> Void) -> Void
    ) throws -> Result<T, BitcoinCoreRPCError>? {
        var configuration = BitcoinCoreRPCConfiguration(endpoint: Endpoint(endpoint), credentials: credentials)
        configuration.requestTimeout = .seconds(10)
        configure(&configuration)
        let box = ClientBox<Result<T, BitcoinCoreRPCError>?>(nil)
        let holder = ClientBox<BitcoinCoreRPCClient?>(nil)
        try runner.sync { [configuration] in
            let client = BitcoinCoreRPCClient(configuration: configuration, eventLoop: runner.loop)
            holder.value = client
            call(client) { box.value = $0 }
        }
        _ = try runner.wait { box.value != nil }
        return try runner.sync { box.value }
    }

    @Test func callsCarryBasicAuthAndTheJSONRPCShape() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let legacy: [UInt8] = [0x02, 0, 0, 0, 0x01] + [UInt8](repeating: 7, count: 60)
        node.mempool = { [legacy] }
        let address = try runner.sync { try node.start() }
        let cookie = try Self.cookie("__cookie__:c00k1e\n")
        let info = try Self.result(runner, endpoint: address, credentials: .cookie(path: cookie)) { client, done in
            client.getBlockchainInfo(completion: done)
        }
        #expect(try info?.get().chain == "regtest")
        #expect(try info?.get().blocks == 150)
        // A batch: one known transaction, one unknown (error -5 is "not there", not a failure).
        let unknown = Hash256(bytes: [UInt8](repeating: 9, count: 32))!
        let found = try Self.result(runner, endpoint: address, credentials: .user("__cookie__", password: "c00k1e")) {
            client, done in client.getRawTransactions(txids: [SHA256d.hash(legacy), unknown], completion: done)
        }
        #expect(try found?.get() == [SHA256d.hash(legacy): legacy])
        let verdict = try Self.result(runner, endpoint: address, credentials: .cookie(path: cookie)) { client, done in
            client.submitBlock([1, 2, 3], completion: done)
        }
        #expect(try verdict?.get() == .accepted)
        try runner.sync {
            #expect(node.calls == ["getblockchaininfo", "getrawtransaction", "getrawtransaction", "submitblock"])
            #expect(node.shapeViolations.isEmpty, "\(node.shapeViolations)")
            #expect(node.unauthorized == 0)
            #expect(node.submitted == [[1, 2, 3]])
        }
        // bitcoind restarted with a new cookie: the same client reads the file again for its next request.
        let rotated = ClientBox<[Result<BitcoinCoreChainInfo, BitcoinCoreRPCError>]>([])
        let client = ClientBox<BitcoinCoreRPCClient?>(nil)
        try runner.sync {
            client.value = BitcoinCoreRPCClient(
                configuration: BitcoinCoreRPCConfiguration(endpoint: Endpoint(address), credentials: .cookie(path: cookie)),
                eventLoop: runner.loop)
            client.value!.getBlockchainInfo { rotated.value.append($0) }
        }
        #expect(try runner.wait { rotated.value.count == 1 })
        try "__cookie__:n3w\n".write(toFile: cookie, atomically: true, encoding: .utf8)
        try runner.sync {
            node.credentials = "__cookie__:n3w"
            client.value!.getBlockchainInfo { rotated.value.append($0) }
        }
        #expect(try runner.wait { rotated.value.count == 2 })
        try runner.sync {
            #expect(rotated.value.allSatisfy { (try? $0.get())?.chain == "regtest" })
            #expect(node.unauthorized == 0)
        }
    }

    @Test func refusedCredentialsAreTypedAndNeverShown() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync { try node.start() }
        let result = try Self.result(runner, endpoint: address, credentials: .user("alice", password: "s3cret-pw")) {
            client, done in client.getBlockchainInfo(completion: done)
        }
        guard case .failure(let error) = result else {
            Issue.record("expected a failure, got \(String(describing: result))")
            return
        }
        #expect(error == .unauthorized(method: "getblockchaininfo", status: 401))
        #expect(!error.isTransient)
        #expect(!"\(error)".contains("s3cret"))
        #expect(!"\(BitcoinCoreRPCCredentials.user("alice", password: "s3cret-pw"))".contains("s3cret"))
        // Nor in an enclosing value printed, debug-printed or dumped.
        let configuration = BitcoinCoreRPCConfiguration(
            endpoint: Endpoint(address), credentials: .user("alice", password: "s3cret-pw"))
        var dumped = ""
        dump(configuration, to: &dumped)
        debugPrint(configuration, to: &dumped)
        #expect(!dumped.contains("s3cret") && !"\(configuration)".contains("s3cret"))
        // A cookie file that is missing or holds no user:password line: typed, its contents never shown.
        let missing = try Self.result(runner, endpoint: address, credentials: .cookie(path: "/nonexistent/.cookie")) {
            client, done in client.getBlockchainInfo(completion: done)
        }
        guard case .failure(.credentials(let method, _)) = missing else {
            Issue.record("expected a credentials failure, got \(String(describing: missing))")
            return
        }
        #expect(method == "getblockchaininfo")
        let garbled = try Self.cookie("no-colon-here-s3cret")
        let bad = try Self.result(runner, endpoint: address, credentials: .cookie(path: garbled)) { client, done in
            client.getBlockchainInfo(completion: done)
        }
        guard case .failure(let badError) = bad, case .credentials = badError else {
            Issue.record("expected a credentials failure, got \(String(describing: bad))")
            return
        }
        #expect(!"\(badError)".contains("s3cret"))
        try runner.sync { #expect(node.unauthorized == 1) }
    }

    @Test func nodeDownHungOrFullIsTypedAndTransient() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        // A port nothing listens on any more.
        let node = FakeBitcoinCore(loop: runner.loop)
        let dead = try runner.sync { () -> SocketAddress in
            let address = try node.start()
            node.stop()
            return address
        }
        let down = try Self.result(runner, endpoint: dead, credentials: .user("u", password: "p")) { client, done in
            client.submitBlock([0], completion: done)
        }
        guard case .failure(let error) = down, case .unreachable(let method, _) = error else {
            Issue.record("expected unreachable, got \(String(describing: down))")
            return
        }
        #expect(method == "submitblock" && error.isTransient)
        // A node that reads the request and never answers: the request timeout.
        let hung = FakeBitcoinCore(loop: runner.loop)
        hung.silent = true
        let hungAddress = try runner.sync { try hung.start() }
        let timedOut = try Self.result(runner, { $0.requestTimeout = .milliseconds(300) }, endpoint: hungAddress,
                                       credentials: .user("u", password: "p")) { client, done in
            client.getBlockchainInfo(completion: done)
        }
        guard case .failure(.timedOut(let timedOutMethod, _)) = timedOut else {
            Issue.record("expected timed out, got \(String(describing: timedOut))")
            return
        }
        #expect(timedOutMethod == "getblockchaininfo")
        // The queue is bounded: one in flight, two waiting, the fourth refused at once.
        let outcomes = ClientBox<[Int: BitcoinCoreRPCError]>([:])
        let client = ClientBox<BitcoinCoreRPCClient?>(nil)
        try runner.sync {
            var configuration = BitcoinCoreRPCConfiguration(endpoint: Endpoint(hungAddress), credentials: .user("u", password: "p"))
            configuration.maximumConcurrentRequests = 1
            configuration.maximumQueuedRequests = 2
            configuration.requestTimeout = .seconds(30)
            client.value = BitcoinCoreRPCClient(configuration: configuration, eventLoop: runner.loop)
            for index in 0..<4 {
                client.value!.call("getblockcount") { if case .failure(let error) = $0 { outcomes.value[index] = error } }
            }
        }
        #expect(try runner.wait { outcomes.value[3] != nil })
        try runner.sync {
            #expect(outcomes.value[3] == .queueFull(method: "getblockcount", limit: 2))
            #expect(client.value!.activeCount == 1 && client.value!.queuedCount == 2)
            client.value!.stop()
        }
        #expect(try runner.wait { outcomes.value.count == 4 })
        try runner.sync { #expect(outcomes.value[0] == .stopped(method: "getblockcount")) }
    }

    @Test func malformedAndOversizedAnswersAreTypedErrors() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let address = try runner.sync { try node.start() }
        func answer(_ raw: String, limit: Int = 4_096) throws -> Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>? {
            try answer(Array(raw.utf8), limit: limit)
        }
        func answer(_ raw: [UInt8], limit: Int = 4_096) throws -> Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>? {
            try runner.sync { node.rawAnswer = raw }
            return try Self.result(runner, { $0.maximumResponseBytes = limit }, endpoint: address,
                                   credentials: .user("u", password: "p")) { client, done in client.call("echo", completion: done) }
        }
        func isMalformed(_ result: Result<BitcoinCoreRPCValue, BitcoinCoreRPCError>?) -> Bool {
            if case .failure(.malformedResponse(let method, _)) = result { return method == "echo" }
            return false
        }
        func ok(_ body: String) -> String { "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n" + body }
        #expect(isMalformed(try answer(ok("hello"))))
        #expect(isMalformed(try answer("SSH-2.0-OpenSSH\r\n\r\n")))
        #expect(isMalformed(try answer(ok("[]"))))
        #expect(isMalformed(try answer(ok("{\"result\":1,\"error\":null,\"id\":999}"))))
        #expect(isMalformed(try answer(ok("{\"error\":null,\"id\":0}"))))
        #expect(isMalformed(try answer("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n")))
        // Nesting far deeper than any answer: refused before decoding (no stack exhaustion).
        let deep = String(repeating: "[", count: 3_000) + String(repeating: "]", count: 3_000)
        #expect(isMalformed(try answer("HTTP/1.1 200 OK\r\nContent-Length: \(deep.utf8.count)\r\n\r\n" + deep, limit: 1 << 20)))
        // Larger than the limit: announced, or streamed until the end of the connection.
        #expect(try answer("HTTP/1.1 200 OK\r\nContent-Length: 100000000\r\n\r\n{") == .failure(.responseTooLarge(method: "echo", limit: 4_096)))
        let huge = "HTTP/1.1 200 OK\r\n\r\n{\"result\":\"" + String(repeating: "a", count: 10_000) + "\"}"
        #expect(try answer(huge) == .failure(.responseTooLarge(method: "echo", limit: 4_096)))
        let hugeHead = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "b", count: 20_000) + "\r\n\r\n"
        #expect(isMalformed(try answer(hugeHead, limit: 1 << 20)))
        // Cut short: the connection closed before Content-Length bytes came.
        #expect(try answer("HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{\"res") == .failure(.connectionClosed(method: "echo")))
        // Errors the way bitcoind sends them; an unexpected status.
        let error = "{\"result\":null,\"error\":{\"code\":-5,\"message\":\"No such transaction\"},\"id\":0}"
        #expect(try answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: \(error.utf8.count)\r\n\r\n" + error)
            == .failure(.rpc(method: "echo", code: -5, message: "No such transaction")))
        #expect(!BitcoinCoreRPCError.rpc(method: "echo", code: -5, message: "No such transaction").isTransient)
        // bitcoind still starting: an RPC error object too, but the call may succeed later, so it is transient.
        let warmup = "{\"result\":null,\"error\":{\"code\":-28,\"message\":\"Loading block index…\"},\"id\":0}"
        let starting = try answer("HTTP/1.1 500 Internal Server Error\r\nContent-Length: \(warmup.utf8.count)\r\n\r\n" + warmup)
        #expect(starting == .failure(.rpc(method: "echo", code: -28, message: "Loading block index…")))
        if case .failure(let error) = starting { #expect(error.isWarmup && error.isTransient && error.name == "rpc-error") }
        #expect(try answer("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n") == .failure(.httpStatus(method: "echo", status: 503)))
        // Chunked and end-of-connection bodies are read.
        let body = "{\"result\":\"x\",\"error\":null,\"id\":0}"
        let chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "a\r\n" + body.prefix(10) + "\r\n" + String(body.utf8.count - 10, radix: 16) + "\r\n" + body.dropFirst(10) + "\r\n0\r\n\r\n"
        #expect(try answer(chunked) == .success(.string("x")))
        #expect(try answer("HTTP/1.1 200 OK\r\n\r\n" + body) == .success(.string("x")))
        // Random bytes never crash the reader.
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<20 {
            let noise = (0..<Int.random(in: 1...600, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let result = try answer(Array("HTTP/1.1 200 OK\r\n".utf8) + noise)
            #expect(result != nil)
            if case .success = result { Issue.record("noise parsed as an answer") }
        }
    }
}

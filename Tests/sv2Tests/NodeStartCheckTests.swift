import Glibc
import Reactor
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration
@testable import sv2

/// The start-up check of `sv2 pool --rpc` and `sv2 jd-server --rpc` (``NodeStartCheck``): only a failure that
/// waiting will not mend stops the app; a node still starting (-28) or not up yet is reported and waited for.
@Suite("bitcoind start-up check")
struct NodeStartCheckTests {
    static let transient = "blocks are retried"

    @Test func aNodeStillStartingIsWaitedForNotAReasonToStop() {
        for message in ["Loading block index…", "Verifying blocks…", "Loading wallet…"] {
            let check = NodeStartCheck(
                .failure(.rpc(method: "getblockchaininfo", code: -28, message: message)), transient: Self.transient)
            #expect(check == .starting(
                "bitcoind RPC getblockchaininfo: error -28: \(message) (bitcoind is still starting; blocks are retried)"))
        }
    }

    @Test func onlyLastingFailuresStopTheApp() {
        let notReached: [BitcoinCoreRPCError] = [
            .unreachable(method: "getblockchaininfo", ReactorError(.system, errno: ECONNREFUSED, context: "connect 127.0.0.1:8332")),
            .timedOut(method: "getblockchaininfo", seconds: 30),
            .connectionClosed(method: "getblockchaininfo"),
            .httpStatus(method: "getblockchaininfo", status: 503),
        ]
        for error in notReached {
            #expect(NodeStartCheck(.failure(error), transient: Self.transient) == .notReached("\(error) (blocks are retried)"))
        }
        let lasting: [BitcoinCoreRPCError] = [
            .unauthorized(method: "getblockchaininfo", status: 401),
            .credentials(method: "getblockchaininfo", reason: "cookie file missing"),
            .malformedResponse(method: "getblockchaininfo", reason: "missing chain, blocks or bestblockhash"),
            .rpc(method: "getblockchaininfo", code: -32601, message: "Method not found"),
            .rpc(method: "getblockchaininfo", code: -1, message: "internal error"),
        ]
        for error in lasting {
            #expect(NodeStartCheck(.failure(error), transient: Self.transient) == .stop("\(error): stopping"))
        }
    }

    @Test func aReadyNodeIsDescribed() throws {
        let best = try #require(Hash256(displayHex: String(repeating: "0", count: 63) + "1"))
        let info = BitcoinCoreChainInfo(chain: "main", blocks: 871_234, bestBlockHash: best, initialBlockDownload: true)
        #expect(NodeStartCheck(.success(info), transient: Self.transient)
            == .ready("bitcoind RPC: chain main, tip 871234 \(best.displayHex) (still in initial block download)"))
    }
}

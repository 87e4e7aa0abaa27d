import Foundation
import Reactor
import Sv2Codec
import Testing
@testable import Sv2Bitcoin
@testable import Sv2JobDeclaration

/// `getblockheader` (``BitcoinCoreRPCClient/getBlockHeader(hash:timeout:completion:)``) against ``FakeBitcoinCore``:
/// the hash sent in display order, the three things a node can know of a block, and every answer that must not be
/// taken for one of them.
extension BitcoinCoreRPCClientTests {
    /// bitcoind's `getblockheader 000000000019d6…e26f true` on mainnet (confirmations as of some day in 2025).
    static var genesisHeaderAnswer: [String: Any] { [
        "hash": "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f", "confirmations": 903_702,
        "height": 0, "version": 1, "versionHex": "00000001",
        "merkleroot": "4a5e1e4baab89f3a32518a88c31bc87f618f76673e2cc77ab2127b7afdeda33b", "time": 1_231_006_505,
        "mediantime": 1_231_006_505, "nonce": 2_083_236_893, "bits": "1d00ffff", "difficulty": 1,
        "chainwork": "0000000000000000000000000000000000000000000000000000000100010001", "nTx": 1,
        "nextblockhash": "00000000839a8e6886ab5951d76f411475428afc90947ee320161bbf18eb6048",
    ] }

    /// The status `getblockheader` gives for `hash` from `node`.
    static func blockStatus(
        _ runner: ClientTestLoop, _ node: FakeBitcoinCore, _ hash: Hash256
    ) throws -> Result<BitcoinCoreBlockStatus, BitcoinCoreRPCError>? {
        let address = try runner.sync { try node.start() }
        defer { try? runner.sync { node.stop() } }
        return try Self.result(runner, endpoint: address, credentials: .user("__cookie__", password: "c00k1e")) { client, done in
            client.getBlockHeader(hash: hash, completion: done)
        }
    }

    /// The genesis block's header, hashed here: the node is asked for it by the hash explorers print (display
    /// order), and its real mainnet answer reads as on the best chain at height 0.
    @Test func getBlockHeaderAsksByTheDisplayedHashAndReadsARealAnswer() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let genesis = SHA256d.hash(Array(JobDeclarationBitcoinCoreTests.genesis.prefix(BlockHeader.size)))
        let display = "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f"
        try runner.sync {
            node.headers = [display: (height: 0, confirmations: 903_702)]
            node.headerAnswer = { _ in Self.genesisHeaderAnswer }
        }
        let status = try Self.blockStatus(runner, node, genesis)
        #expect(try status?.get() == .onBestChain(height: 0, confirmations: 903_702))
        #expect(try runner.sync { node.headerQueries } == [display])
        #expect(genesis.hex != display)
        #expect(try runner.sync { node.shapeViolations }.isEmpty)
    }

    @Test func getBlockHeaderTellsOnOffAndUnknown() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let onChain = Hash256(displayHex: "0000000000000000000" + String(repeating: "1", count: 45))!
        let stale = Hash256(displayHex: "0000000000000000000" + String(repeating: "2", count: 45))!
        let unknown = Hash256(displayHex: "0000000000000000000" + String(repeating: "3", count: 45))!
        try runner.sync {
            node.headers = [
                onChain.displayHex: (height: 840_000, confirmations: 6),
                stale.displayHex: (height: 840_001, confirmations: -1),
            ]
        }
        #expect(try Self.blockStatus(runner, node, onChain)?.get() == .onBestChain(height: 840_000, confirmations: 6))
        #expect(try Self.blockStatus(runner, node, stale)?.get() == .offBestChain(height: 840_001))
        // Error -5, "Block not found": an answer, not a failure.
        #expect(try Self.blockStatus(runner, node, unknown)?.get() == .unknown)
        #expect(try runner.sync { node.calls } == ["getblockheader", "getblockheader", "getblockheader"])
    }

    /// Answers that are not a usable header for the block asked are typed malformed answers (never a status), and
    /// other error objects stay errors: -28 transient, anything else not.
    @Test func getBlockHeaderRefusesAnswersAboutAnotherBlockOrMalformed() throws {
        let runner = try ClientTestLoop()
        defer { runner.stop() }
        let node = FakeBitcoinCore(loop: runner.loop)
        let asked = Hash256(displayHex: "0000000000000000000" + String(repeating: "4", count: 45))!
        let other = Hash256(displayHex: "0000000000000000000" + String(repeating: "5", count: 45))!
        let malformed: [(String, ([String: Any]) -> Any)] = [
            ("another block", { $0.merging(["hash": other.displayHex]) { $1 } }),
            ("the hash in raw order", { $0.merging(["hash": asked.hex]) { $1 } }),
            ("no hash", { $0.filter { $0.key != "hash" } }),
            ("no confirmations", { $0.filter { $0.key != "confirmations" } }),
            ("confirmations 0", { $0.merging(["confirmations": 0]) { $1 } }),
            ("confirmations -2", { $0.merging(["confirmations": -2]) { $1 } }),
            ("confirmations 1.5", { $0.merging(["confirmations": 1.5]) { $1 } }),
            ("no height", { $0.filter { $0.key != "height" } }),
            ("negative height", { $0.merging(["height": -1]) { $1 } }),
            ("height as text", { $0.merging(["height": "7"]) { $1 } }),
            ("not verbose", { _ in "0000002000" }),
            ("null", { _ in NSNull() }),
        ]
        for (what, answer) in malformed {
            try runner.sync {
                node.headers = [asked.displayHex: (height: 7, confirmations: 2)]
                node.headerAnswer = answer
            }
            let status = try Self.blockStatus(runner, node, asked)
            guard case .failure(.malformedResponse(method: "getblockheader", _)) = status else {
                Issue.record("\(what): \(String(describing: status))")
                continue
            }
        }
        try runner.sync {
            node.headerAnswer = nil
            node.errorAnswers = [(-28, "Loading block index…"), (-8, "blockhash must be of length 64")]
        }
        let warmup = try Self.blockStatus(runner, node, asked)
        #expect(warmup.map { if case .failure(let error) = $0 { error.isTransient && error.isWarmup } else { false } } == true)
        let refused = try Self.blockStatus(runner, node, asked)
        guard case .failure(let error) = refused else {
            Issue.record("\(String(describing: refused))")
            return
        }
        #expect(error == .rpc(method: "getblockheader", code: -8, message: "blockhash must be of length 64") && !error.isTransient)
    }
}

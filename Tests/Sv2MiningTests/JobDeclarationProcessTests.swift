import Foundation
import Glibc
import Reactor
import Sv2Codec
import Sv2Service
import Testing
@testable import Sv2JobDeclaration
@testable import Sv2Bitcoin
@testable import Sv2Mining
@testable import Sv2Pool
@testable import Sv2Miner
@testable import Sv2TemplateProvider

/// Issue #18 across processes: `sv2 jd-server` and `sv2 pool --jds-authority-key` as two child processes that know
/// nothing of each other but the JD server's public key; a jd-client and a CPU miner (this process) get their tokens
/// from the one and mine custom jobs on the other. The pool's own `/metrics` shows the custom jobs, shares and
/// blocks it credited on the remote JD server's tokens.
@Suite struct JobDeclarationProcessTests {
    static let payout = "0014" + String(repeating: "ab", count: 20)

    static func field(after marker: String, in line: String) -> String? {
        guard let range = line.range(of: marker) else { return nil }
        return line[range.upperBound...].split(whereSeparator: { $0 == " " || $0 == "," || $0 == "/" }).first.map(String.init)
    }

    static func port(_ text: String?) -> UInt16? { text?.split(separator: ":").last.flatMap { UInt16($0) } }

    /// Also with the JD server alone (`--without-pool`) and the pool on two loops (custom jobs on every loop, one
    /// shared token check).
    @Test(arguments: [(withoutPool: false, poolThreads: 1), (withoutPool: true, poolThreads: 2)])
    func poolTakesTheTokensOfAJDServerInAnotherProcess(withoutPool: Bool, poolThreads: Int) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("sv2-jd-processes-\(UInt64.random(in: 0...UInt64.max))").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let common = ["--payout-script", Self.payout, "--nbits", "1e03ffff", "--template-interval", "0", "--accounting", "off"]
        let jdServer = try AppProcess(try AppProcess.sv2Executable(), [
            "jd-server", "--listen", "127.0.0.1:0", "--jd-listen", "127.0.0.1:0", "--data-dir", directory + "/jds",
            "--no-noise", "--log-level", "warning", "--backend", "epoll",
        ] + (withoutPool ? ["--without-pool"] : []) + common)
        defer { jdServer.kill() }
        let announced = try #require(try jdServer.waitForLine(containing: "tokens signed by"))
        #expect(announced.contains("no pool in this process") == withoutPool, "\(announced)")
        let key = try #require(Self.field(after: "tokens signed by ", in: announced))
        let jdsPort = try #require(Self.port(Self.field(after: "job declaration server listening on ", in: announced)))

        let app = try PoolApp.start(
            ["--data-dir", directory + "/pool", "--jds-authority-key", key, "--metrics", "127.0.0.1:0",
             "--threads", String(poolThreads)] + common)
        defer { app.process.kill() }
        let poolPort = app.port
        let metricsLine = try #require(try app.process.waitForLine(containing: "metrics on http://"))
        let metricsPort = try #require(Self.port(Self.field(after: "metrics on http://", in: metricsLine)))

        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let box = Box<(JobDeclaratorClientService?, MinerClient?)>((nil, nil))
        try runner.sync {
            var local = PoolConfiguration(payoutScript: JobDeclarationEndToEndTests.soloScript)
            local.sharesPerMinute = 600
            local.extranonceRollableLength = 8
            var templates = EmbeddedTemplateProvider.Configuration(refreshInterval: nil)
            templates.source.nbits = 0x1e03_ffff
            let configuration = JobDeclaratorClientConfiguration(
                local: local, downstream: Sv2ServerConfiguration(listenAddress: clientLoopback),
                templateSource: .embedded(templates),
                pool: Sv2ClientConfiguration(
                    serverAddress: try SocketAddress(ip: "127.0.0.1", port: poolPort), sv2Protocol: .mining, security: .plain),
                jobDeclarator: Sv2ClientConfiguration(
                    serverAddress: try SocketAddress(ip: "127.0.0.1", port: jdsPort), sv2Protocol: .jobDeclaration,
                    security: .plain),
                userIdentity: "jdc", nominalHashrate: 1_000)
            let jdc = try JobDeclaratorClientService(configuration: configuration, eventLoop: runner.loop)
            try jdc.start()
            box.value.0 = jdc
        }
        #expect(try runner.wait { box.value.0?.localAddress != nil })
        try runner.sync {
            let miner = try MinerSession.makeClient(
                configuration: MinerConfiguration(
                    userIdentity: "cpu", nominalHashrate: 1_000, channelType: .extended,
                    cpu: CPUMinerConfiguration(workerCount: 1)),
                server: Sv2ClientConfiguration(serverAddress: box.value.0!.localAddress!, sv2Protocol: .mining, security: .plain),
                eventLoop: runner.loop)
            miner.connect()
            box.value.1 = miner
        }
        defer {
            _ = try? runner.sync {
                box.value.1?.mining.session.stop()
                box.value.1?.close()
                box.value.0?.stop()
            }
        }
        // The pool process credited shares and a block on custom jobs whose tokens the other process signed.
        let scrape = try TestMetrics.scrape(port: metricsPort, timeout: 60) {
            ($0.value("sv2_pool_custom_job_blocks_found_total", ["server": "pool"]) ?? 0) >= 1
                && ($0.value("sv2_pool_custom_job_shares_accepted_total", ["server": "pool"]) ?? 0) >= 3
        }
        let report = try runner.sync { "jdc \(box.value.0!.mode) \(box.value.0!.statistics)" }
        #expect((scrape.value("sv2_pool_custom_job_blocks_found_total", ["server": "pool"]) ?? 0) >= 1, "\(report)")
        #expect((scrape.value("sv2_pool_custom_job_shares_accepted_total", ["server": "pool"]) ?? 0) >= 3, "\(report)")
        let verified = scrape.value("sv2_pool_custom_job_tokens_verified_total", ["server": "pool"]) ?? 0
        #expect(verified >= 1 && verified == scrape.value("sv2_pool_custom_jobs_accepted_total", ["server": "pool"]))
        // Every verified token's id is in the pool's used-token journal (written before its job was accepted).
        let journal = directory + "/pool/used-mining-job-tokens"
        let journaled = try String(contentsOfFile: journal, encoding: .utf8).split(separator: "\n").count
        #expect(Double(journaled) >= verified, "\(journaled) ids journaled, \(verified) tokens verified")
        let attributes = try FileManager.default.attributesOfItem(atPath: journal)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        try runner.sync {
            let jdc = box.value.0!
            #expect(jdc.mode == .pool && jdc.statistics.fallbacks == 0)
            #expect(jdc.statistics.customJobRefusals.isEmpty, "\(jdc.statistics.customJobRefusals)")
            // The blocks the miner found were taken by the jd-client's own template source, paying the pool.
            let blocks = jdc.local.embeddedTemplateProvider?.acceptedBlocks ?? []
            let poolScript = Sv2Hex.decode(Self.payout)!
            #expect(blocks.contains { JobDeclarationEndToEndTests.contains($0.coinbaseTransaction, poolScript) })
        }
    }
}

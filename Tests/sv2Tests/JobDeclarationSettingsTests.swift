import Foundation
import Reactor
import Sv2Noise
import Testing
@testable import sv2

/// `sv2 jd-server` and `sv2 jd-client` settings as parsed from flags and config files, without running anything.
@Suite("sv2 jd-server and jd-client settings")
struct JobDeclarationSettingsTests {
    static func server(_ arguments: [String]) throws -> (PoolCommand.Settings, PoolJobDeclarationSettings) {
        let command = try JobDeclarationServerCommand.parse(arguments)
        let file = try ConfigFile(path: command.pool.runtime.config, allowedKeys: PoolCommand.keys)
        let pool = try command.pool.settings(file, environment: [:], jobDeclarationDefault: "127.0.0.1:34264")
        return (pool, try command.pool.jobDeclarationSettings(file, listenDefault: "127.0.0.1:34264", pool: pool, environment: [:]))
    }

    static func pool(_ arguments: [String]) throws -> PoolJobDeclarationSettings {
        let command = try PoolCommand.parse(arguments)
        let file = try ConfigFile(path: command.runtime.config, allowedKeys: PoolCommand.keys)
        return try command.jobDeclarationSettings(
            file, listenDefault: nil, pool: try command.settings(file, environment: [:]), environment: [:])
    }

    static func client(_ arguments: [String]) throws -> JobDeclarationClientCommand.Settings {
        let command = try JobDeclarationClientCommand.parse(arguments)
        let file = try ConfigFile(path: command.runtime.config, allowedKeys: JobDeclarationClientCommand.keys)
        return try command.settings(file, environment: [:])
    }

    static func write(_ text: String, in directory: TemporaryDirectory) throws -> String {
        let path = directory.file("config.toml")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let authority = "9bXiEd8boQVhq7WddEcERUL5tyyJVFYdU8th3HfbNXK3Yw6GRXh"

    @Test func jdServerFlagsConfigAndErrors() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        // `--without-pool`: the JD server alone (the same settings, no pool started).
        #expect(try JobDeclarationServerCommand.parse(base + ["--without-pool"]).withoutPool)
        #expect(try !JobDeclarationServerCommand.parse(base).withoutPool)
        // Defaults: JD server on 34264, subsidy floor with the embedded source only; no remote key.
        let (pool, defaults) = try Self.server(base)
        #expect(pool.server.listenAddress.port == 34254)
        #expect(defaults.listenAddress == (try SocketAddress(ip: "127.0.0.1", port: 34264)))
        #expect(defaults.halvingInterval == 150 && defaults.remoteAuthority == nil && defaults.acceptsCustomJobs)
        let withTP = ["--tp", "127.0.0.1:8442", "--tp-no-noise", "--payout-script", "0014" + String(repeating: "ab", count: 20)]
        #expect(try Self.server(base + withTP).1.halvingInterval == nil)
        // Flags.
        let flagged = try Self.server(base + ["--jd-listen", "127.0.0.1:4100", "--jd-halving-interval", "210000"]).1
        #expect(flagged.listenAddress?.port == 4100 && flagged.halvingInterval == 210_000)
        #expect(try Self.server(base + ["--jd-halving-interval", "0"]).1.halvingInterval == nil)
        // Config file keys; a flag wins over the file.
        let config = try Self.write("jd-listen = \"127.0.0.1:4200\"\njd-halving-interval = 300\n", in: directory)
        let filed = try Self.server(base + ["--config", config]).1
        #expect(filed.listenAddress?.port == 4200 && filed.halvingInterval == 300)
        #expect(try Self.server(base + ["--config", config, "--jd-listen", "127.0.0.1:4300"]).1.listenAddress?.port == 4300)
        // Errors: a bad address, a negative halving interval, an unknown config key.
        #expect(throws: (any Error).self) { try Self.server(base + ["--jd-listen", "nowhere"]) }
        let negative = try Self.write("jd-halving-interval = -1\n", in: directory)
        #expect(throws: (any Error).self) { try Self.server(base + ["--config", negative]) }
        let unknown = try Self.write("jd-listn = \"127.0.0.1:1\"\n", in: directory)
        #expect(throws: (any Error).self) { try Self.server(base + ["--config", unknown]) }
    }

    /// Tokens are signed with the pool's authority key; without Noise with a key kept in the data directory, the same
    /// on every start (remote pools stay configured).
    @Test func jdServerSigningKey() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let noisy = try Self.server(["--data-dir", directory.path])
        #expect(noisy.1.signingKey?.publicKey == noisy.0.authority)
        let plain = try Self.server(["--data-dir", directory.path, "--no-noise"]).1
        let key = try #require(plain.signingKey)
        #expect(mode(directory.file("jd-server-token-secret-key")) == 0o600)
        #expect(try Self.server(["--data-dir", directory.path, "--no-noise"]).1.signingKey?.publicKey == key.publicKey)
        #expect(key.publicKey != noisy.0.authority)
        // A plain pool has no JD server and signs nothing.
        #expect(try Self.pool(["--data-dir", directory.path, "--no-noise"]).signingKey == nil)
    }

    @Test func poolTakesARemoteJDServersKey() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        // A plain pool takes no custom jobs.
        #expect(try !Self.pool(base).acceptsCustomJobs)
        let remote = try Self.pool(base + ["--jds-authority-key", Self.authority])
        #expect(remote.remoteAuthority == (try AuthorityPublicKey(base58Check: Self.authority)))
        #expect(remote.acceptsCustomJobs && remote.listenAddress == nil)
        // Spent token ids are journaled in the data directory (a restarted pool keeps refusing them); nothing to
        // journal without the remote key.
        #expect(remote.usedTokenJournal == directory.file("used-mining-job-tokens"))
        #expect(try Self.pool(base).usedTokenJournal == nil)
        #expect(try Self.server(base).1.usedTokenJournal == nil)
        // Opened at start: created mode 600; a damaged line stops the start with an error naming the file and line.
        let journalPath = try #require(remote.usedTokenJournal)
        _ = try PoolCommand.openUsedTokenJournal(journalPath)
        #expect(mode(journalPath) == 0o600)
        try "0000000000000001 5\ngarbage\n0000000000000002 5\n".write(toFile: journalPath, atomically: false, encoding: .utf8)
        do {
            _ = try PoolCommand.openUsedTokenJournal(journalPath)
            Issue.record("a damaged used-token journal was opened")
        } catch {
            #expect("\(error)".contains("\(journalPath): line 2 "), "\(error)")
        }
        // Remote tokens are checked on every loop (one verifier, locked): any thread count, the cores by default.
        #expect(try PoolSettingsTests.settings(base + ["--jds-authority-key", Self.authority]).threads
            == ProcessInfo.processInfo.activeProcessorCount)
        #expect(try PoolSettingsTests.settings(base + ["--jds-authority-key", Self.authority, "--threads", "2"]).threads == 2)
        let config = try Self.write("jds-authority-key = \"\(Self.authority)\"\n", in: directory)
        #expect(try Self.pool(base + ["--config", config]).remoteAuthority != nil)
        // Its own JD server and a remote one's key: one or the other.
        #expect(throws: (any Error).self) { try Self.pool(base + ["--jds-authority-key", Self.authority, "--jd-listen", "127.0.0.1:1"]) }
        #expect(throws: (any Error).self) { try Self.server(base + ["--jds-authority-key", Self.authority]) }
        do {
            _ = try Self.pool(base + ["--jds-authority-key", "not-a-key"])
            Issue.record("a malformed --jds-authority-key was accepted")
        } catch {
            #expect("\(error)".contains("--jds-authority-key"))
        }
    }

    @Test func jdClientFlagsConfigAndErrors() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise", "--pool-no-noise", "--jds-no-noise"]
        // Defaults: one pool, one JD server on localhost; coinbase-only; embedded source paying OP_TRUE when solo.
        let defaults = try Self.client(base).configuration
        #expect(defaults.poolEndpoints == [Endpoint(host: "127.0.0.1", port: 34254)])
        #expect(defaults.jobDeclaratorEndpoints == [Endpoint(host: "127.0.0.1", port: 34264)])
        #expect(defaults.downstream.listenAddress.port == 34265)
        #expect(defaults.userIdentity == "sv2-jd-client" && !defaults.declaresTransactions && defaults.local.payoutScript == [0x51])
        // Ordered lists, first preferred; the link configuration starts at the first.
        let listed = try Self.client(base + [
            "--pool", "127.0.0.1:5001", "--pool", "pool.example:5002", "--jds", "127.0.0.1:6001", "--jds", "127.0.0.1:6002",
            "--user", "alice", "--nominal-hashrate", "5e9", "--declare-transactions",
        ]).configuration
        #expect(listed.poolEndpoints == [Endpoint(host: "127.0.0.1", port: 5001), Endpoint(host: "pool.example", port: 5002)])
        #expect(listed.jobDeclaratorEndpoints.map(\.port) == [6001, 6002])
        #expect(listed.pool.serverAddress.port == 5001 && listed.jobDeclarator.serverAddress.port == 6001)
        #expect(listed.userIdentity == "alice" && listed.nominalHashrate == 5e9 && listed.declaresTransactions)
        // Config file: an array and a single string.
        let config = try Self.write("""
            pool = ["127.0.0.1:7001", "127.0.0.1:7002"]
            jds = "127.0.0.1:7101"
            user = "bob"
            payout-script = "0014\(String(repeating: "cd", count: 20))"
            tp = ["127.0.0.1:8442"]
            tp-no-noise = true
            """, in: directory)
        let filed = try Self.client(base + ["--config", config]).configuration
        #expect(filed.poolEndpoints.map(\.port) == [7001, 7002] && filed.jobDeclaratorEndpoints.map(\.port) == [7101])
        #expect(filed.userIdentity == "bob" && filed.local.payoutScript.count == 22)
        // Errors: --tp without a solo payout script, a bad hashrate, a bad address, a missing authority key.
        do {
            _ = try Self.client(base + ["--tp", "127.0.0.1:8442", "--tp-no-noise"])
            Issue.record("--tp without --payout-script was accepted")
        } catch {
            #expect("\(error)".contains("--payout-script is required"))
        }
        #expect(throws: (any Error).self) { try Self.client(base + ["--nominal-hashrate", "0"]) }
        #expect(throws: (any Error).self) { try Self.client(base + ["--pool", "no-port"]) }
        #expect(throws: (any Error).self) { try Self.client(["--data-dir", directory.path, "--no-noise", "--jds-no-noise"]) }
        let unknown = try Self.write("pools = \"127.0.0.1:1\"\n", in: directory)
        #expect(throws: (any Error).self) { try Self.client(base + ["--config", unknown]) }
    }
}

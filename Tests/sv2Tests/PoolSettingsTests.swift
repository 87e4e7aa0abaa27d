import Foundation
import Glibc
import Reactor
import Sv2AppSupport
import Sv2Noise
import Testing
@testable import sv2

/// Issue #12 items 10 and 11 through the command line itself: `sv2 pool`'s settings as parsed from flags.
@Suite("sv2 pool and proxy settings")
struct PoolSettingsTests {
    static func settings(_ arguments: [String], environment: [String: String] = [:]) throws -> PoolCommand.Settings {
        let command = try PoolCommand.parse(arguments)
        return try command.settings(try ConfigFile(path: command.runtime.config, allowedKeys: PoolCommand.keys), environment: environment)
    }

    @Test func payoutScriptIsRequiredWithATemplateProvider() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise", "--tp", "127.0.0.1:8442", "--tp-no-noise"]
        do {
            _ = try Self.settings(base)
            Issue.record("--tp without --payout-script was accepted (OP_TRUE on a real network)")
        } catch {
            #expect("\(error)".contains("--payout-script is required with --tp"))
        }
        let settings = try Self.settings(base + ["--payout-script", "0014" + String(repeating: "ab", count: 20)])
        #expect(settings.pool.payoutScript.count == 22)
        // The embedded regtest-style source keeps its OP_TRUE default.
        #expect(try Self.settings(["--data-dir", directory.path, "--no-noise"]).pool.payoutScript == [0x51])
    }

    /// Issue #14: the per-source admission limits have flags (and config keys); nonsense values are refused.
    @Test func admissionLimitsComeFromFlagsAndTheConfigFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        let defaults = try Self.settings(base).server
        #expect(defaults.maxHandshakesInFlight == 20_000 && defaults.maxConnectionsPerSource == 25_000)
        let tuned = try Self.settings(base + [
            "--max-handshakes", "500", "--max-connections-per-source", "40", "--source-connection-rate", "2.5",
            "--source-connection-burst", "80",
        ]).server
        #expect(tuned.maxHandshakesInFlight == 500)
        #expect(tuned.maxConnectionsPerSource == 40)
        #expect(tuned.newConnectionsPerSourcePerSecond == 2.5)
        #expect(tuned.newConnectionsPerSourceBurst == 80)
        let config = directory.file("pool.toml")
        try "max-connections-per-source = 7\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Self.settings(base + ["--config", config]).server.maxConnectionsPerSource == 7)
        #expect(throws: (any Error).self) { try Self.settings(base + ["--source-connection-rate", "0"]) }
        #expect(throws: (any Error).self) { try Self.settings(base + ["--max-handshakes", "-1"]) }
    }

    /// Issue #16: `--threads` (config key `threads`) defaults to the number of cores; a pool with a Job Declaration
    /// server runs on one loop; nonsense is refused.
    @Test func threadsDefaultToTheCoresAndComeFromFlagsAndTheConfigFile() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        #expect(try Self.settings(base).threads == ProcessInfo.processInfo.activeProcessorCount)
        #expect(try Self.settings(base + ["--threads", "1"]).threads == 1)
        #expect(try Self.settings(base + ["--threads", "3"]).threads == 3)
        let config = directory.file("pool.toml")
        try "threads = 4\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Self.settings(base + ["--config", config]).threads == 4)
        #expect(try Self.settings(base + ["--jd-listen", "127.0.0.1:0"]).threads == 1)
        #expect(throws: (any Error).self) { try Self.settings(base + ["--jd-listen", "127.0.0.1:0", "--threads", "2"]) }
        #expect(throws: (any Error).self) { try Self.settings(base + ["--threads", "0"]) }
        #expect(throws: (any Error).self) { try Self.settings(base + ["--threads", "257"]) }
    }

    /// Issue #13: per-user metric series are opt-in and their user count is bounded by a setting.
    @Test func perUserMetricsAreOptInAndBounded() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        let plain = try Self.settings(base)
        #expect(!plain.metricsPerUser && plain.pool.maximumTrackedUsers == 10_000)
        let on = try Self.settings(base + ["--metrics-per-user", "--max-tracked-users", "50"])
        #expect(on.metricsPerUser && on.pool.maximumTrackedUsers == 50)
        #expect(throws: (any Error).self) { try Self.settings(base + ["--max-tracked-users", "-1"]) }
    }

    /// Issue #14: a listening address may be a host name (resolved once at start-up).
    @Test func theListenAddressTakesAHostName() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        // `localhost` is resolved by `SocketAddress` itself; the Debian hostname of the machine goes through getaddrinfo.
        var name = [CChar](repeating: 0, count: 256)
        #expect(gethostname(&name, name.count) == 0)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        // Whatever the machine's resolver says about its own name, the option must say the same.
        switch HostResolver.lookUp(try Endpoint(parsing: "\(host):34999")) {
        case .success(let addresses):
            let address = try Self.settings(base + ["--listen", "\(host):34999"]).server.listenAddress
            #expect(address == addresses.first)
        case .failure:
            #expect(throws: (any Error).self) { try Self.settings(base + ["--listen", "\(host):34999"]) }
        }
        do {
            _ = try Self.settings(base + ["--listen", "no-such-host.invalid:34999"])
            Issue.record("an unresolvable listen host was accepted")
        } catch {
            #expect("\(error)".contains("cannot resolve no-such-host.invalid"))
        }
    }

    @Test func payoutScriptFromTheConfigFileSatisfiesTheRule() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.file("pool.toml")
        try "tp = \"127.0.0.1:8442\"\ntp-no-noise = true\npayout-script = \"51\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Self.settings(["--config", config, "--data-dir", directory.path, "--no-noise"]).pool.payoutScript == [0x51])
    }

    @Test func thePoolKeepsItsAuthorityKeyInTheDataDirectoryAcrossRestarts() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        let first = try Self.settings(["--data-dir", data])
        let key = data + "/pool-authority-secret-key"
        #expect(mode(data) == 0o700)
        #expect(mode(key) == 0o600)
        #expect(first.keyOrigin == "new, saved in \(key)")
        #expect(first.dataDirectory == data)
        #expect(first.blockJournalDirectory == data + "/blocks")
        // Restart: same public key, so miners pinned to it reconnect.
        let second = try Self.settings(["--data-dir", data])
        #expect(second.authority == first.authority && first.authority != nil)
        #expect(second.keyOrigin == "reused from \(key)")
        // The config file's data-dir works the same way.
        let config = directory.file("pool.toml")
        try "data-dir = \"\(data)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Self.settings(["--config", config]).authority == first.authority)
        // A key file others can read is refused with a clear error, never replaced.
        chmod(key, 0o644)
        do {
            _ = try Self.settings(["--data-dir", data])
            Issue.record("a group/world-readable key file was accepted")
        } catch {
            #expect("\(error)".contains("chmod 600 \(key)"))
        }
    }

    @Test func theSecretComesFromAFileOrTheEnvironmentAndArgvWarns() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        let pair = try AuthorityKeyPair.generate()
        let file = directory.file("key")
        try AuthorityKeyFile.create(file, pair: pair, comment: [])
        let fromFile = try Self.settings(["--data-dir", data, "--authority-secret-key-file", file])
        #expect(fromFile.authority == pair.publicKey && fromFile.warnings.isEmpty)
        let fromEnvironment = try Self.settings(
            ["--data-dir", data], environment: [AuthoritySecret.environmentVariable: pair.secretKeyBase58Check])
        #expect(fromEnvironment.authority == pair.publicKey && fromEnvironment.warnings.isEmpty)
        let fromArgument = try Self.settings(["--data-dir", data, "--authority-secret-key", pair.secretKeyBase58Check])
        #expect(fromArgument.authority == pair.publicKey)
        #expect(fromArgument.warnings == [AuthoritySecret.argumentWarning])
        // None of them made a key in the data directory.
        #expect(!FileManager.default.fileExists(atPath: data + "/pool-authority-secret-key"))
        // A secret in a config file others can read is refused.
        let config = directory.file("pool.toml")
        try "authority-secret-key = \"\(pair.secretKeyBase58Check)\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        chmod(config, 0o644)
        #expect(throws: (any Error).self) { try Self.settings(["--config", config, "--data-dir", data]) }
        chmod(config, 0o600)
        #expect(try Self.settings(["--config", config, "--data-dir", data]).authority == pair.publicKey)
    }

    @Test func theProxyKeepsItsOwnKeyInTheDataDirectory() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        func start() throws -> ServerKeyOptions.Resolved {
            let command = try ProxyCommand.parse(["--data-dir", data])
            return try command.serverKeys.resolve(
                try ConfigFile(path: nil, allowedKeys: ProxyCommand.keys), app: "proxy", noNoise: false,
                certificateValidity: 3600, environment: [:], now: UInt64(Date().timeIntervalSince1970))
        }
        let first = try start()
        #expect(mode(data + "/proxy-authority-secret-key") == 0o600)
        #expect(try start().authority == first.authority)
    }

    @Test func theTemplateProviderKeepsItsOwnKeyInTheDataDirectory() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let data = directory.file("data")
        func start() throws -> TemplateProviderCommand.Settings {
            try TemplateProviderCommand.parse(["--data-dir", data]).settings(
                try ConfigFile(path: nil, allowedKeys: TemplateProviderCommand.keys), environment: [:])
        }
        let first = try start()
        let key = data + "/template-provider-authority-secret-key"
        #expect(mode(key) == 0o600)
        let second = try start()
        #expect(first.authority != nil && second.authority == first.authority)
        chmod(key, 0o604)
        #expect(throws: (any Error).self) { try start() }
    }
}

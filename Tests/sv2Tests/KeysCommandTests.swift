import Foundation
import Glibc
import LoopTestSupport
import Reactor
import Sv2AppSupport
import Sv2Pool
import Sv2Miner
import Sv2Noise
import Sv2Service
import Testing
@testable import sv2

/// Issue #12 items 10 and 12: `sv2 keys` writes key files instead of printing secrets, its certificate is what
/// `sv2 pool --server-key-file` serves, and a huge --valid-days is an error, not a trap.
@Suite("sv2 keys", .serialized)
struct KeysCommandTests {
    @Test func authorityWritesAPrivateFileAndPrintsOnlyThePublicKey() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("authority")
        let output = try KeysCommand.Authority.parse(["--out", path]).execute()
        #expect(mode(path) == 0o600)
        let pair = try AuthorityKeyFile.load(path)
        #expect(output.contains(pair.publicKey.base58Check))
        #expect(!output.contains(pair.secretKeyBase58Check))
        // Never overwritten.
        #expect(throws: (any Error).self) { try KeysCommand.Authority.parse(["--out", path]).execute() }
        #expect(try AuthorityKeyFile.load(path).publicKey == pair.publicKey)
        // Printing the secret takes an explicit flag (and writes no file).
        let printed = try KeysCommand.Authority.parse(["--out", directory.file("unused"), "--print-secret"]).execute()
        #expect(printed.contains("authority-secret-key = \""))
        #expect(!FileManager.default.fileExists(atPath: directory.file("unused")))
    }

    @Test func hugeValidityIsRejectedNotTrapped() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let key = directory.file("authority")
        _ = try KeysCommand.Authority.parse(["--out", key]).execute()
        for days in ["4000000000", "50000", "0"] {
            let command = try KeysCommand.Certificate.parse(
                ["--authority-secret-key-file", key, "--valid-days", days, "--out", directory.file("server-\(days)")])
            do {
                _ = try command.make(environment: [:], now: 1_700_000_000)
                Issue.record("--valid-days \(days) was accepted")
            } catch {
                #expect("\(error)".contains("--valid-days"))
            }
        }
        let fine = try KeysCommand.Certificate.parse(["--authority-secret-key-file", key, "--valid-days", "3650"])
        #expect(try fine.make(environment: [:], now: 1_700_000_000).certificate.notValidAfter == 1_700_000_000 + 3650 * 86_400)
    }

    @Test func theCertificateIsWhatThePoolServes() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let key = directory.file("authority")
        _ = try KeysCommand.Authority.parse(["--out", key]).execute()
        let authority = try AuthorityKeyFile.load(key).publicKey
        let serverKey = directory.file("server-key")
        // The authority secret from the environment this time.
        let output = try KeysCommand.Certificate.parse(["--out", serverKey, "--valid-days", "30"]).execute(
            environment: [AuthoritySecret.environmentVariable: try AuthorityKeyFile.load(key).secretKeyBase58Check],
            now: UInt64(Date().timeIntervalSince1970))
        #expect(mode(serverKey) == 0o600)
        #expect(!output.contains(Sv2HexProbe.secretHex(of: serverKey)))

        let settings = try PoolCommand.parse(["--data-dir", directory.file("data"), "--server-key-file", serverKey, "--listen", "127.0.0.1:0"])
            .settings(try ConfigFile(path: nil, allowedKeys: PoolCommand.keys), environment: [:])
        #expect(settings.authority == authority)
        #expect(settings.server.noise?.persistentCertificate != nil)
        // No authority key was made in the data directory: the pool does not need one.
        #expect(!FileManager.default.fileExists(atPath: directory.file("data/pool-authority-secret-key")))

        // A miner pinned to the authority key opens a channel through the pool's Noise handshake.
        let runner = try LoopRunner(.epoll)
        defer { runner.stop() }
        let (service, client) = try runner.sync { () -> (PoolService, MinerClient) in
            let service = try PoolService(
                configuration: settings.pool, server: settings.server,
                templateSource: settings.templateSource, eventLoop: runner.loop)
            try service.start()
            let client = try MinerSession.makeClient(
                configuration: MinerConfiguration(userIdentity: "pinned", cpu: CPUMinerConfiguration(workerCount: 1)),
                server: Sv2ClientConfiguration(
                    serverAddress: service.localAddress!, sv2Protocol: .mining, security: .noise(authority: authority)),
                eventLoop: runner.loop)
            client.connect()
            return (service, client)
        }
        defer { _ = try? runner.sync { client.mining.session.stop(); client.close(); service.stop() } }
        #expect(try runner.wait { client.mining.session.statistics.channelID != nil })

        // The pool refuses a server key file others can read.
        chmod(serverKey, 0o640)
        #expect(throws: (any Error).self) {
            try PoolCommand.parse(["--data-dir", directory.file("data"), "--server-key-file", serverKey])
                .settings(try ConfigFile(path: nil, allowedKeys: PoolCommand.keys), environment: [:])
        }
    }
}

/// Reads the static secret key's hex out of a server key file (to check it is not printed).
enum Sv2HexProbe {
    static func secretHex(of path: String) -> String {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix("server-static-secret-key") } ?? ""
        return String(line.split(separator: "\"").dropFirst().first ?? "missing")
    }
}

import Foundation
import Reactor
import Sv2Noise
import Sv2Pool
import Sv2Service
import Sv2TemplateProvider
import Testing
@testable import sv2

/// The template-source options `sv2 pool` and `sv2 jd-client` share (`--tp`, `--tp-authority-key`, `--tp-no-noise`,
/// `--payout-script`, `--nbits`), parsed from flags and from a config file.
@Suite("sv2 template source options")
struct TemplateSourceOptionsTests {
    /// A P2WPKH scriptPubKey, in hex.
    static let p2wpkh = "0014" + String(repeating: "ab", count: 20)

    /// What `arguments` (and the config file at `config`, if any) give: the payout script and the template source.
    static func resolve(
        _ arguments: [String], config: String? = nil
    ) throws -> (payout: [UInt8], source: PoolService.TemplateSource) {
        let options = try TemplateSourceOptions.parse(arguments)
        let file = try ConfigFile(path: config, allowedKeys: TemplateSourceOptions.keys)
        return (try options.payoutScript(file), try options.source(file))
    }

    static func embeddedNbits(_ source: PoolService.TemplateSource) -> UInt32? {
        guard case .embedded(let configuration) = source else { return nil }
        return configuration.source.nbits
    }

    static func failover(
        _ source: PoolService.TemplateSource
    ) -> (endpoints: [Endpoint], security: Sv2ClientConfiguration.Security)? {
        guard case .failover(let endpoints, let security) = source else { return nil }
        return (endpoints, security)
    }

    /// `body` throws an error whose text contains `text`.
    static func expectError(_ text: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("accepted; expected an error containing \(text)")
        } catch {
            #expect("\(error)".contains(text), "\(error)")
        }
    }

    @Test func withoutATemplateProviderTheEmbeddedSourcePaysOPTrue() throws {
        let plain = try Self.resolve([])
        #expect(plain.payout == [0x51])
        #expect(Self.embeddedNbits(plain.source) == 0x1d3f_ffff)
        let tuned = try Self.resolve(["--nbits", "207fffff", "--payout-script", Self.p2wpkh])
        #expect(tuned.payout == [0x00, 0x14] + [UInt8](repeating: 0xab, count: 20))
        #expect(Self.embeddedNbits(tuned.source) == 0x207f_ffff)
    }

    @Test func templateProvidersFailOverInTheOrderGiven() throws {
        let plain = try Self.resolve([
            "--tp", "127.0.0.1:8442", "--tp", "tp.example:18447", "--tp-no-noise", "--payout-script", Self.p2wpkh,
        ])
        let failover = try #require(Self.failover(plain.source))
        #expect(failover.endpoints == [Endpoint(host: "127.0.0.1", port: 8442), Endpoint(host: "tp.example", port: 18447)])
        #expect(failover.security == .plain)
        #expect(plain.payout.count == 22)

        let authority = try AuthorityKeyPair.generate().publicKey
        let noise = try Self.resolve([
            "--tp", "127.0.0.1:8442", "--tp-authority-key", authority.base58Check, "--payout-script", Self.p2wpkh,
        ])
        #expect(Self.failover(noise.source)?.security == .noise(authority: authority))
    }

    @Test func badValuesAreRefusedWithTheOptionNamed() throws {
        let tp = ["--tp", "127.0.0.1:8442", "--tp-no-noise"]
        // OP_TRUE on a real network would let anyone take the block reward.
        Self.expectError("--payout-script is required with --tp") { _ = try Self.resolve(tp) }
        Self.expectError("--payout-script must be non-empty hex") { _ = try Self.resolve(["--payout-script", "zz"]) }
        Self.expectError("--payout-script must be non-empty hex") { _ = try Self.resolve(["--payout-script", ""]) }
        // A Template Provider needs its key, or plain Sv2 said out loud.
        Self.expectError("--tp-authority-key is required") {
            _ = try Self.resolve(["--tp", "127.0.0.1:8442", "--payout-script", Self.p2wpkh])
        }
        Self.expectError("--tp-authority-key: not a valid authority public key") {
            _ = try Self.resolve(["--tp", "127.0.0.1:8442", "--tp-authority-key", "nonsense", "--payout-script", "51"])
        }
        Self.expectError("--tp: nonsense is not an upstream address") {
            _ = try Self.resolve(["--tp", "nonsense", "--tp-no-noise", "--payout-script", "51"])
        }
        for nbits in ["zz", "1d3fffff00", ""] {
            Self.expectError("--nbits must be a valid compact target in hex") { _ = try Self.resolve(["--nbits", nbits]) }
        }
        // The parser itself: a missing value, a flag that takes none, an unknown option.
        #expect(throws: (any Error).self) { try TemplateSourceOptions.parse(["--tp"]) }
        #expect(throws: (any Error).self) { try TemplateSourceOptions.parse(["--tp-no-noise=yes"]) }
        #expect(throws: (any Error).self) { try TemplateSourceOptions.parse(["--tp-noise"]) }
    }

    @Test func theConfigFileGivesEveryOptionAndFlagsWin() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.file("source.toml")
        try """
            tp = ["127.0.0.1:8442", "127.0.0.2:8442"]
            tp-no-noise = true
            payout-script = "\(Self.p2wpkh)"
            nbits = "207fffff"
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let fromFile = try Self.resolve([], config: config)
        #expect(fromFile.payout.count == 22)
        let failover = try #require(Self.failover(fromFile.source))
        #expect(failover.endpoints.map(\.host) == ["127.0.0.1", "127.0.0.2"] && failover.security == .plain)
        // Flags win over the file: one provider, and its payout script.
        let flags = try Self.resolve(["--tp", "127.0.0.3:8442", "--payout-script", "51"], config: config)
        #expect(Self.failover(flags.source)?.endpoints == [Endpoint(host: "127.0.0.3", port: 8442)])
        #expect(flags.payout == [0x51])
        // A single provider may be a plain string; the file's nbits reach the embedded source.
        try "tp = \"127.0.0.1:8442\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        Self.expectError("--payout-script is required with --tp") { _ = try Self.resolve([], config: config) }
        try "nbits = \"207fffff\"\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(Self.embeddedNbits(try Self.resolve([], config: config).source) == 0x207f_ffff)
        try "tp = 5\n".write(toFile: config, atomically: true, encoding: .utf8)
        Self.expectError("`tp` must be a string or an array of strings") { _ = try Self.resolve([], config: config) }
    }

    /// `sv2 pool`, `sv2 jd-server` (a pool) and `sv2 jd-client` take the same flags and config keys;
    /// `sv2 template-provider` checks `--nbits` the same way.
    @Test func everyCommandTakesTheGroup() throws {
        #expect(PoolCommand.keys.isSuperset(of: TemplateSourceOptions.keys))
        #expect(JobDeclarationClientCommand.keys.isSuperset(of: TemplateSourceOptions.keys))
        let flags = ["--tp", "127.0.0.1:8442", "--tp-no-noise", "--payout-script", Self.p2wpkh, "--nbits", "207fffff"]
        let pool = try PoolCommand.parse(flags).templates
        let client = try JobDeclarationClientCommand.parse(flags).templates
        let server = try JobDeclarationServerCommand.parse(flags).pool.templates
        for options in [pool, client, server] {
            #expect(options.tp == ["127.0.0.1:8442"] && options.tpNoNoise && options.payoutScript == Self.p2wpkh)
            #expect(options.nbits == "207fffff" && options.tpAuthorityKey == nil)
        }
        for help in [PoolCommand.helpMessage(), JobDeclarationClientCommand.helpMessage()] {
            for flag in ["--tp <tp>", "--tp-authority-key", "--tp-no-noise", "--payout-script", "--nbits"] {
                #expect(help.contains(flag), "\(flag) missing from the help")
            }
        }

        // The pool keeps its embedded-only --template-interval on the group's embedded source.
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let base = ["--data-dir", directory.path, "--no-noise"]
        let embedded = try PoolSettingsTests.settings(base + ["--nbits", "207fffff", "--template-interval", "0"])
        guard case .embedded(let configuration) = embedded.templateSource else {
            Issue.record("not the embedded source: \(embedded.templateSource)")
            return
        }
        #expect(configuration.source.nbits == 0x207f_ffff && configuration.refreshInterval == nil)
        let remote = try PoolSettingsTests.settings(
            base + ["--tp", "127.0.0.1:8442", "--tp-no-noise", "--payout-script", Self.p2wpkh])
        #expect(Self.failover(remote.templateSource)?.endpoints == [Endpoint(host: "127.0.0.1", port: 8442)])

        let provider = try TemplateProviderCommand.parse(["--nbits", "207fffff", "--data-dir", directory.path, "--no-noise"])
        let file = try ConfigFile(path: nil, allowedKeys: TemplateProviderCommand.keys)
        #expect(try provider.settings(file).provider.source.nbits == 0x207f_ffff)
        Self.expectError("--nbits must be a valid compact target in hex") {
            _ = try TemplateProviderCommand.parse(["--nbits", "nope", "--data-dir", directory.path, "--no-noise"]).settings(file)
        }
    }
}

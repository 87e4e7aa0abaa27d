import Sv2LoadTest
import Testing
@testable import sv2

/// `sv2 loadtest run`'s settings as parsed from flags.
@Suite("sv2 loadtest run settings")
struct LoadTestSettingsTests {
    static func settings(_ arguments: [String]) throws -> LoadTestConfiguration {
        try LoadTestCommand.Run.parse(arguments).settings()
    }

    /// Sv2 by default; `--sv1` switches to Stratum V1 with version rolling, `--no-version-rolling` drops
    /// `mining.configure`, `--user` and `--password` name the authorization, and the share modes carry over.
    @Test func sv1FlagSelectsStratumV1() throws {
        let sv2 = try Self.settings(["--target", "127.0.0.1:3333"])
        #expect(!sv2.stratumV1 && sv2.userIdentity == "loadtest")
        let sv1 = try Self.settings([
            "--sv1", "--target", "127.0.0.1:3333", "--user", "acct", "--password", "secret", "--share-rate", "0",
            "--in-flight", "8", "-c", "5",
        ])
        #expect(sv1.stratumV1)
        #expect(sv1.sv1VersionRollingMask == 0x1fff_e000)
        #expect(sv1.userIdentity == "acct" && sv1.sv1Password == "secret")
        #expect(sv1.sharesPerSecond == 0 && sv1.sharesInFlight == 8 && sv1.connections == 5)
        #expect("\(sv1.serverAddress)" == "127.0.0.1:3333")
        let plain = try Self.settings(["--sv1", "--no-version-rolling"])
        #expect(plain.stratumV1 && plain.sv1VersionRollingMask == nil)
    }

    /// Stratum V1 has no Noise: asking for both is refused before anything connects.
    @Test func sv1RefusesNoise() throws {
        #expect(throws: (any Error).self) { try Self.settings(["--sv1", "--noise-unverified"]) }
        var configuration = try Self.settings(["--sv1"])
        configuration.security = .noise(authority: nil)
        #expect(throws: LoadTestError.self) { try configuration.validate() }
    }
}

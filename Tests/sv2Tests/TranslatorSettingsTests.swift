import Foundation
import Sv2AppSupport
import Sv2Translator
import Testing
@testable import sv2

/// `sv2 translator`'s settings as parsed from flags and the config file.
@Suite("sv2 translator settings")
struct TranslatorSettingsTests {
    static func settings(_ arguments: [String]) throws -> TranslatorConfiguration {
        let command = try TranslatorCommand.parse(arguments)
        return try command.settings(try ConfigFile(path: command.runtime.config, allowedKeys: TranslatorCommand.keys))
    }

    /// One channel for all devices by default; `--channel-per-device` (or `channel-per-device = true`) opens one per
    /// device, and then the hashrate announced per channel defaults to one device's.
    @Test func channelPerDeviceComesFromTheFlagOrTheConfigFile() throws {
        let base = ["--no-noise", "--pool", "127.0.0.1:34254"]
        let aggregated = try Self.settings(base)
        #expect(aggregated.channelMode == .aggregated && aggregated.upstreamHashrate == 1e15)
        let perDevice = try Self.settings(base + ["--channel-per-device", "--device-hashrate", "2e13"])
        #expect(perDevice.channelMode == .perDevice && perDevice.upstreamHashrate == 2e13)
        let explicit = try Self.settings(base + ["--channel-per-device", "--upstream-hashrate", "5e12"])
        #expect(explicit.upstreamHashrate == 5e12)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let config = directory.file("translator.toml")
        try "channel-per-device = true\n".write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try Self.settings(base + ["--config", config]).channelMode == .perDevice)
    }
}

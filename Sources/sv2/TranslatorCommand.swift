import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Service
import Sv2Translator

/// `sv2 translator`: Stratum V1 devices on one Sv2 extended channel, or one per device.
struct TranslatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "translator",
        abstract: "Serve Stratum V1 mining devices over Sv2 extended channels (one, or one per device) to a pool.",
        discussion: """
            An Sv1 server for devices (mining.configure with version rolling, subscribe, authorize, submit …) plus \
            an Sv2 Mining client to the pool, on one event loop. Every device gets its own extranonce1 carved from \
            the channel's extranonce space and its own vardiff; shares meeting the pool's target are forwarded and \
            the pool's answer goes back to the device that found them. With --channel-per-device every device gets \
            its own extended channel instead (same upstream connection), so the pool targets and accounts each one.

            Example:
              sv2 translator --listen 0.0.0.0:3333 --pool pool.example:34254 --authority-key 9bXiEd8… --user farm-1
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Address Sv1 devices connect to (default 0.0.0.0:3333).")
    var listen: String?

    @Option(name: .long, help: "Sv2 pool or proxy (host:port; repeat for fail-over in order of preference; default 127.0.0.1:34254).")
    var pool: [String] = []

    @Option(name: .long, help: "The pool's authority public key (base58check).")
    var authorityKey: String?

    @Flag(name: .long, help: "Connect to the pool without Noise.")
    var noNoise = false

    @Option(name: .long, help: "user_identity of the upstream channel (default sv2-translator).")
    var user: String?

    @Option(name: .long, help: "Target shares per minute per device, for vardiff (default 20).")
    var sharesPerMinute: Double?

    @Option(name: .long, help: "Lowest difficulty any device gets (default 1).")
    var minDifficulty: Double?

    @Option(name: .long, help: "Expected hashrate of one device in H/s, for its first difficulty (default 1e14).")
    var deviceHashrate: Double?

    @Option(name: .long, help: "Seconds between vardiff decisions per device (default 60).")
    var vardiffWindow: Double?

    @Option(name: .long, help: "Hashrate announced per upstream channel in H/s: the whole farm's (default 1e15), or with --channel-per-device one device's (default: --device-hashrate).")
    var upstreamHashrate: Double?

    @Flag(name: .long, help: "Open one upstream extended channel per device instead of one for all (user identity --user on each).")
    var channelPerDevice = false

    @Option(name: .long, help: "Devices connected at once (default 65536).")
    var maxDevices: Int?

    static let keys: Set<String> = RuntimeOptions.keys.union([
        "listen", "pool", "authority-key", "no-noise", "user", "shares-per-minute", "min-difficulty",
        "device-hashrate", "vardiff-window", "upstream-hashrate", "max-devices", "channel-per-device",
    ])

    func settings(_ file: ConfigFile) throws -> TranslatorConfiguration {
        let pools = try file.strings(pool, "pool")
        let endpoints = try (pools.isEmpty ? ["127.0.0.1:34254"] : pools).map { try endpoint($0, option: "pool") }
        let security = try clientSecurity(
            authorityKey: try file.optionalString(authorityKey, "authority-key"),
            noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false), option: "authority-key")
        // The configured address is a placeholder: the failover connects to each resolved endpoint in turn.
        let placeholder = try endpoints[0].numericAddress ?? SocketAddress(ip: "127.0.0.1", port: endpoints[0].port)
        var configuration = TranslatorConfiguration(
            listenAddress: try socketAddress(try file.string(listen, "listen", default: "0.0.0.0:3333"), option: "listen"),
            upstream: Sv2ClientConfiguration(serverAddress: placeholder, sv2Protocol: .mining, security: security),
            userIdentity: try file.string(user, "user", default: "sv2-translator"))
        configuration.upstreamEndpoints = endpoints
        configuration.sharesPerMinute = try file.double(sharesPerMinute, "shares-per-minute", default: 20)
        configuration.minimumDifficulty = try file.double(minDifficulty, "min-difficulty", default: 1)
        configuration.deviceHashrate = try file.double(deviceHashrate, "device-hashrate", default: 100e12)
        configuration.vardiffWindow = try file.double(vardiffWindow, "vardiff-window", default: 60)
        let perDevice = try file.bool(channelPerDevice ? true : nil, "channel-per-device", default: false)
        configuration.channelMode = perDevice ? .perDevice : .aggregated
        configuration.upstreamHashrate = Float(try file.double(
            upstreamHashrate, "upstream-hashrate", default: perDevice ? configuration.deviceHashrate : 1e15))
        configuration.maxDevices = try file.int(maxDevices, "max-devices", default: 65_536)
        do throws(Sv2ServiceError) { try configuration.validate() } catch {
            throw ValidationError("translator settings: \(error)")
        }
        return configuration
    }

    func run() throws {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys)
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .info))
        let configuration = try settings(file)
        var translator: Sv2Translator?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10), status: { if let translator { print(TranslatorCommand.status(translator)) } },
            setUp: { loop in
                let started = try Sv2Translator.start(configuration: configuration, eventLoop: loop)
                print("translator listening on \(started.localAddress.map { "\($0)" } ?? "?") for Sv1 devices, "
                    + "pool \(configuration.upstreamEndpoints.map(\.description).joined(separator: ", "))")
                translator = started
            },
            shutdown: { translator?.stop() },
            tearDown: { if let translator { print(TranslatorCommand.status(translator)) } })
    }

    static func status(_ translator: Sv2Translator) -> String {
        let s = translator.statistics
        let channels: String = switch translator.configuration.channelMode {
        case .perDevice: "\(s.upstreamChannels) upstream channels"
        case .aggregated: "upstream channel \(s.upstreamChannelID.map(String.init) ?? "down")"
        }
        return "translator: \(s.devices) devices, \(s.sharesReceived) shares in, \(s.sharesValid) valid, "
            + "\(s.sharesForwarded) forwarded, \(s.upstreamAccepted) accepted upstream, \(s.upstreamRejected) rejected "
            + "upstream, \(s.blocksFound) blocks, " + channels
    }
}

import ArgumentParser
import Foundation
import Logging
import Reactor
import Sv2Pool
import Sv2Miner
import Sv2Service

/// `sv2 miner`: a CPU miner.
struct MinerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "miner",
        abstract: "Mine on the CPU against an Sv2 pool or proxy (standard or extended channel).",
        discussion: """
            Example (against `sv2 pool`, which prints its authority key at start):
              sv2 miner --pool 127.0.0.1:34254 --authority-key 9bXiEd8… --user alice --threads 2
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Pool or proxy address, host:port (repeat for fail-over in order of preference; default 127.0.0.1:34254). The miner reconnects with backoff when the link drops.")
    var pool: [String] = []

    @Option(name: .long, help: "The pool's authority public key (base58check).")
    var authorityKey: String?

    @Flag(name: .long, help: "Connect without Noise.")
    var noNoise = false

    @Option(name: .long, help: "user_identity of the channel (default: sv2-miner).")
    var user: String?

    @Option(name: .long, help: "Worker threads (default 1).")
    var threads: Int?

    @Option(name: .long, help: "Channel type: standard or extended (default standard).")
    var channel: String?

    @Option(name: .long, help: "Announced hashrate in H/s, for the pool's first target (default 5e6).")
    var nominalHashrate: Double?

    static let keys: Set<String> = RuntimeOptions.keys.union([
        "pool", "authority-key", "no-noise", "user", "threads", "channel", "nominal-hashrate",
    ])

    func settings(_ file: ConfigFile) throws -> (MinerConfiguration, Sv2ClientConfiguration, [Endpoint]) {
        var pools = try file.strings(pool, "pool").map { try endpoint($0, option: "pool") }
        if pools.isEmpty { pools = [Endpoint(host: "127.0.0.1", port: 34254)] }
        // A placeholder when the first pool is a host name: every attempt connects to what it resolves to.
        let address = try pools[0].numericAddress ?? SocketAddress(ip: "127.0.0.1", port: pools[0].port)
        let security = try clientSecurity(
            authorityKey: try file.optionalString(authorityKey, "authority-key"),
            noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false), option: "authority-key")
        let kind = try file.string(channel, "channel", default: "standard")
        guard let channelType = MinerConfiguration.ChannelType(rawValue: kind) else {
            throw ValidationError("--channel must be standard or extended")
        }
        let miner = MinerConfiguration(
            userIdentity: try file.string(user, "user", default: "sv2-miner"),
            nominalHashrate: Float(try file.double(nominalHashrate, "nominal-hashrate", default: 5e6)),
            channelType: channelType,
            cpu: CPUMinerConfiguration(workerCount: try file.int(threads, "threads", default: 1)))
        return (miner, Sv2ClientConfiguration(serverAddress: address, sv2Protocol: .mining, security: security), pools)
    }

    func run() throws {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys)
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .notice))
        let (miner, server, pools) = try settings(file)
        var client: MinerClient?
        var failover: Sv2Failover?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            setUp: { loop in
                let made = try MinerSession.makeClient(configuration: miner, server: server, eventLoop: loop)
                let name = miner.userIdentity
                made.mining.session.onEvent = { event in
                    if let line = MinerCommand.describe(event, miner: name) { print(line) }
                }
                let link = try Sv2Failover(endpoints: pools, eventLoop: loop)
                link.drive(made) { state in print("\(name): \(state)") }
                link.start()
                client = made
                failover = link
            },
            shutdown: { failover?.stop() },
            tearDown: {
                guard let client else { return }
                client.mining.session.stop()
                let s = client.mining.session.statistics
                print("\(miner.userIdentity): \(s.sharesAccepted) shares accepted, \(s.sharesRejected) rejected, "
                      + "\(s.blocksFound) blocks, \(String(format: "%.2f", s.hashrate / 1e6)) MH/s")
            })
    }

    /// One line per interesting miner event (nil for the chatty ones).
    static func describe(_ event: MinerEvent, miner: String) -> String? {
        switch event {
        case .channelOpened(let id, _, let prefix): "\(miner): channel \(id) open, extranonce prefix \(prefix)"
        case .channelRefused(let code): "\(miner): channel refused: \(code)"
        case .sharesAccepted(let count, let last): "\(miner): \(count) share\(count == 1 ? "" : "s") accepted (up to #\(last))"
        case .shareRejected(let sequence, let code): "\(miner): share #\(sequence) rejected: \(code)"
        case .blockFound(let hash): "\(miner): BLOCK \(hash.displayHex)"
        case .hashrate(let rate): "\(miner): \(String(format: "%.2f", rate / 1e6)) MH/s"
        case .channelClosed(let code): "\(miner): channel closed: \(code)"
        case .newWork, .shareSubmitted: nil
        }
    }
}

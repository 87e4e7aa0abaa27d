import ArgumentParser
import Dispatch
import Foundation
import Reactor
import Sv2LoadTest
import Sv2Noise
import Sv2Service

/// `sv2 loadtest`: simulated miners against a pool, and a minimal reference pool to point them at.
struct LoadTestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "loadtest",
        abstract: "Drive an Sv2 pool (or a Stratum V1 endpoint) with simulated miners and check that no share is lost.",
        discussion: """
            `sv2 loadtest run` opens N connections (spread over K event loops and over as many 127.0.0.0/8 source \
            addresses as needed), opens a standard or extended channel (--channel) on each asking for the easiest \
            target, and submits valid shares against the jobs it receives (extended: a fresh extranonce per share, \
            so the pool rebuilds the coinbase and merkle root). It prints progress once a second and a final table (or --json); \
            the exit status is 2 when a share went unacknowledged or a connection failed.

            With --sv1 the miners speak Stratum V1 instead (to `sv2 translator` or any Sv1 pool): mining.configure \
            (version rolling, unless --no-version-rolling), mining.subscribe, mining.authorize as <user>.<n>, then \
            mining.submit shares that meet the difficulty the endpoint sets (keep it tiny: `sv2 translator \
            --min-difficulty 2.5e-10 --device-hashrate 0 --shares-per-minute 1e9`), answers matched by JSON-RPC id.

            `sv2 loadtest serve` runs a minimal pool (standard and extended channels, one job per channel, every \
            share validated) to point it at. The full pool works too: `sv2 pool --min-difficulty 1e-9 \
            --max-difficulty 1e-9` pins a share difficulty the simulated miners meet at once.
            """,
        subcommands: [Run.self, Serve.self, Handshakes.self],
        defaultSubcommand: Run.self
    )

    /// `sv2 loadtest run`.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run simulated miners against a pool.")

        @Option(name: .long, help: "The pool, host:port.")
        var target = "127.0.0.1:34254"

        @Option(name: [.short, .long], help: "Simulated miners (connections).")
        var connections = 100

        @Option(name: .long, help: "Channel type: standard or extended.")
        var channel = "standard"

        @Option(name: .long, help: "Extended channels: min_extranonce_size to ask for (the granted size is rolled).")
        var extranonceSize = 4

        @Option(name: .long, help: "Event loops (threads) of the load generator.")
        var loops = 1

        @Option(name: .long, help: "Reactor backend of the load generator: io_uring or epoll (default: io_uring if available).")
        var backend: String?

        @Option(name: .long, help: "The pool's authority public key (base58check): turns Noise on.")
        var authorityPublicKey: String?

        @Flag(name: .long, help: "Noise without checking the server certificate (testing only).")
        var noiseUnverified = false

        @Option(name: .long, help: "Shares per second per connection; 0 = as fast as acknowledgements return.")
        var shareRate = 1.0

        @Option(name: .long, help: "With --share-rate 0: outstanding shares per connection.")
        var inFlight = 4

        @Option(name: .long, help: "Seconds over which connections are opened.")
        var rampUp = 1.0

        @Option(name: .long, help: "Seconds of the measured phase after the ramp-up.")
        var duration = 10.0

        @Option(name: .long, help: "Seconds to wait for outstanding acknowledgements at the end.")
        var drainTimeout = 5.0

        @Flag(name: .long, help: "Only connect, handshake and disconnect, repeatedly (measures handshakes/s).")
        var handshakeOnly = false

        @Option(name: .long, help: "Hash rate (H/s) each channel announces; pools derive the target from it.")
        var nominalHashrate: Float = 1

        @Flag(name: .long, help: "Open channels but submit no shares (idle-but-connected miners).")
        var idle = false

        @Option(name: .long, help: "First local source address (inside 127.0.0.0/8).")
        var sourceAddress = "127.0.0.2"

        @Option(name: .long, help: "Connections per source address before moving to the next one.")
        var connectionsPerAddress = 20_000

        @Flag(name: .long, help: "Speak Stratum V1 (to sv2 translator or any Sv1 pool) instead of Sv2.")
        var sv1 = false

        @Option(name: .long, help: "User prefix: the channels' user_identity, or with --sv1 the authorize user (.<n> is appended).")
        var user = "loadtest"

        @Option(name: .long, help: "With --sv1: the mining.authorize password.")
        var password = "x"

        @Flag(name: .long, help: "With --sv1: no mining.configure (no version rolling).")
        var noVersionRolling = false

        @Flag(name: .long, help: "Print the final report as JSON instead of a table.")
        var json = false

        @Flag(name: .long, help: "No progress lines.")
        var quiet = false

        /// The load test's settings from the flags.
        func settings() throws -> LoadTestConfiguration {
            var configuration = LoadTestConfiguration(serverAddress: try SocketAddress(parsing: target))
            configuration.connections = connections
            guard let kind = LoadTestChannelKind(rawValue: channel.lowercased()) else {
                throw ValidationError("unknown channel type \(channel) (standard or extended)")
            }
            configuration.channelKind = kind
            configuration.minimumExtranonceSize = extranonceSize
            configuration.eventLoops = loops
            configuration.backend = try parseBackend(backend)
            if let authorityPublicKey {
                configuration.security = .noise(authority: try AuthorityPublicKey(base58Check: authorityPublicKey))
            } else if noiseUnverified {
                configuration.security = .noise(authority: nil)
            }
            configuration.sharesPerSecond = shareRate
            configuration.sharesInFlight = inFlight
            configuration.rampUp = .seconds(rampUp)
            configuration.duration = .seconds(duration)
            configuration.drainTimeout = .seconds(drainTimeout)
            configuration.handshakeOnly = handshakeOnly
            configuration.idle = idle
            configuration.nominalHashRate = nominalHashrate
            configuration.sourceAddresses = try SourceAddressPool(
                first: sourceAddress, connectionsPerAddress: connectionsPerAddress)
            configuration.userIdentity = user
            if sv1 {
                guard authorityPublicKey == nil && !noiseUnverified else {
                    throw ValidationError("--sv1 speaks plain Stratum V1: no Noise options")
                }
                configuration.stratumV1 = true
                configuration.sv1Password = password
                if noVersionRolling { configuration.sv1VersionRollingMask = nil }
            }
            try configuration.validate()
            return configuration
        }

        func run() throws {
            let configuration = try settings()
            let limit = LoadTest.raiseFileLimit(toAtLeast: connections + 1_024)
            if limit < connections + 64 {
                FileHandle.standardError.write(Data(
                    "warning: the open-file limit is \(limit); \(connections) connections need more (ulimit -n)\n".utf8))
            }
            let report = try LoadTest(configuration: configuration).run { progress in
                guard !quiet else { return }
                FileHandle.standardError.write(Data((progress.line + "\n").utf8))
            }
            print(json ? report.json() : report.table)
            if !report.nothingLost.passed { throw ExitCode(2) }
        }
    }

    /// `sv2 loadtest serve`.
    struct Serve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the minimal reference pool (standard and extended channels, one job, every share validated).",
            discussion: """
                Prints `listening <address> pid <pid>` (and the authority public key when Noise is on) once ready, \
                and its counters as one JSON line when it stops (SIGINT, SIGTERM or --seconds).
                """)

        @Option(name: .long, help: "Address to listen on.")
        var listen = "127.0.0.1:34254"

        @Option(name: .long, help: "Authority secret key (base58check): serve Noise with a fresh certificate per connection.")
        var authoritySecretKey: String?

        @Flag(name: .long, help: "Serve Noise with a newly generated authority key (its public key is printed).")
        var noise = false

        @Option(name: .long, help: "Reactor backend: io_uring or epoll (default: io_uring if available).")
        var backend: String?

        @Option(name: .long, help: "Stop after this many seconds (0: run until SIGINT/SIGTERM).")
        var seconds = 0.0

        func run() throws {
            let loop = try EventLoop(configuration: EventLoopConfiguration(backend: try parseBackend(backend)))
            var configuration = Sv2ServerConfiguration(listenAddress: try SocketAddress(parsing: listen))
            configuration.inactivityTimeout = .seconds(3_600)
            // A load-test target: the load generator opens and reconnects far faster than one source address may on
            // a real pool (1000/s by default), and refusing it would measure admission control, not the server.
            configuration.newConnectionsPerSourcePerSecond = 1_000_000
            configuration.newConnectionsPerSourceBurst = 1_000_000
            var authority: AuthorityKeyPair?
            if let authoritySecretKey {
                authority = try AuthorityKeyPair(secretKeyBase58Check: authoritySecretKey)
            } else if noise {
                authority = try AuthorityKeyPair.generate()
            }
            if let authority {
                configuration.noise = .freshStaticKeyPerConnection(authority: authority, certificateValidity: 86_400)
            }
            LoadTest.raiseFileLimit(toAtLeast: configuration.maxConnections + 1_024)
            let server = try Sv2Server(
                configuration: configuration, eventLoop: loop, mining: ReferencePool(),
                jobDeclaration: NullSv2JobDeclarationServerHandler(),
                templateDistribution: NullSv2TemplateDistributionServerHandler())
            try server.start()
            emit("listening \(server.localAddress.map { "\($0)" } ?? listen) pid \(getpid()) backend \(loop.backend)"
                 + (authority.map { " authority-public-key \($0.publicKey.base58Check)" } ?? ""))

            let box = ServerBox(server)
            let stop: @Sendable () -> Void = {
                loop.execute {
                    let server = box.server
                    let stats = server.statistics
                    emit("""
                        {"sharesAccepted":\(server.mining.sharesAccepted),"sharesRejected":\(server.mining.sharesRejected),\
                        "channelsOpened":\(server.mining.channelsOpened),"connectionsOpened":\(stats.connectionsOpened),\
                        "handshakesCompleted":\(stats.handshakesCompleted),"setupsAccepted":\(stats.setupsAccepted),\
                        "errors":\(stats.errors),"framesIn":\(stats.framesIn),"framesOut":\(stats.framesOut)}
                        """)
                    server.stop()
                    loop.stop(gracePeriod: .milliseconds(200))
                }
            }
            signal(SIGINT, SIG_IGN)
            signal(SIGTERM, SIG_IGN)
            let sources = [SIGINT, SIGTERM].map { DispatchSource.makeSignalSource(signal: $0, queue: .global()) }
            for source in sources {
                source.setEventHandler(handler: stop)
                source.resume()
            }
            if seconds > 0 { loop.schedule(after: .seconds(seconds)) { stop() } }
            try loop.run()
            withExtendedLifetime(sources) {}
        }
    }
}

/// The reference pool's server type, handed to the signal handler (which only touches it on the loop thread).
private final class ServerBox: @unchecked Sendable {
    let server: Sv2Server<ReferencePool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>
    init(_ server: Sv2Server<ReferencePool, NullSv2JobDeclarationServerHandler, NullSv2TemplateDistributionServerHandler>) {
        self.server = server
    }
}

/// Writes one line to stdout unbuffered (scripts wait for it).
private func emit(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Parses a `--backend` value.
private func parseBackend(_ text: String?) throws -> ReactorBackend? {
    guard let text else { return nil }
    switch text.lowercased() {
    case "io_uring", "iouring", "uring": return .ioUring
    case "epoll": return .epoll
    default: throw ValidationError("unknown backend \(text) (io_uring or epoll)")
    }
}

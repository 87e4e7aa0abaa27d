import ArgumentParser
import Foundation
import Logging
import Prometheus
import Reactor
import Sv2Accounting
import Sv2AppSupport
import Sv2Codec
import Sv2JobDeclaration
import Sv2Metrics
import Sv2Bitcoin
import Sv2Mining
import Sv2Pool
import Sv2TemplateProvider
import Sv2Noise
import Sv2Service

/// `sv2 pool`: a Mining server and its sibling Template Distribution client.
struct PoolCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pool",
        abstract: "Run a pool: Mining server + Template Distribution client (siblings on one event loop).",
        discussion: """
            Templates come from a Template Provider (--tp HOST:PORT, e.g. Bitcoin Core's sv2-tp) or, by default, \
            from the embedded regtest-style generator, so the pool runs on a fresh machine with nothing else.

            Noise: the pool signs a certificate per connection with its authority secret key, taken from \
            --authority-secret-key-file FILE, $SV2_AUTHORITY_SECRET_KEY or --authority-secret-key (visible in ps); \
            without any of them the key is kept in the data directory (--data-dir, file pool-authority-secret-key, \
            mode 600): created on the first start, reused on every restart, so miners pinned to its public key (printed \
            at start; give it to miners as --authority-key) reconnect. --server-key-file FILE uses a persistent key and \
            certificate from `sv2 keys certificate` instead (the authority secret key then stays offline). \
            --no-noise serves plain, unencrypted Sv2.

            Payout: with --tp (a real network) --payout-script is required; the embedded source defaults to OP_TRUE.

            Share difficulty: vardiff keeps each channel near --shares-per-minute within \
            [--min-difficulty, --max-difficulty]; setting both to the same value pins it (a load test pins a tiny \
            difficulty, e.g. 2.5e-10, so simulated miners meet the target with their first hash).

            Threads: --threads N runs the pool on N event loops (default: the number of CPU cores), each listening \
            on the same address (SO_REUSEPORT) and owning the connections the kernel gives it; templates come through \
            the first loop's template link and are handed to the others; shares, blocks, accounting and metrics cover \
            every loop. --threads 1 is a single-loop pool. With --jd-listen or --jds-authority-key the pool runs on one loop.

            Found blocks are journaled (--block-journal) before they are submitted, and made whole there once the \
            template provider sent the block's other transactions. With --rpc HOST:PORT (and --rpc-cookie PATH, or \
            --rpc-user USER --rpc-password-file PATH) the whole blocks an earlier run left unsettled are submitted \
            to Bitcoin Core at start-up (submitblock), each verdict journaled.

            Example:
              sv2 pool --listen 0.0.0.0:34254 --tp 127.0.0.1:8442 --tp-no-noise --payout-script 0014…
            """)

    @OptionGroup var runtime: RuntimeOptions

    @Option(name: .long, help: "Address to listen on (default 127.0.0.1:34254).")
    var listen: String?

    @OptionGroup var serverKeys: ServerKeyOptions

    @OptionGroup(title: "Admission control (before authentication)") var admission: AdmissionOptions

    @Flag(name: .long, help: "Serve unencrypted Sv2 (no Noise).")
    var noNoise = false

    @Option(name: .long, help: "Seconds each per-connection certificate is valid (default 3600).")
    var certificateValidity: Int?

    @OptionGroup(title: "Template source and payout") var templates: TemplateSourceOptions

    /// `--rpc` and its credentials: `sv2 pool` submits the whole blocks an earlier run left unsettled at start-up;
    /// `sv2 jd-server` also looks declared transactions up and submits pushed blocks.
    @OptionGroup(title: "Bitcoin Core RPC") var bitcoinCore: BitcoinCoreRPCOptions

    @Option(name: .long, help: "Pool tag written into coinbases as Sv2/<tag>/ (default swift-stratum).")
    var poolTag: String?

    @Option(name: .long, help: "Target shares per minute per channel, for initial targets and vardiff (default 10).")
    var sharesPerMinute: Double?

    @Option(name: .long, help: "Seconds between vardiff decisions per channel (default 60).")
    var vardiffWindow: Double?

    @Option(name: .long, help: "Easiest share difficulty handed out (default 1e-6); bounds initial targets and vardiff.")
    var minDifficulty: Double?

    @Option(name: .long, help: "Hardest share difficulty handed out, also the bound for UpdateChannel (default 1e15); equal to --min-difficulty pins it.")
    var maxDifficulty: Double?

    @Option(name: .long, help: "Accepted shares per channel acknowledged together in one SubmitShares.Success (default 8).")
    var ackBatchSize: Int?

    @Flag(name: .long, help: "Group the standard channels of connections that accept extended jobs (proxies): one group job per connection instead of one job per channel. Extended channels are never grouped.")
    var groupStandardChannels = false

    @Option(name: .long, help: "Longest an accepted share waits for its acknowledgement, seconds (default 0.2).")
    var ackInterval: Double?

    @Option(name: .long, help: "Directory of the found-block journal (blocks.jsonl, fsynced before every submission; default DATA_DIR/blocks, see --data-dir).")
    var blockJournal: String?

    @Option(name: .long, help: "Share accounting: sqlite:PATH (default sqlite:DATA_DIR/accounting.sqlite), postgres://USER@HOST:PORT/DB (the local SQLite file, replicated there), or off. Shares are acknowledged only once committed locally.")
    var accounting: String?

    @Option(name: .long, help: "With --accounting postgres://…: the local SQLite file replicated to PostgreSQL (default DATA_DIR/accounting.sqlite).")
    var accountingFile: String?

    @Option(name: .long, help: "This pool's name in the accounting rows (default: the host name).")
    var nodeID: String?

    @Option(name: .long, help: "Accounting windows queued for the database writer at most; beyond, the pool stops reading from miners until it catches up (default 64).")
    var accountingQueue: Int?

    @Option(name: .long, help: "Serve Prometheus metrics at http://HOST:PORT/metrics (e.g. 127.0.0.1:9100).")
    var metrics: String?

    @Option(name: .long, help: "The server label of this pool's metrics (default pool).")
    var metricsName: String?

    @Flag(name: .long, help: "Also export per-user series (shares accepted/rejected, difficulty) for the first --max-tracked-users user identities; later ones are summed as untracked_users.")
    var metricsPerUser = false

    @Option(name: .long, help: "User identities whose lifetime share totals are kept one by one (default 10000); bounds per-user metrics.")
    var maxTrackedUsers: Int?

    @Option(name: .long, help: "Seconds of silence after which the template source is declared lost and reconnected (default 300; 0 = never).")
    var tpTimeout: Double?

    @Option(name: .long, help: "Embedded source only: seconds between fresh templates (default 30).")
    var templateInterval: Double?

    @Option(name: .long, help: "Close connections idle for this many seconds (default 120).")
    var inactivityTimeout: Double?

    @Option(name: .long, help: "Maximum concurrent connections (default: below the descriptor limit, at most 100000).")
    var maxConnections: Int?

    @Option(name: .long, help: "Event loops (threads) serving miners, 1...256 (default: the number of CPU cores; 1 with --jd-listen or --jds-authority-key).")
    var threads: Int?

    @Option(name: .long, help: "Run the pool's Job Declaration server on this address (host:port): miners' JD clients get tokens there and the pool takes their custom jobs (SetCustomMiningJob).")
    var jdListen: String?

    @Option(name: .long, help: "Take custom jobs whose tokens a JD server in another process signed with this authority key (base58check, printed by that `sv2 jd-server`).")
    var jdsAuthorityKey: String?

    @Option(name: .long, help: "With Job Declaration: blocks per subsidy halving, for the check that declared coinbases pay at least the subsidy (210000 mainnet, 150 regtest, 0 = no floor; default: 150 with the embedded source, 0 with --tp).")
    var jdHalvingInterval: UInt32?

    static let keys: Set<String> = RuntimeOptions.keys.union(ServerKeyOptions.keys).union(AdmissionOptions.keys)
        .union(TemplateSourceOptions.keys).union([
            "listen", "no-noise", "certificate-validity", "pool-tag", "shares-per-minute", "vardiff-window",
            "min-difficulty", "max-difficulty", "ack-batch-size", "ack-interval", "block-journal", "accounting",
            "accounting-file", "node-id", "accounting-queue", "metrics", "metrics-name", "metrics-per-user",
            "max-tracked-users", "tp-timeout", "group-standard-channels", "template-interval", "inactivity-timeout",
            "max-connections", "jd-listen", "jd-halving-interval", "jds-authority-key", "threads",
        ])

    /// Everything resolved from flags, file and defaults.
    struct Settings {
        var server: Sv2ServerConfiguration
        var pool: PoolConfiguration
        var templateSource: PoolService.TemplateSource
        /// The authority public key miners pin (nil without Noise).
        var authority: AuthorityPublicKey?
        /// Where the authority key or certificate came from (never the key).
        var keyOrigin: String?
        /// Printed at start.
        var warnings: [String]
        /// The data directory, when something is kept there (the authority key, the default block journal).
        var dataDirectory: String?
        var blockJournalDirectory: String
        var templateSourceTimeout: Duration?
        var accounting: AccountingLocation
        var accountingFile: String
        var nodeID: String
        var accountingQueue: Int
        /// Per-user metric series on.
        var metricsPerUser: Bool
        /// Event loops serving miners (`--threads`).
        var threads: Int
    }

    /// `--threads` (or the file's `threads`): 1...256, default the number of CPU cores; one loop with a Job
    /// Declaration server beside it (`--jd-listen`: it feeds custom jobs to one pool). Custom jobs checked by tokens of
    /// a remote JD server (`--jds-authority-key`) work on any number of loops: one verifier serves them all.
    func threadCount(_ file: ConfigFile, jobDeclaration: Bool) throws -> Int {
        let given = try file.optionalInt(threads, "threads")
        if jobDeclaration {
            guard given == nil || given == 1 else {
                throw ValidationError(
                    "--threads: a pool with its Job Declaration server (--jd-listen, sv2 jd-server) runs on one loop")
            }
            return 1
        }
        let value = given ?? ProcessInfo.processInfo.activeProcessorCount
        guard (1...256).contains(value) else { throw ValidationError("--threads must be 1...256") }
        return value
    }

    func settings(
        _ file: ConfigFile, environment: [String: String] = ProcessInfo.processInfo.environment,
        now: UInt64 = UInt64(Date().timeIntervalSince1970), jobDeclarationDefault: String? = nil
    ) throws -> Settings {
        // The data directory is created only when something is kept there: the authority key (no other source
        // given) or the block journal (no --block-journal).
        let dataDirectory = try serverKeys.dataDirectoryPath(file, environment: environment)
        let journalFlag = try file.optionalString(blockJournal, "block-journal")
        let journalDirectory = try journalFlag ?? serverKeys.dataDirectory(file, environment: environment).file("blocks")
        let validity: UInt32
        do { validity = try CertificateValidity.seconds(try file.int(certificateValidity, "certificate-validity", default: 3600)) } catch {
            throw ValidationError("\(error)")
        }
        let keys = try serverKeys.resolve(
            file, app: "pool", noNoise: try file.bool(noNoise ? true : nil, "no-noise", default: false),
            certificateValidity: validity, environment: environment, now: now)
        // The ledger's default file lives in the data directory too (created when it is used).
        let accountingFlag = try file.optionalString(accounting, "accounting")
        let accountingFileFlag = try file.optionalString(accountingFile, "accounting-file")
        let defaultLedger = Self.defaultAccountingPath(in: dataDirectory)
        let accountingLocation = try accountingLocation(accountingFlag ?? "sqlite:\(defaultLedger)")
        let ledgerInDataDirectory: Bool
        switch accountingLocation {
        case .sqlite: ledgerInDataDirectory = accountingFlag == nil
        case .postgres: ledgerInDataDirectory = accountingFileFlag == nil
        case .off: ledgerInDataDirectory = false
        }
        if ledgerInDataDirectory { _ = try serverKeys.dataDirectory(file, environment: environment) }
        let usesDataDirectory = journalFlag == nil || keys.usesDataDirectory || ledgerInDataDirectory
        var server = Sv2ServerConfiguration(
            listenAddress: try socketAddress(try file.string(listen, "listen", default: "127.0.0.1:34254"), option: "listen"),
            noise: keys.identity)
        server.inactivityTimeout = .milliseconds(Int64(try file.double(inactivityTimeout, "inactivity-timeout", default: 120) * 1000))
        server.maxConnections = try file.int(maxConnections, "max-connections", default: LoopHost.defaultMaxConnections())
        try admission.apply(to: &server, file)
        server.metricsName = try file.string(metricsName, "metrics-name", default: "pool")
        var pool = PoolConfiguration(payoutScript: try templates.payoutScript(file))
        pool.poolTag = try file.string(poolTag, "pool-tag", default: pool.poolTag)
        pool.sharesPerMinute = try file.double(sharesPerMinute, "shares-per-minute", default: pool.sharesPerMinute)
        pool.vardiffWindow = try file.double(vardiffWindow, "vardiff-window", default: pool.vardiffWindow)
        pool.minimumDifficulty = try file.double(minDifficulty, "min-difficulty", default: pool.minimumDifficulty)
        pool.maximumDifficulty = try file.optionalDouble(maxDifficulty, "max-difficulty") ?? pool.maximumDifficulty
        pool.ackBatchSize = try file.int(ackBatchSize, "ack-batch-size", default: pool.ackBatchSize)
        pool.groupStandardChannels = try file.bool(
            groupStandardChannels ? true : nil, "group-standard-channels", default: pool.groupStandardChannels)
        pool.maximumTrackedUsers = try file.int(maxTrackedUsers, "max-tracked-users", default: pool.maximumTrackedUsers)
        let ackSeconds = try file.double(ackInterval, "ack-interval", default: 0.2)
        guard ackSeconds.isFinite, ackSeconds > 0, ackSeconds <= 86_400 else {
            throw ValidationError("--ack-interval must be a positive number of seconds (at most 86400)")
        }
        pool.ackInterval = .milliseconds(Int64(ackSeconds * 1000))
        let silence = try file.double(tpTimeout, "tp-timeout", default: 300)
        guard silence.isFinite, silence >= 0 else { throw ValidationError("--tp-timeout must be 0 or more seconds") }
        do throws(PoolError) { try pool.validate() } catch {
            throw ValidationError("pool settings (--min-difficulty, --max-difficulty, --ack-batch-size …): \(error)")
        }
        var source = try templates.source(file)
        if case .embedded(var embedded) = source {
            let interval = try file.double(templateInterval, "template-interval", default: 30)
            embedded.refreshInterval = interval > 0 ? .milliseconds(Int64(interval * 1000)) : nil
            source = .embedded(embedded)
        }
        return Settings(
            server: server, pool: pool, templateSource: source, authority: keys.authority, keyOrigin: keys.origin,
            warnings: keys.warnings, dataDirectory: usesDataDirectory ? dataDirectory : nil,
            blockJournalDirectory: journalDirectory,
            templateSourceTimeout: silence > 0 ? .milliseconds(Int64(silence * 1000)) : nil,
            accounting: accountingLocation,
            accountingFile: accountingFileFlag ?? defaultLedger,
            nodeID: try file.string(nodeID, "node-id", default: Self.hostName()),
            accountingQueue: try accountingQueueCapacity(file),
            metricsPerUser: try file.bool(metricsPerUser ? true : nil, "metrics-per-user", default: false),
            threads: try threadCount(
                file, jobDeclaration: try file.optionalString(jdListen, "jd-listen") ?? jobDeclarationDefault != nil))
    }

    private func accountingLocation(_ text: String) throws -> AccountingLocation {
        do { return try AccountingLocation(parsing: text) } catch { throw ValidationError("--accounting: \(error)") }
    }

    private func accountingQueueCapacity(_ file: ConfigFile) throws -> Int {
        let value = try file.int(accountingQueue, "accounting-queue", default: 64)
        guard (1...100_000).contains(value) else { throw ValidationError("--accounting-queue must be 1...100000") }
        return value
    }

    /// The default SQLite ledger: `accounting.sqlite` in the data directory, beside the default block journal.
    static func defaultAccountingPath(in dataDirectory: String) -> String {
        dataDirectory.hasSuffix("/") ? dataDirectory + "accounting.sqlite" : dataDirectory + "/accounting.sqlite"
    }

    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "local" }
        let name = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return name.isEmpty ? "local" : name
    }

    /// Opens the ledger the settings name (`nil`: accounting off) and starts its writer, and with PostgreSQL the
    /// replicator of the local file.
    static func openLedger(_ settings: Settings) throws -> (ledger: ShareLedger, replicator: PostgresReplicator?)? {
        let path: String
        var replicator: PostgresReplicator?
        switch settings.accounting {
        case .off:
            return nil
        case .postgres(let url):
            path = settings.accountingFile
            replicator = PostgresReplicator(sqlitePath: path, node: settings.nodeID, url: url)
        case .sqlite(let file):
            path = file
        }
        let store: SQLiteLedgerStore
        do { store = try SQLiteLedgerStore(path: path, node: settings.nodeID) } catch {
            throw ValidationError("cannot open the accounting database: \(error)")
        }
        let ledger = ShareLedger(store: store, capacity: settings.accountingQueue)
        ledger.start()
        replicator?.start()
        return (ledger, replicator)
    }

    func run() throws { try run(jobDeclarationDefault: nil) }

    /// Runs the pool; with `jobDeclarationDefault` (`sv2 jd-server`) its Job Declaration server listens there unless
    /// --jd-listen says otherwise.
    func run(jobDeclarationDefault: String?) throws {
        let (file, settings, journal, earlier) = try startUp(
            jobDeclarationDefault: jobDeclarationDefault, logLabel: "sv2.pool")
        let jd = try jobDeclarationSettings(file, listenDefault: jobDeclarationDefault, pool: settings)
        // Before the ledger's writer starts: a journal that cannot be trusted stops the start with nothing running.
        let tokenJournal = try jd.usedTokenJournal.map(Self.openUsedTokenJournal)
        let accounting = try Self.openLedger(settings)
        let ledger = accounting?.ledger
        if case .postgres = settings.accounting {
            print("accounting: \(settings.accounting) (local sqlite:\(settings.accountingFile), node \(settings.nodeID))")
        } else {
            print("accounting: \(settings.accounting)")
        }
        let metricsEndpoint = try MetricsEndpoint.prepare(try file.optionalString(metrics, "metrics"))
        let rpcConfiguration = try bitcoinCore.resolve(file)
        if settings.threads > 1 {
            return try runLoops(
                settings, file: file, journal: journal, earlier: earlier, accounting: accounting,
                metricsEndpoint: metricsEndpoint, jd: jd, tokenJournal: tokenJournal, rpc: rpcConfiguration)
        }
        var service: PoolService?
        var declarator: JobDeclarationServerService?
        let verifier = jd.tokenVerifier(payoutScript: settings.pool.payoutScript, journal: tokenJournal)
        var node: JobDeclarationNode?
        var poolNode: PoolBitcoinCoreNode?
        var metricsServer: MetricsHTTPServer?
        try LoopHost.run(
            backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10),
            status: { if let service { print(PoolCommand.status(service)) } },
            setUp: { loop in
                let pool = try PoolService(
                    configuration: settings.pool, server: settings.server, templateSource: settings.templateSource,
                    eventLoop: loop, acceptsWorkSelection: jd.acceptsCustomJobs)
                pool.templateSourceTimeout = settings.templateSourceTimeout
                pool.pool.blockJournal = journal
                pool.pool.ledger = ledger
                pool.pool.onBlockFound = { block in
                    print("BLOCK found by \(block.userIdentity) (channel \(block.channelID)): \(block.hash.displayHex)")
                }
                try pool.start()
                print("pool listening on \(pool.localAddress.map { "\($0)" } ?? "?") (\(loop.backend))")
                service = pool
                if let jdAddress = jd.listenAddress {
                    var jdServer = Sv2ServerConfiguration(listenAddress: jdAddress, noise: settings.server.noise)
                    jdServer.maxConnections = settings.server.maxConnections
                    // Tokens are signed (the pool's authority key, else the data directory's token key): other pools check them.
                    let jds = try JobDeclarationServerService(
                        service: pool, server: jdServer, halvingInterval: jd.halvingInterval,
                        signingKey: jd.signingKey)
                    try jds.start()
                    declarator = jds
                    print("job declaration server listening on \(jds.localAddress.map { "\($0)" } ?? "?"), "
                        + "tokens signed by \(jds.declarator.signingKey.publicKey) (\(jd.signingKeyOrigin ?? "?"); "
                        + "remote pools: --jds-authority-key)")
                    if let rpcConfiguration {
                        node = JobDeclarationNode.start(
                            rpcConfiguration, jds: jds, pool: pool, journal: journal, earlier: earlier, loop: loop)
                    }
                } else if let verifier {
                    pool.pool.customJobAuthorizer = { verifier.authorize($0) }
                    print("custom jobs with tokens signed by \(verifier.authority)")
                }
                // Without a JD server here, the node only takes the earlier run's whole blocks.
                if node == nil, let rpcConfiguration {
                    poolNode = PoolBitcoinCoreNode.start(rpcConfiguration, journal: journal, earlier: earlier, loop: loop)
                }
                if let metricsEndpoint {
                    let exporter = PoolMetrics(
                        service: pool, ledger: ledger, replicator: accounting?.replicator, perUser: settings.metricsPerUser)
                    let jdExporter = declarator != nil || verifier != nil
                        ? JobDeclarationMetrics(service: declarator, verifier: verifier, name: pool.server.metricsName)
                        : nil
                    metricsServer = try MetricsEndpoint.start(metricsEndpoint, on: loop) {
                        exporter.journalUnsettledBlocks = earlier.remaining
                        exporter.export()
                        jdExporter?.export()
                    }
                }
            },
            shutdown: {
                metricsServer?.stop()
                node?.rpc.stop()
                poolNode?.rpc.stop()
                declarator?.stop()
                service?.stop()
            },
            tearDown: {
                if let service { print(PoolCommand.status(service)) }
                if let declarator { print(JobDeclarationServerCommand.status(declarator)) }
                if let verifier { print(PoolCommand.tokenSummary(verifier)) }
                if let node { print(node.status) }
                ledger?.stop()
                accounting?.replicator?.stop()
            })
    }

    /// Opens the used-token journal of `sv2 pool --jds-authority-key` (loads the unexpired ids of earlier runs,
    /// compacts the file); a journal that cannot be read stops the start.
    static func openUsedTokenJournal(_ path: String) throws -> UsedTokenJournal {
        let journal: UsedTokenJournal
        do { journal = try UsedTokenJournal(path: path, now: UInt64(Date().timeIntervalSince1970)) } catch {
            throw ValidationError("cannot open the used-token journal: \(error)")
        }
        print("used-token journal: \(journal.path) (\(journal.lineCount) unexpired token ids of earlier runs refused, "
            + "\(journal.expiredAtOpening) expired dropped)")
        return journal
    }

    /// What every run of `sv2 pool` / `sv2 jd-server` does first: the config file (the Bitcoin Core RPC keys
    /// included), logging, the settings and their warnings, the data directory and key printed, the block
    /// journal opened, and — before this run journals anything — what an earlier run left unsettled (logged).
    func startUp(
        jobDeclarationDefault: String?, logLabel: String
    ) throws -> (ConfigFile, Settings, BlockJournal, EarlierUnsettledBlocks) {
        let file = try ConfigFile(path: runtime.config, allowedKeys: Self.keys.union(BitcoinCoreRPCOptions.keys))
        LoopHost.bootstrapLogging(level: try runtime.level(file, default: .info))
        let settings = try settings(file, jobDeclarationDefault: jobDeclarationDefault)
        for warning in settings.warnings { Logger(label: logLabel).warning("\(warning)") }
        if let dataDirectory = settings.dataDirectory { print("data directory: \(dataDirectory)") }
        if let authority = settings.authority {
            print("authority public key: \(authority.base58Check) (\(settings.keyOrigin ?? "?"))")
        }
        let journal: BlockJournal
        do { journal = try BlockJournal(directory: settings.blockJournalDirectory) } catch {
            throw ValidationError("cannot open the block journal: \(error)")
        }
        print("block journal: \(journal.path)")
        return (file, settings, journal, EarlierUnsettledBlocks.check(journal.path))
    }

    /// `--threads N` (N > 1): one ``PoolCluster`` over N loops, each with its own port into the one ledger; loop 0
    /// holds the template link and the metrics endpoint. SIGTERM drains every loop.
    private func runLoops(
        _ settings: Settings, file: ConfigFile, journal: BlockJournal, earlier: EarlierUnsettledBlocks,
        accounting: (ledger: ShareLedger, replicator: PostgresReplicator?)?,
        metricsEndpoint: (address: SocketAddress, registry: PrometheusCollectorRegistry)?,
        jd: PoolJobDeclarationSettings, tokenJournal: UsedTokenJournal?, rpc: BitcoinCoreRPCConfiguration?
    ) throws {
        let ledger = accounting?.ledger
        var cluster: PoolCluster?
        var poolNode: PoolBitcoinCoreNode?
        var metricsServer: MetricsHTTPServer?
        // With --jds-authority-key: one verifier for every loop (it locks), so a token is spent once pool-wide.
        let verifier = jd.tokenVerifier(payoutScript: settings.pool.payoutScript, journal: tokenJournal)
        if let verifier { print("custom jobs with tokens signed by \(verifier.authority), on every loop") }
        try LoopHost.run(
            loops: settings.threads, backend: try runtime.reactorBackend(file), duration: try runtime.runDuration(file),
            statusEvery: .seconds(10),
            status: { if let cluster { print(PoolCommand.status(cluster)) } },
            setUp: { loops in
                let pools = try PoolCluster(
                    configuration: settings.pool, server: settings.server, templateSource: settings.templateSource,
                    eventLoops: loops, publishUserTotals: settings.metricsPerUser,
                    acceptsWorkSelection: verifier != nil)
                for (index, service) in pools.services.enumerated() {
                    if let verifier { service.pool.customJobAuthorizer = { verifier.authorize($0) } }
                    service.templateSourceTimeout = settings.templateSourceTimeout
                    service.pool.blockJournal = journal
                    // Loop 0 writes through the ledger itself, the others through ports of their own.
                    service.pool.ledger = index == 0 ? ledger : ledger?.makePort()
                    service.pool.onBlockFound = { block in
                        print("BLOCK found by \(block.userIdentity) (channel \(block.channelID), loop \(index)): \(block.hash.displayHex)")
                    }
                }
                // Set up from this thread before the loops run (allowed: it created them); loop 0 first.
                for index in loops.indices { try pools.start(loop: index) }
                print("pool listening on \(pools.localAddress.map { "\($0)" } ?? "?") (\(loops.count) loops, \(loops[0].backend))")
                cluster = pools
                if let rpc {
                    poolNode = PoolBitcoinCoreNode.start(rpc, journal: journal, earlier: earlier, loop: loops[0])
                }
                if let metricsEndpoint {
                    let exporter = PoolMetrics(
                        cluster: pools, ledger: ledger, replicator: accounting?.replicator, perUser: settings.metricsPerUser)
                    let jdExporter = verifier.map {
                        JobDeclarationMetrics(service: nil, verifier: $0, name: pools.services[0].server.metricsName)
                    }
                    metricsServer = try MetricsEndpoint.start(metricsEndpoint, on: loops[0]) {
                        exporter.journalUnsettledBlocks = earlier.remaining
                        exporter.export()
                        jdExporter?.export()
                    }
                }
            },
            shutdown: { index in
                if index == 0 {
                    metricsServer?.stop()
                    poolNode?.rpc.stop()
                }
                cluster?.stop(loop: index)
            },
            tearDown: {
                if let cluster { print(PoolCommand.totals(cluster.loopSnapshots)) }
                if let verifier { print(PoolCommand.tokenSummary(verifier)) }
                ledger?.stop()
                accounting?.replicator?.stop()
            })
    }

    /// The final line about a remote JD server's tokens: how many were verified, the refusals by reason.
    static func tokenSummary(_ verifier: MiningJobTokenVerifier) -> String {
        "custom-job tokens: \(verifier.authorized) verified, refused \(verifier.rejections.sorted { $0.key < $1.key })"
    }

    static func status(_ cluster: PoolCluster) -> String {
        var line = totals([cluster.snapshot()])
        line += " [per loop: " + cluster.loopSnapshots.enumerated().map { index, loop in
            "\(index): \(loop.connections) conn \(loop.statistics.sharesAccepted) shares"
        }.joined(separator: ", ") + "]"
        return line
    }

    /// The status line of a pool on several loops, from the loops' snapshots (summed).
    static func totals(_ loops: [PoolLoopSnapshot]) -> String {
        var total = PoolLoopSnapshot()
        for loop in loops { total.add(loop) }
        let s = total.statistics
        return "pool: \(total.connections) connections, \(total.channels) channels, "
            + "\(s.sharesAccepted) shares accepted, \(s.sharesRejected) rejected, \(s.blocksFound) blocks, "
            + "\(s.jobsSent) jobs sent, \(s.accountingCommits) accounting commits (\(total.uncommittedWindows) windows pending)"
    }

    static func status(_ service: PoolService) -> String {
        let s = service.pool.statistics
        let server = service.server.statistics
        return "pool: \(server.connectionsActive) connections, \(service.pool.openChannelCount) channels, "
            + "\(s.sharesAccepted) shares accepted, \(s.sharesRejected) rejected, \(s.blocksFound) blocks, "
            + "\(s.jobsSent) jobs sent"
            + (service.pool.ledger == nil ? "" : ", \(s.accountingCommits) accounting commits (\(service.pool.uncommittedWindowCount) windows pending)")
    }
}

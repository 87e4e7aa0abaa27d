public import Sv2Accounting
public import Sv2Pool

/// Exports a ``PoolService`` (pool counters, its servers, its ledger) to swift-metrics, every series labelled
/// `server="<name>"` (the Mining server's ``Sv2Service/Sv2Server/metricsName``), so two pools in one process stay
/// apart. Call ``export()`` on the pool's loop thread, e.g. as a ``MetricsHTTPServer`` refresher: nothing is
/// recorded per share; the pool's plain counters are read at scrape time.
///
/// Series (prefix `sv2_pool_`): `connections`, `channels`, `shares_accepted_total`,
/// `shares_rejected_total{reason}`, `difficulty_accepted_total`, `acks_sent_total`, `blocks_found_total`,
/// `blocks_submitted_total`, `block_submission_failures_total`, `blocks_failed_total`, `blocks_acknowledged_total`,
/// `blocks_superseded_total`, `blocks_unsettled`, `journal_unsettled_blocks` (blocks an earlier run left unsettled
/// in the block journal, see ``journalUnsettledBlocks``), `block_journal_failures_total`, `templates_received_total`,
/// `template_age_seconds`, `template_source_up`, `template_source_losses_total`, `jobs_sent_total`,
/// `accounting_queue_depth`, `accounting_lag_seconds`, `accounting_uncommitted_windows`,
/// `accounting_commits_total`, `accounting_commit_latency_seconds`, `accounting_failed_commits_total`,
/// `accounting_backlogs_total`, `custom_jobs_accepted_total`, `custom_jobs_refused_total{reason}` (the
/// `SetCustomMiningJob.Error` code), `custom_job_shares_accepted_total`, `custom_job_blocks_found_total`; with PostgreSQL replication `accounting_replication_lag_seconds` (newest
/// committed window minus newest replicated one), `accounting_replicated_windows_total`,
/// `accounting_replication_failures_total`; plus the servers' own `sv2_server_*` series (connections, handshakes,
/// setups, frames, errors by kind).
///
/// A pool on several loops (``Sv2Pool/PoolCluster``, `init(cluster:…)`): the pool series are the sums over its
/// loops (the first loop's live figures plus the others' latest snapshots, ``Sv2Pool/PoolCluster/snapshotInterval``
/// old at most), per-user series too; templates received and template-source losses are the template link's (the
/// first loop's), not multiplied by the loops; each loop's Mining server keeps its own `sv2_server_*` series
/// (`<name>-loop<i>` for loops after the first). Export on the first loop.
///
/// With `perUser`: `user_shares_accepted_total{user}`, `user_shares_rejected_total{user}` and
/// `user_difficulty_accepted_total{user}` for each of the first `PoolConfiguration.maximumTrackedUsers` user identities
/// (lifetime totals, closed channels included), and the same three as `untracked_users_*` summed over every later
/// user, so the series count stays bounded whatever names miners send.
public final class PoolMetrics {
    /// The three per-user series of one user (or of the untracked rest).
    private struct UserSeries {
        var accepted: DeltaCounter
        var rejected: DeltaCounter
        var difficulty: DeltaFloatCounter

        init(prefix: String, _ dimensions: [(String, String)]) {
            accepted = DeltaCounter("\(prefix)_shares_accepted_total", dimensions)
            rejected = DeltaCounter("\(prefix)_shares_rejected_total", dimensions)
            difficulty = DeltaFloatCounter("\(prefix)_difficulty_accepted_total", dimensions)
        }

        mutating func update(_ totals: UserShareTotals) {
            accepted.update(totals.accepted)
            rejected.update(totals.rejected)
            difficulty.update(totals.difficulty)
        }
    }

    /// Whether the per-user series are exported.
    public let perUser: Bool
    private var users: [String: UserSeries] = [:]
    private var untrackedUsers: UserSeries?
    private let service: PoolService
    private let cluster: PoolCluster?
    private let ledger: ShareLedger?
    private var connections: GaugeExport
    private var channels: GaugeExport
    private var accepted: DeltaCounter
    private var rejected: [DeltaCounter]
    private var difficulty: DeltaFloatCounter
    private var acks: DeltaCounter
    private var blocksFound: DeltaCounter
    private var blocksSubmitted: DeltaCounter
    private var submissionFailures: DeltaCounter
    private var blocksFailed: DeltaCounter
    private var blocksAcknowledged: DeltaCounter
    private var blocksSuperseded: DeltaCounter
    private var blocksUnsettled: GaugeExport
    private var journalUnsettled: GaugeExport
    private var journalFailures: DeltaCounter
    private var blocksJournaledWhole: DeltaCounter
    private var blockDataFailures: DeltaCounter
    private var templates: DeltaCounter
    private var templateAge: GaugeExport
    private var templateSourceUp: GaugeExport
    private var templateSourceLosses: DeltaCounter
    private var jobs: DeltaCounter
    private var queueDepth: GaugeExport
    private var lag: GaugeExport
    private var uncommitted: GaugeExport
    private var commits: DeltaCounter
    private var commitLatency: GaugeExport
    private var failedCommits: DeltaCounter
    private var backlogs: DeltaCounter
    private var customJobsAccepted: DeltaCounter
    private var customJobsRefused: [String: DeltaCounter] = [:]
    private var customJobShares: DeltaCounter
    private var customJobBlocks: DeltaCounter
    private let replicator: PostgresReplicator?
    private var replicationLag: GaugeExport
    private var replicatedWindows: DeltaCounter
    private var replicationFailures: DeltaCounter

    /// The `server` label value.
    public let name: String
    /// Blocks an earlier run journaled as found and never saw settled, as read from the block journal at start-up
    /// (and counted down as they are settled): exported as `sv2_pool_journal_unsettled_blocks`. Anything above zero
    /// wants an operator (`sv2 blocks list --unsettled`, `sv2 blocks submit`). Set by the app before each export.
    public var journalUnsettledBlocks = 0

    /// Creates the series for `service` (and its `ledger`, if accounting is on, and its PostgreSQL `replicator`).
    /// Any thread; export on the loop.
    public convenience init(
        service: PoolService, ledger: ShareLedger? = nil, replicator: PostgresReplicator? = nil, perUser: Bool = false
    ) {
        self.init(service: service, ledger: ledger, replicator: replicator, perUser: perUser, cluster: nil)
    }

    private init(
        service: PoolService, ledger: ShareLedger?, replicator: PostgresReplicator?, perUser: Bool, cluster: PoolCluster?
    ) {
        self.perUser = perUser
        self.service = service
        self.cluster = cluster
        self.ledger = ledger
        self.replicator = replicator
        name = service.server.metricsName
        let server = [("server", name)]
        func counter(_ suffix: String) -> DeltaCounter { DeltaCounter("sv2_pool_\(suffix)", server) }
        func gauge(_ suffix: String) -> GaugeExport { GaugeExport("sv2_pool_\(suffix)", server) }
        connections = gauge("connections")
        channels = gauge("channels")
        accepted = counter("shares_accepted_total")
        rejected = ShareWindowRow.reasons.map { DeltaCounter("sv2_pool_shares_rejected_total", server + [("reason", $0)]) }
        difficulty = DeltaFloatCounter("sv2_pool_difficulty_accepted_total", server)
        acks = counter("acks_sent_total")
        blocksFound = counter("blocks_found_total")
        blocksSubmitted = counter("blocks_submitted_total")
        submissionFailures = counter("block_submission_failures_total")
        blocksFailed = counter("blocks_failed_total")
        blocksAcknowledged = counter("blocks_acknowledged_total")
        blocksSuperseded = counter("blocks_superseded_total")
        blocksUnsettled = gauge("blocks_unsettled")
        journalUnsettled = gauge("journal_unsettled_blocks")
        journalFailures = counter("block_journal_failures_total")
        blocksJournaledWhole = counter("blocks_journaled_whole_total")
        blockDataFailures = counter("block_data_failures_total")
        templates = counter("templates_received_total")
        templateAge = gauge("template_age_seconds")
        templateSourceUp = gauge("template_source_up")
        templateSourceLosses = counter("template_source_losses_total")
        jobs = counter("jobs_sent_total")
        queueDepth = gauge("accounting_queue_depth")
        lag = gauge("accounting_lag_seconds")
        uncommitted = gauge("accounting_uncommitted_windows")
        commits = counter("accounting_commits_total")
        commitLatency = gauge("accounting_commit_latency_seconds")
        failedCommits = counter("accounting_failed_commits_total")
        backlogs = counter("accounting_backlogs_total")
        replicationLag = gauge("accounting_replication_lag_seconds")
        replicatedWindows = counter("accounting_replicated_windows_total")
        replicationFailures = counter("accounting_replication_failures_total")
        customJobsAccepted = counter("custom_jobs_accepted_total")
        customJobShares = counter("custom_job_shares_accepted_total")
        customJobBlocks = counter("custom_job_blocks_found_total")
    }

    /// The series of a pool on several loops, summed over them (see the type's description); `perUser` needs the
    /// cluster to publish user totals (`publishUserTotals`). Any thread; export on the cluster's first loop.
    public convenience init(
        cluster: PoolCluster, ledger: ShareLedger? = nil, replicator: PostgresReplicator? = nil, perUser: Bool = false
    ) {
        self.init(service: cluster.services[0], ledger: ledger, replicator: replicator, perUser: perUser, cluster: cluster)
    }

    /// Reads every counter and records it. Loop thread only.
    public func export() {
        let pool = service.pool
        let total = cluster?.snapshot()
        var s = total?.statistics ?? pool.statistics
        // Received once by the template link, whatever the number of loops fed from it.
        s.templatesReceived = pool.statistics.templatesReceived
        s.templateSourceLosses = pool.statistics.templateSourceLosses
        service.server.exportMetrics()
        service.templateProviderServer?.exportMetrics()
        connections.set(total?.connections ?? service.server.statistics.connectionsActive)
        channels.set(total?.channels ?? pool.openChannelCount)
        accepted.update(s.sharesAccepted)
        for index in rejected.indices where index < s.rejections.count { rejected[index].update(s.rejections[index]) }
        difficulty.update(s.acceptedWork)
        acks.update(s.acksSent)
        blocksFound.update(s.blocksFound)
        blocksSubmitted.update(s.solutionsSubmitted)
        submissionFailures.update(s.submissionFailures)
        blocksFailed.update(s.blocksFailed)
        blocksAcknowledged.update(s.blocksAcknowledged)
        blocksSuperseded.update(s.blocksSuperseded)
        blocksUnsettled.set(total?.unsettledBlocks ?? pool.unsettledBlockCount)
        journalUnsettled.set(journalUnsettledBlocks)
        journalFailures.update(s.journalFailures)
        blocksJournaledWhole.update(s.blocksJournaledWhole)
        blockDataFailures.update(s.blockDataFailures)
        templates.update(s.templatesReceived)
        if let last = pool.lastTemplateTime { templateAge.set(Swift.max(0, pool.clock() - last)) }
        var linkUp = false
        if case .ready = service.templateClient?.state { linkUp = true }
        templateSourceUp.set(linkUp && pool.templateSourceAvailable ? 1 : 0)
        templateSourceLosses.update(s.templateSourceLosses)
        jobs.update(s.jobsSent)
        uncommitted.set(total?.uncommittedWindows ?? pool.uncommittedWindowCount)
        commits.update(s.accountingCommits)
        commitLatency.set(s.accountingLastCommitLatency)
        backlogs.update(s.accountingBacklogs)
        customJobsAccepted.update(s.customJobsAccepted)
        customJobShares.update(s.customJobSharesAccepted)
        customJobBlocks.update(s.customJobBlocksFound)
        // The codes are the pool's and its authorizer's own (a fixed set), never a peer's text: bounded labels.
        for (code, count) in s.customJobRefusals {
            if customJobsRefused[code] == nil {
                customJobsRefused[code] = DeltaCounter("sv2_pool_custom_jobs_refused_total", [("server", name), ("reason", code)])
            }
            customJobsRefused[code]!.update(count)
        }
        if perUser { exportUsers(total.map { ($0.users, $0.untrackedUsers) } ?? pool.userTotals()) }
        if let ledger {
            let l = ledger.statistics
            queueDepth.set(l.queueDepth)
            lag.set(l.lagSeconds)
            failedCommits.update(l.failedCommits)
            if let replicator {
                let r = replicator.statistics
                let behind = l.committedThroughMilliseconds > r.replicatedThroughMilliseconds
                    ? l.committedThroughMilliseconds - r.replicatedThroughMilliseconds : 0
                replicationLag.set(Double(behind) / 1000)
                replicatedWindows.update(r.copiedWindows)
                replicationFailures.update(r.failedPasses)
            }
        }
    }

    private func exportUsers(_ figures: (users: [String: UserShareTotals], untracked: UserShareTotals)) {
        let (totals, untracked) = figures
        for (user, value) in totals {
            if users[user] == nil {
                users[user] = UserSeries(prefix: "sv2_pool_user", [("server", name), ("user", user)])
            }
            users[user]!.update(value)
        }
        if untracked != UserShareTotals() || untrackedUsers != nil {
            if untrackedUsers == nil { untrackedUsers = UserSeries(prefix: "sv2_pool_untracked_users", [("server", name)]) }
            untrackedUsers!.update(untracked)
        }
    }
}

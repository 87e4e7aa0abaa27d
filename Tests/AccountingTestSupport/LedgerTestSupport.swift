import Foundation
public import Sv2Accounting
public import Sv2Pool

/// A fresh SQLite path in a temporary directory (removed by `cleanUp`).
public func temporaryLedgerPath(_ name: String = "ledger") -> (path: String, cleanUp: () -> Void) {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("sv2-accounting-\(name)-\(UInt64.random(in: 0...UInt64.max))").path
    return ("\(directory)/accounting.sqlite", { try? FileManager.default.removeItem(atPath: directory) })
}

/// A real SQLite store behind a gate the test opens and closes (to hold commits back), and that can be told to
/// fail its next commits (to exercise the writer's retry).
public final class GatedStore: LedgerStore, @unchecked Sendable {
    public let inner: SQLiteLedgerStore
    private let condition = NSCondition()
    private var open = true
    private var failures = 0
    private(set) var attempts = 0
    private(set) var batches: [[UInt64]] = []

    public init(_ inner: SQLiteLedgerStore) { self.inner = inner }

    public func close() { condition.lock(); open = false; condition.unlock() }
    public func reopen() { condition.lock(); open = true; condition.broadcast(); condition.unlock() }
    public func failNext(_ count: Int) { condition.lock(); failures = count; condition.unlock() }

    public var committedBatches: [[UInt64]] { condition.lock(); defer { condition.unlock() }; return batches }
    public var attemptCount: Int { condition.lock(); defer { condition.unlock() }; return attempts }

    public func commit(_ windows: ArraySlice<ShareWindow>) throws(AccountingError) {
        condition.lock()
        attempts += 1
        while !open { condition.wait() }
        if failures > 0 {
            failures -= 1
            condition.unlock()
            throw .sqlite(operation: "test", code: 10, message: "injected I/O error")
        }
        condition.unlock()
        try inner.commit(windows)
        condition.lock()
        batches.append(windows.map(\.sequence))
        condition.unlock()
    }
}

/// Polls `condition` every 5 ms for at most `timeout` seconds.
public func waitFor(timeout: Double = 20, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if try condition() { return true }
        usleep(5000)
    }
    return try condition()
}

public func row(_ user: String, channel: UInt32, accepted: UInt64, difficulty: Double, rejected: [String: UInt64] = [:])
    -> ShareWindowRow
{
    ShareWindowRow(
        userIdentity: user, channelID: channel, accepted: accepted, difficulty: difficulty,
        credit: UInt64(difficulty.rounded()),
        rejected: ShareWindowRow.reasons.map { rejected[$0] ?? 0 })
}

/// Sequences reported to a ledger's commit handler (from the writer thread).
public final class Reported: @unchecked Sendable {
    private let lock = NSLock()
    private var list: [UInt64] = []
    public init() {}
    public func append(_ value: UInt64) { lock.lock(); list.append(value); lock.unlock() }
    public var values: [UInt64] { lock.lock(); defer { lock.unlock() }; return list }
}

import Foundation

/// A `mining.notify`: one job as Sv1 devices see it.
///
/// The coinbase is `coinb1 ‖ extranonce1 ‖ extranonce2 ‖ coinb2` (BIP141-stripped, so its double SHA-256 is the
/// txid); the merkle branch holds the sibling hashes from the coinbase up, in raw (internal) byte order. The
/// previous block hash travels in Sv1's peculiar order: the raw 32 bytes with each 4-byte word reversed.
public struct Sv1Notify: Sendable, Hashable {
    /// The job id devices echo in `mining.submit`.
    public var jobID: String
    /// Previous block hash, raw (internal) byte order, 32 bytes.
    public var prevHash: [UInt8]
    /// Coinbase bytes before the extranonce.
    public var coinbase1: [UInt8]
    /// Coinbase bytes after the extranonce.
    public var coinbase2: [UInt8]
    /// Merkle branch from the coinbase up, raw byte order.
    public var merkleBranch: [[UInt8]]
    /// Header version.
    public var version: UInt32
    /// Network compact target.
    public var nbits: UInt32
    /// Header time to start from.
    public var ntime: UInt32
    /// Whether earlier jobs are void (new chain tip).
    public var cleanJobs: Bool

    /// Creates a job.
    public init(
        jobID: String, prevHash: [UInt8], coinbase1: [UInt8], coinbase2: [UInt8], merkleBranch: [[UInt8]],
        version: UInt32, nbits: UInt32, ntime: UInt32, cleanJobs: Bool
    ) {
        self.jobID = jobID
        self.prevHash = prevHash
        self.coinbase1 = coinbase1
        self.coinbase2 = coinbase2
        self.merkleBranch = merkleBranch
        self.version = version
        self.nbits = nbits
        self.ntime = ntime
        self.cleanJobs = cleanJobs
    }

    /// Raw 32 bytes ↔ Sv1 order: every 4-byte word reversed (the mapping is its own inverse).
    public static func swapWords(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        var index = 0
        while index + 4 <= out.count {
            out.swapAt(index, index + 3)
            out.swapAt(index + 1, index + 2)
            index += 4
        }
        return out
    }

    /// The `params` array as JSON text.
    public var paramsJSON: String {
        let branch = merkleBranch.map { Sv1JSON.quote(Sv1Hex.encode($0)) }.joined(separator: ",")
        return "[" + Sv1JSON.quote(jobID) + ",\"" + Sv1Hex.encode(Sv1Notify.swapWords(prevHash)) + "\",\""
            + Sv1Hex.encode(coinbase1) + "\",\"" + Sv1Hex.encode(coinbase2) + "\",[" + branch + "],\""
            + Sv1Hex.encodeUInt32(version) + "\",\"" + Sv1Hex.encodeUInt32(nbits) + "\",\""
            + Sv1Hex.encodeUInt32(ntime) + "\"," + (cleanJobs ? "true" : "false") + "]"
    }

    /// Reads the `params` of a `mining.notify` (device side).
    init(params: [Any]) throws(Sv1ProtocolError) {
        func fail(_ reason: String) -> Sv1ProtocolError { .invalidParams(method: "mining.notify", reason: reason) }
        guard params.count >= 9 else { throw fail("expected 9 params") }
        guard let jobID = params[0] as? String else { throw fail("job id") }
        guard let prev = (params[1] as? String).flatMap(Sv1Hex.decode), prev.count == 32 else { throw fail("prevhash") }
        guard let coinbase1 = (params[2] as? String).flatMap(Sv1Hex.decode) else { throw fail("coinb1") }
        guard let coinbase2 = (params[3] as? String).flatMap(Sv1Hex.decode) else { throw fail("coinb2") }
        guard let branchTexts = params[4] as? [Any] else { throw fail("merkle branch") }
        var branch: [[UInt8]] = []
        for item in branchTexts {
            guard let hash = (item as? String).flatMap(Sv1Hex.decode), hash.count == 32 else { throw fail("branch hash") }
            branch.append(hash)
        }
        guard let version = (params[5] as? String).flatMap(Sv1Hex.decodeUInt32),
              let nbits = (params[6] as? String).flatMap(Sv1Hex.decodeUInt32),
              let ntime = (params[7] as? String).flatMap(Sv1Hex.decodeUInt32)
        else { throw fail("version, nbits or ntime") }
        guard let clean = params[8] as? NSNumber, Sv1Request.isBool(clean) else { throw fail("clean_jobs") }
        self.init(
            jobID: jobID, prevHash: Sv1Notify.swapWords(prev), coinbase1: coinbase1, coinbase2: coinbase2,
            merkleBranch: branch, version: version, nbits: nbits, ntime: ntime, cleanJobs: clean.boolValue)
    }
}

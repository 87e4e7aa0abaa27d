/// Hands out unique extranonce prefixes to channels.
///
/// Every prefix is `upstreamPrefix ‖ localID` where `localID` is `localLength` big-endian bytes. Keeping the
/// upstream's prefix in front means stacked proxies only ever extend what they were given, so prefixes from
/// different proxies can never collide. The first `reservedIDs` local ids are never handed out (e.g. for the
/// proxy's own upstream channel). Fresh ids are used before freed ones, and freed ones are reused oldest first,
/// so a closed channel's prefix is reused as late as possible (late shares from it stay distinguishable).
///
/// Partitions: allocators of one pool running on several event loops each take one contiguous `1/partitions` of the
/// id space after the reserved ids (`partition` 0 the lowest), so two loops never hand out the same prefix.
public struct ExtranonceAllocator: Sendable {
    /// Bytes every prefix starts with (the upstream's extranonce prefix; empty on a pool).
    public private(set) var upstreamPrefix: Extranonce
    /// Bytes this allocator appends per channel.
    public let localLength: Int
    /// Full extranonce length in the coinbase: upstream prefix, local id and the downstream's rollable bytes.
    public let totalLength: Int
    /// Local ids `0..<reservedIDs` are never handed out.
    public let reservedIDs: UInt64

    private let idLimit: UInt64
    /// The first id of this allocator's partition (`reservedIDs` without partitions).
    private let firstID: UInt64
    private var nextFresh: UInt64
    private var freed: [UInt64] = []
    private var freedHead = 0
    private var allocated: Set<UInt64> = []

    /// Creates an allocator; throws if the layout does not fit in 32 bytes or leaves no id to hand out. With
    /// `partitions` > 1 it hands out only the ids of `partition` (`0..<partitions`; see the type's description).
    public init(
        upstreamPrefix: Extranonce = .empty, localLength: Int, totalLength: Int, reservedIDs: UInt64 = 0,
        partition: Int = 0, of partitions: Int = 1
    ) throws(ExtranonceAllocatorError) {
        guard (1...8).contains(localLength), totalLength <= Extranonce.maxLength,
            upstreamPrefix.count + localLength <= totalLength
        else {
            throw .invalidLayout(
                upstreamLength: upstreamPrefix.count, localLength: localLength, totalLength: totalLength)
        }
        let limit: UInt64 = localLength == 8 ? .max : 1 << UInt64(8 * localLength)
        guard reservedIDs < limit, partitions >= 1, (0..<partitions).contains(partition) else {
            throw .exhausted(capacity: 0)
        }
        let span = (limit - reservedIDs) / UInt64(partitions)
        guard span > 0 else { throw .exhausted(capacity: 0) }
        let first = reservedIDs + span * UInt64(partition)
        self.upstreamPrefix = upstreamPrefix
        self.localLength = localLength
        self.totalLength = totalLength
        self.reservedIDs = reservedIDs
        self.idLimit = partition == partitions - 1 ? limit : first + span
        self.firstID = first
        self.nextFresh = first
    }

    /// Length of the prefixes handed out.
    public var prefixLength: Int { upstreamPrefix.count + localLength }

    /// Extranonce bytes left for the channel to roll (`extranonce_size` of an extended channel).
    public var rollableLength: Int { totalLength - prefixLength }

    /// How many prefixes can be allocated at the same time.
    public var capacity: UInt64 { idLimit - firstID }

    /// Number of prefixes currently allocated.
    public var allocatedCount: Int { allocated.count }

    /// Allocates a prefix no other open channel holds.
    public mutating func allocate() throws(ExtranonceAllocatorError) -> Extranonce {
        let id: UInt64
        if nextFresh < idLimit, nextFresh >= firstID {
            id = nextFresh
            // Saturates at the limit; with 8-byte ids the limit is never reached in practice.
            nextFresh = nextFresh == idLimit - 1 ? idLimit : nextFresh + 1
        } else if freedHead < freed.count {
            id = freed[freedHead]
            freedHead += 1
            if freedHead > 1024, freedHead * 2 > freed.count {
                freed.removeFirst(freedHead)
                freedHead = 0
            }
        } else {
            throw .exhausted(capacity: capacity)
        }
        allocated.insert(id)
        return prefix(for: id)
    }

    /// Replaces the upstream prefix by one of the same length, keeping every allocation (their local ids stay):
    /// a Job Declaration client whose upstream channel was reopened with another prefix moves its channels along.
    public mutating func rebase(onto newPrefix: Extranonce) throws(ExtranonceAllocatorError) {
        guard newPrefix.count == upstreamPrefix.count else {
            throw .invalidLayout(upstreamLength: newPrefix.count, localLength: localLength, totalLength: totalLength)
        }
        upstreamPrefix = newPrefix
    }

    /// Returns `prefix` to the pool (on channel close). Throws if it was not allocated here.
    public mutating func release(_ prefix: Extranonce) throws(ExtranonceAllocatorError) {
        guard let id = localID(of: prefix), allocated.remove(id) != nil else { throw .notAllocated(prefix) }
        freed.append(id)
    }

    /// True when `prefix` is currently allocated by this allocator.
    public func isAllocated(_ prefix: Extranonce) -> Bool {
        localID(of: prefix).map { allocated.contains($0) } ?? false
    }

    private func prefix(for id: UInt64) -> Extranonce {
        let local = (0..<localLength).map { UInt8(truncatingIfNeeded: id >> UInt64(8 * (localLength - 1 - $0))) }
        return upstreamPrefix.appending(Extranonce(bytes: local)!)!
    }

    private func localID(of prefix: Extranonce) -> UInt64? {
        guard prefix.count == prefixLength, upstreamPrefix.isPrefix(of: prefix) else { return nil }
        return prefix.bytes.suffix(localLength).reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// Why an extranonce prefix could not be allocated or released.
public enum ExtranonceAllocatorError: Error, Hashable, Sendable {
    /// Upstream prefix + local bytes exceed the total length, the total exceeds 32, or local length is not 1…8.
    case invalidLayout(upstreamLength: Int, localLength: Int, totalLength: Int)
    /// All `capacity` prefixes are allocated.
    case exhausted(capacity: UInt64)
    /// The prefix was not allocated by this allocator (or was already released).
    case notAllocated(Extranonce)
}

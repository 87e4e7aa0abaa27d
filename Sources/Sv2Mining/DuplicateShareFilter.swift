public import Sv2Bitcoin

/// A bounded set of share fingerprints for duplicate detection, with no allocation in steady state.
///
/// The fingerprint is the first 8 bytes of the share's header hash: identical shares hash identically, and two
/// different shares collide with probability ~n/2^64. Open addressing with linear probing over a power-of-two
/// table that doubles (allocating) only while warming up to `maximumCapacity`. The filter never forgets on its
/// own: a filter that forgot could be replayed for credit. Once ``isFull`` its owner must end the lifetime of
/// everything the filter covers (``ShareValidator`` retires the channel's jobs and raises its `ntime` floor, so no
/// earlier header can be submitted again) and only then call ``removeAll()``. ``removeAll()`` keeps the storage,
/// so a channel's table is reused across chain tips.
public struct DuplicateShareFilter: Sendable {
    private var slots: [UInt64]
    private var count = 0
    /// The largest table size (slots) the filter grows to.
    public let maximumCapacity: Int

    /// Creates a filter starting at `initialCapacity` slots and growing to at most `maximumCapacity`
    /// (both rounded up to powers of two).
    public init(initialCapacity: Int = 64, maximumCapacity: Int = 1 << 16) {
        let maximum = Self.powerOfTwo(atLeast: Swift.max(maximumCapacity, 8))
        self.maximumCapacity = maximum
        slots = [UInt64](repeating: 0, count: Swift.min(Self.powerOfTwo(atLeast: Swift.max(initialCapacity, 8)), maximum))
    }

    /// Number of fingerprints held.
    public var storedCount: Int { count }

    /// Fingerprints the filter holds at most before ``isFull`` (3/4 of ``maximumCapacity``).
    public var limit: Int { maximumCapacity / 4 * 3 }

    /// True once the filter holds ``limit`` fingerprints: the owner must end the lifetime of the shares it covers
    /// and call ``removeAll()`` before inserting more.
    public var isFull: Bool { count >= limit }

    /// Inserts the fingerprint of `hash`; returns `false` if it was already present (a duplicate).
    ///
    /// Inserting into a full filter still records the share (the table grows past ``maximumCapacity``): answering
    /// "new" for a share the filter cannot remember would let it be credited twice. ``ShareValidator`` never lets
    /// it come to that.
    @inlinable public mutating func insert(_ hash: Hash256) -> Bool {
        insert(fingerprint: hash.w0)
    }

    @usableFromInline mutating func insert(fingerprint raw: UInt64) -> Bool {
        let fingerprint = raw == 0 ? 1 : raw // 0 marks an empty slot
        if contains(fingerprint) { return false }
        // Make room only for a genuinely new entry; keep the load factor at most 3/4 so probes stay short.
        if (count + 1) * 4 > slots.count * 3 { grow() }
        store(fingerprint)
        return true
    }

    /// Whether the fingerprint of `hash` is held (a share with this hash would be a duplicate).
    public func contains(_ hash: Hash256) -> Bool {
        contains(hash.w0 == 0 ? 1 : hash.w0)
    }

    private func contains(_ fingerprint: UInt64) -> Bool {
        let mask = slots.count - 1
        var index = Self.home(fingerprint, mask)
        return slots.withUnsafeBufferPointer { table in
            while true {
                let slot = table[index]
                if slot == fingerprint { return true }
                if slot == 0 { return false }
                index = (index + 1) & mask
            }
        }
    }

    private mutating func store(_ fingerprint: UInt64) {
        let mask = slots.count - 1
        var index = Self.home(fingerprint, mask)
        slots.withUnsafeMutableBufferPointer { table in
            while table[index] != 0 { index = (index + 1) & mask }
            table[index] = fingerprint
        }
        count += 1
    }

    private static func home(_ fingerprint: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: fingerprint >> 7 ^ fingerprint) & mask
    }

    /// Forgets every fingerprint (e.g. on a new chain tip) while keeping the storage.
    public mutating func removeAll() {
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        count = 0
        for fingerprint in old where fingerprint != 0 { store(fingerprint) }
    }

    private static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }
}

/// A bounded set of share fingerprints for duplicate detection, with no allocation in steady state.
///
/// The fingerprint is the first 8 bytes of the share's header hash: identical shares hash identically, and two
/// different shares collide with probability ~n/2^64. Open addressing with linear probing over a power-of-two
/// table that doubles (allocating) only while warming up to `maximumCapacity`; at that size, once 3/4 full it is
/// cleared (losing older entries) instead of growing. ``removeAll()`` keeps the storage, so a channel's table
/// is reused across chain tips.
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

    /// Inserts the fingerprint of `hash`; returns `false` if it was already present (a duplicate).
    @inlinable public mutating func insert(_ hash: Hash256) -> Bool {
        insert(fingerprint: hash.w0)
    }

    @usableFromInline mutating func insert(fingerprint raw: UInt64) -> Bool {
        let fingerprint = raw == 0 ? 1 : raw // 0 marks an empty slot
        if contains(fingerprint) { return false }
        // Make room only for a genuinely new entry, so a full table still reports duplicates.
        if (count + 1) * 4 > slots.count * 3 {
            if slots.count < maximumCapacity { grow() } else { removeAll() }
        }
        store(fingerprint)
        return true
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

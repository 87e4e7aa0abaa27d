import CCrypto
public import Sv2Bitcoin

/// A bounded set of share fingerprints for duplicate detection, with no allocation in steady state.
///
/// Open addressing with linear probing over a power-of-two table of 8-byte entries that doubles (allocating) only
/// while warming up to `maximumCapacity`. The table is large and its slots are hit at random, so a lookup is
/// usually a cache miss: that miss, not any computation, was the filter's whole cost in profiles. So a share's slot
/// is chosen from its ``Key`` — a seeded mix of the share's own fields (`nonce`, `ntime`, `version`, extranonce),
/// known before its header is hashed — and ``prefetch(_:)`` starts loading that slot while the header hashes.
///
/// Each entry packs the low bits of the key (enough to find the slot again when the table grows) with the high
/// bits of a mix of the header hash's first two words (the fingerprint: 64 − log2(`maximumCapacity`) bits, 48 with the default
/// 2^16 slots, 38 with the largest, 2^26). Identical
/// shares have identical keys and hashes, so a resubmission always meets its first entry. Two different shares
/// are taken for duplicates only when they share a probe chain and both the key bits and the fingerprint bits:
/// chance ~2^-48 per share with the default size. The key is seeded at random per filter, so no miner can aim its shares at one
/// probe chain; fields other than the header's (the job id) are left out, so the same header submitted under two
/// jobs still collides.
///
/// The filter never forgets on its own: a filter that forgot could be replayed for credit. Once ``isFull`` its
/// owner must end the lifetime of everything the filter covers (``ShareValidator`` retires the channel's jobs and
/// raises its `ntime` floor, so no earlier header can be submitted again) and only then call ``removeAll()``.
/// ``removeAll()`` keeps the storage, so a channel's table is reused across chain tips.
public struct DuplicateShareFilter: Sendable {
    /// Where a share's entry lives: a seeded mix of the share's header fields (see ``key(for:)-(Share)``).
    public struct Key: Sendable, Equatable {
        let bits: UInt64
    }

    private var slots: [UInt64]
    // slots.count - 1, kept inline so finding a slot never waits on the array's (possibly cold) header.
    private var mask: Int
    private var count = 0
    // Entry bits that hold the key (the largest table's index bits); the rest hold the fingerprint.
    private let keyMask: UInt64
    private let seed: UInt64
    /// The largest table size (slots) the filter grows to.
    public let maximumCapacity: Int

    /// Creates a filter starting at `initialCapacity` slots and growing to at most `maximumCapacity`
    /// (both rounded up to powers of two; `maximumCapacity` at most 2^26).
    public init(initialCapacity: Int = 64, maximumCapacity: Int = 1 << 16) {
        let maximum = Self.powerOfTwo(atLeast: Swift.min(Swift.max(maximumCapacity, 8), 1 << 26))
        self.maximumCapacity = maximum
        let initial = Swift.min(Self.powerOfTwo(atLeast: Swift.max(initialCapacity, 8)), maximum)
        slots = [UInt64](repeating: 0, count: initial)
        mask = initial - 1
        keyMask = UInt64(maximum - 1)
        seed = UInt64.random(in: .min ... .max) | 1
    }

    /// Number of fingerprints held.
    public var storedCount: Int { count }

    /// Fingerprints the filter holds at most before ``isFull`` (3/4 of ``maximumCapacity``).
    public var limit: Int { maximumCapacity / 4 * 3 }

    /// True once the filter holds ``limit`` fingerprints: the owner must end the lifetime of the shares it covers
    /// and call ``removeAll()`` before inserting more.
    public var isFull: Bool { count >= limit }

    /// The key of `share`: its nonce, ntime, version and extranonce mixed with this filter's seed (not its job id:
    /// one header is one share whatever job it names). Cheap: a few multiplies, no hashing of variable data.
    public func key(for share: Share) -> Key {
        var bits = seed ^ (UInt64(share.nonce) | UInt64(share.ntime) << 32)
        bits = Self.mix(bits) ^ UInt64(share.version)
        let extranonce = share.extranonce.storage
        if share.extranonce.count > 0 {
            bits = Self.mix(bits ^ extranonce.w0) ^ extranonce.w1
            bits = Self.mix(bits) ^ extranonce.w2
            bits = Self.mix(bits) ^ extranonce.w3
        }
        return Key(bits: Self.mix(bits))
    }

    /// The key of a bare header hash, for owners that have nothing else (use one kind of key per filter).
    public func key(for hash: Hash256) -> Key { Key(bits: Self.mix(seed ^ hash.w1)) }

    /// A 64-bit finaliser (xor-shift-multiply, as in SplitMix64): every input bit moves every output bit.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xbf58_476d_1ce4_e5b9
        z = (z ^ (z >> 27)) &* 0x94d0_49bb_1331_11eb
        return z ^ (z >> 31)
    }

    /// Starts loading the slot `key` probes first, so that a following ``insert(_:key:)`` finds it in cache.
    public func prefetch(_ key: Key) {
        let index = home(key.bits)
        slots.withUnsafeBufferPointer { cshims_prefetch_for_write($0.baseAddress! + index) }
    }

    /// Inserts the share with header hash `hash` and key `key` (from ``key(for:)-(Share)``); returns `false` if it was
    /// already present (a duplicate).
    ///
    /// Inserting into a full filter still records the share (the table grows past ``maximumCapacity``): answering
    /// "new" for a share the filter cannot remember would let it be credited twice. ``ShareValidator`` never lets
    /// it come to that.
    public mutating func insert(_ hash: Hash256, key: Key) -> Bool {
        let entry = entry(hash, key)
        if contains(entry: entry, from: key) { return false }
        // Make room only for a genuinely new entry; keep the load factor at most 3/4 so probes stay short.
        if (count + 1) * 4 > slots.count * 3 { grow() }
        store(entry, from: key.bits)
        return true
    }

    /// Whether the share with header hash `hash` and key `key` is held (a resubmission would be a duplicate).
    public func contains(_ hash: Hash256, key: Key) -> Bool {
        contains(entry: entry(hash, key), from: key)
    }

    /// Inserts a bare header hash (keyed by ``key(for:)-(Hash256)`` of the hash); `false` if it was already present.
    public mutating func insert(_ hash: Hash256) -> Bool { insert(hash, key: key(for: hash)) }

    /// Whether a bare header hash is held (see ``insert(_:)``).
    public func contains(_ hash: Hash256) -> Bool { contains(hash, key: key(for: hash)) }

    private func entry(_ hash: Hash256, _ key: Key) -> UInt64 {
        // Mixed first, so hashes that differ only in the bits the key takes over still get different entries.
        let fingerprint = Self.mix(hash.w0 ^ (hash.w1 &* 0x9e37_79b9_7f4a_7c15))
        let packed = (fingerprint & ~keyMask) | (key.bits & keyMask)
        return packed == 0 ? ~keyMask : packed // 0 marks an empty slot; the key bits (0) stay as they were
    }

    private func contains(entry: UInt64, from key: Key) -> Bool {
        let mask = self.mask
        var index = home(key.bits)
        return slots.withUnsafeBufferPointer { table in
            while true {
                let slot = table[index]
                if slot == entry { return true }
                if slot == 0 { return false }
                index = (index + 1) & mask
            }
        }
    }

    // `home`: bits whose low part (below `keyMask`) is the entry's key; the table index is taken from them.
    private mutating func store(_ entry: UInt64, from home: UInt64) {
        let mask = self.mask
        var index = self.home(home)
        slots.withUnsafeMutableBufferPointer { table in
            while table[index] != 0 { index = (index + 1) & mask }
            table[index] = entry
        }
        count += 1
    }

    /// The first slot probed for key bits `bits`: only the bits every entry keeps (`keyMask`) count, so an entry's
    /// slot can be found again from the entry alone when the table grows.
    private func home(_ bits: UInt64) -> Int { Int(truncatingIfNeeded: bits & keyMask) & mask }

    /// Forgets every fingerprint (e.g. on a new chain tip) while keeping the storage.
    public mutating func removeAll() {
        slots.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        count = 0
    }

    private mutating func grow() {
        let old = slots
        slots = [UInt64](repeating: 0, count: old.count * 2)
        mask = slots.count - 1
        count = 0
        for entry in old where entry != 0 { store(entry, from: entry & keyMask) }
    }

    private static func powerOfTwo(atLeast value: Int) -> Int {
        value <= 1 ? 1 : 1 << (Int.bitWidth - (value - 1).leadingZeroBitCount)
    }
}

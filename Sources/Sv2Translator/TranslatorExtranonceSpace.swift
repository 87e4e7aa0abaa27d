import Sv2Mining

/// How one upstream channel's extranonce space (prefix `P`, `S` rollable bytes) is handed to the devices mining on
/// it; the one place where the channel modes differ in extranonce arithmetic.
///
/// - `shared` (aggregated mode): device `i` gets `extranonce1 = P ‖ id(i) ‖ zero padding` from an allocator over
///   `P`, and its shares go upstream with extranonce `id(i) ‖ padding ‖ extranonce2`.
/// - `whole` (per-device mode): the channel's one device gets `extranonce1 = P ‖ zero padding`, and its shares go
///   upstream with extranonce `padding ‖ extranonce2`.
///
/// Either way the device rolls `extranonce2Size ≤ S` bytes (at most the configured `extranonce2Size`, which Sv1
/// firmware handles), and the pool rebuilds exactly the coinbase the device hashed.
enum TranslatorExtranonceSpace {
    case shared(ExtranonceAllocator, extranonce2Size: Int, padding: Int)
    case whole(prefix: Extranonce, extranonce2Size: Int, padding: Int, taken: Bool)

    /// What one device gets.
    struct Assignment {
        /// The device's `extranonce1` (the channel prefix first).
        let extranonce1: Extranonce
        /// The part of `extranonce1` after the channel prefix: the start of every share's upstream extranonce.
        let upstreamPrefix: [UInt8]
        /// Bytes the device rolls.
        let extranonce2Size: Int
        /// What to give back on leaving (the allocator's prefix; `nil` for a whole channel).
        let allocated: Extranonce?
    }

    /// The aggregated layout of `tracker`'s space under the prefix of its active job
    /// (``MinerJobTracker/activeExtranoncePrefix``): `deviceIDLength` bytes number the devices (fewer if the space is
    /// small), devices roll up to `extranonce2Size` of the rest.
    static func shared(
        _ tracker: MinerJobTracker, deviceIDLength: Int, extranonce2Size: Int
    ) throws(TranslatorExtranonceSpaceError) -> TranslatorExtranonceSpace {
        let prefix = tracker.activeExtranoncePrefix
        let size = tracker.extranonceSize
        guard size >= 2 else { throw .tooSmall(size: size, needed: 2) }
        let idLength = Swift.min(deviceIDLength, size - 1)
        let allocator: ExtranonceAllocator
        do {
            allocator = try ExtranonceAllocator(
                upstreamPrefix: prefix, localLength: idLength, totalLength: prefix.count + idLength)
        } catch {
            throw .layout("\(error)")
        }
        let rolled = Swift.min(extranonce2Size, size - idLength)
        return .shared(allocator, extranonce2Size: rolled, padding: size - idLength - rolled)
    }

    /// The per-device layout of `tracker`'s space under the prefix of its active job: the device rolls up to
    /// `extranonce2Size` bytes of it.
    static func whole(
        _ tracker: MinerJobTracker, extranonce2Size: Int
    ) throws(TranslatorExtranonceSpaceError) -> TranslatorExtranonceSpace {
        let size = tracker.extranonceSize
        guard size >= 1 else { throw .tooSmall(size: size, needed: 1) }
        let rolled = Swift.min(extranonce2Size, size)
        return .whole(
            prefix: tracker.activeExtranoncePrefix, extranonce2Size: rolled, padding: size - rolled, taken: false)
    }

    /// The same layout under the prefix of `tracker`'s active job, a new prefix of the channel (a job sent after a
    /// `SetExtranoncePrefix` became active): every assignment is void.
    func rebuilt(for tracker: MinerJobTracker) throws(TranslatorExtranonceSpaceError) -> TranslatorExtranonceSpace {
        switch self {
        case .shared(let allocator, let rolled, _):
            return try .shared(tracker, deviceIDLength: allocator.localLength, extranonce2Size: rolled)
        case .whole(_, let rolled, _, _):
            return try .whole(tracker, extranonce2Size: rolled)
        }
    }

    /// The channel prefix every device's `extranonce1` starts with.
    var prefix: Extranonce {
        switch self {
        case .shared(let allocator, _, _): allocator.upstreamPrefix
        case .whole(let prefix, _, _, _): prefix
        }
    }

    /// Bytes each device rolls.
    var extranonce2Size: Int {
        switch self {
        case .shared(_, let rolled, _), .whole(_, let rolled, _, _): rolled
        }
    }

    /// Hands out a device's extranonce; `nil` when the space is exhausted.
    mutating func assign() -> Assignment? {
        switch self {
        case .shared(var allocator, let rolled, let padding):
            guard let allocated = try? allocator.allocate(),
                  let extranonce1 = allocated.appending(Extranonce(bytes: [UInt8](repeating: 0, count: padding))!)
            else { return nil }
            self = .shared(allocator, extranonce2Size: rolled, padding: padding)
            return Assignment(
                extranonce1: extranonce1, upstreamPrefix: Array(extranonce1.bytes.dropFirst(allocator.upstreamPrefix.count)),
                extranonce2Size: rolled, allocated: allocated)
        case .whole(let prefix, let rolled, let padding, let taken):
            guard !taken, let extranonce1 = prefix.appending(Extranonce(bytes: [UInt8](repeating: 0, count: padding))!)
            else { return nil }
            self = .whole(prefix: prefix, extranonce2Size: rolled, padding: padding, taken: true)
            return Assignment(
                extranonce1: extranonce1, upstreamPrefix: [UInt8](repeating: 0, count: padding), extranonce2Size: rolled,
                allocated: nil)
        }
    }

    /// Gives back what `assign()` handed out (`allocated` of its assignment).
    mutating func release(_ allocated: Extranonce?) {
        switch self {
        case .shared(var allocator, let rolled, let padding):
            guard let allocated else { return }
            try? allocator.release(allocated)
            self = .shared(allocator, extranonce2Size: rolled, padding: padding)
        case .whole(let prefix, let rolled, let padding, _):
            self = .whole(prefix: prefix, extranonce2Size: rolled, padding: padding, taken: false)
        }
    }
}

/// Why an upstream channel's extranonce space cannot host devices.
enum TranslatorExtranonceSpaceError: Error, CustomStringConvertible {
    /// The channel lets the downstream roll fewer bytes than the layout needs.
    case tooSmall(size: Int, needed: Int)
    /// The allocator refused the layout.
    case layout(String)

    var description: String {
        switch self {
        case .tooSmall(let size, let needed): "upstream extranonce size \(size): at least \(needed) needed for devices"
        case .layout(let detail): detail
        }
    }
}

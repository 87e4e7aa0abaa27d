public import Sv2Bitcoin

/// Per-channel variable difficulty: retargets a channel so it submits about the configured shares per minute.
///
/// Time is injected (`now`, monotonic seconds from any fixed origin), so the controller is deterministic and
/// testable. Every `window` seconds the observed share count is compared with the expected count; when the
/// difference is larger than Poisson noise explains, the target is scaled by `expected / observed`, bounded to
/// one `maxStep` factor per update and to `[minimumTarget, maximumTarget]`.
public struct Vardiff: Sendable {
    /// Tuning of a ``Vardiff`` controller.
    public struct Configuration: Sendable, Hashable {
        /// Desired average shares per minute.
        public var sharesPerMinute: Double
        /// Seconds between retarget decisions.
        public var window: Double
        /// Largest factor the target may change by in one update (4 ⇒ ×4 … ÷4).
        public var maxStep: Double
        /// Relative deviation always tolerated (on top of the Poisson allowance) before retargeting.
        public var tolerance: Double
        /// Hardest target handed out (protects the server's share-validation budget).
        public var minimumTarget: Target
        /// Easiest target handed out (at most the channel's `max_target`).
        public var maximumTarget: Target

        /// Creates a configuration; the defaults suit a pool aiming at 10 shares a minute.
        public init(
            sharesPerMinute: Double = 10, window: Double = 60, maxStep: Double = 4, tolerance: Double = 0.2,
            minimumTarget: Target = Target(.zero), maximumTarget: Target = .max
        ) {
            self.sharesPerMinute = sharesPerMinute
            self.window = window
            self.maxStep = maxStep
            self.tolerance = tolerance
            self.minimumTarget = minimumTarget
            self.maximumTarget = maximumTarget
        }
    }

    /// The tuning in use.
    public let configuration: Configuration
    /// The channel's current target.
    public private(set) var target: Target
    /// Shares counted in the current window.
    public private(set) var sharesInWindow: UInt64 = 0
    /// When the current window started.
    public private(set) var windowStart: Double
    /// Hashrate estimated at the last update (H/s), or the nominal one before any.
    public private(set) var estimatedHashrate: Double

    /// Starts with the target that makes a miner of `nominalHashrate` H/s hit the configured rate.
    public init(configuration: Configuration, nominalHashrate: Double, now: Double) {
        let initial = Target(hashrate: Swift.max(nominalHashrate, 0), sharesPerMinute: configuration.sharesPerMinute)
        self.init(configuration: configuration, initialTarget: initial ?? configuration.maximumTarget, now: now)
        estimatedHashrate = nominalHashrate
    }

    /// Starts with `initialTarget` (clamped to the configured bounds).
    public init(configuration: Configuration, initialTarget: Target, now: Double) {
        self.configuration = configuration
        self.target = Swift.min(Swift.max(initialTarget, configuration.minimumTarget), configuration.maximumTarget)
        self.windowStart = now
        self.estimatedHashrate = target.hashrate(sharesPerMinute: configuration.sharesPerMinute)
    }

    /// Counts one accepted share at the current target.
    public mutating func recordShare() { sharesInWindow &+= 1 }

    /// Counts `count` accepted shares at the current target.
    public mutating func recordShares(_ count: UInt64) { sharesInWindow &+= count }

    /// Ends the window if it is over and returns the new target when it changed, `nil` otherwise.
    public mutating func update(now: Double) -> Target? {
        let elapsed = now - windowStart
        guard elapsed >= configuration.window, elapsed > 0 else { return nil }
        let observed = Double(sharesInWindow)
        let expected = configuration.sharesPerMinute * elapsed / 60
        estimatedHashrate = observed * target.expectedHashesPerShare / elapsed
        sharesInWindow = 0
        windowStart = now

        // Poisson: a window with `expected` shares has standard deviation √expected; allow ~2σ.
        let allowance = Swift.max(configuration.tolerance * expected, 2 * expected.squareRoot())
        guard abs(observed - expected) > allowance else { return nil }

        let step = configuration.maxStep
        let factor = observed == 0 ? step : Swift.min(Swift.max(expected / observed, 1 / step), step)
        guard let scaled = UInt256(truncating: target.value.doubleValue * factor) else { return nil }
        let next = Swift.min(Swift.max(Target(scaled), configuration.minimumTarget), configuration.maximumTarget)
        guard next != target else { return nil }
        target = next
        return next
    }

    /// Replaces the target (e.g. after UpdateChannel lowered `maximum_target`) and restarts the window.
    public mutating func reset(target newTarget: Target, now: Double) {
        target = Swift.min(Swift.max(newTarget, configuration.minimumTarget), configuration.maximumTarget)
        sharesInWindow = 0
        windowStart = now
    }
}

public import Histogram

/// Percentiles of share-acknowledgement latency, in microseconds.
public struct LatencySummary: Codable, Sendable, Equatable {
    /// Samples recorded.
    public var count: UInt64
    /// Median.
    public var p50: UInt64
    /// 90th percentile.
    public var p90: UInt64
    /// 99th percentile.
    public var p99: UInt64
    /// 99.9th percentile.
    public var p999: UInt64
    /// Largest sample.
    public var max: UInt64
    /// Arithmetic mean.
    public var mean: Double

    /// Summarises `histogram` (values in microseconds); all zero when it is empty.
    public init(_ histogram: Histogram<UInt64>) {
        count = histogram.totalCount
        guard count > 0 else {
            p50 = 0; p90 = 0; p99 = 0; p999 = 0; max = 0; mean = 0
            return
        }
        p50 = histogram.valueAtPercentile(50)
        p90 = histogram.valueAtPercentile(90)
        p99 = histogram.valueAtPercentile(99)
        p999 = histogram.valueAtPercentile(99.9)
        max = histogram.max
        mean = histogram.mean
    }

    /// A latency histogram as the load test keeps them: 1 µs to 60 s, three significant digits.
    public static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
    }

    /// `"p50 123µs p99 4.5ms"`-style text for one value.
    public static func format(microseconds value: UInt64) -> String {
        if value < 1_000 { return "\(value)µs" }
        if value < 1_000_000 { return formatFixed(Double(value) / 1_000, digits: 2) + "ms" }
        return formatFixed(Double(value) / 1_000_000, digits: 2) + "s"
    }

    static func formatFixed(_ value: Double, digits: Int) -> String {
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        var text = "\(rounded)"
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }
}

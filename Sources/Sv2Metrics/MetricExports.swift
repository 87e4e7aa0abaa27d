import CoreMetrics

/// A swift-metrics counter fed from a monotonic value read at export time (increments by the difference).
struct DeltaCounter {
    let counter: Counter
    private var last: UInt64 = 0

    init(_ label: String, _ dimensions: [(String, String)]) {
        counter = Counter(label: label, dimensions: dimensions)
    }

    mutating func update(_ value: UInt64) {
        if value > last { counter.increment(by: Int64(clamping: value - last)) }
        last = value
    }

    mutating func update(_ value: Int) { update(UInt64(clamping: value)) }
}

/// A floating-point counter fed from a monotonic sum read at export time.
struct DeltaFloatCounter {
    let counter: FloatingPointCounter
    private var last = 0.0

    init(_ label: String, _ dimensions: [(String, String)]) {
        counter = FloatingPointCounter(label: label, dimensions: dimensions)
    }

    mutating func update(_ value: Double) {
        if value > last { counter.increment(by: value - last) }
        last = value
    }
}

/// A gauge (a non-aggregating recorder) set at export time.
struct GaugeExport {
    let gauge: Gauge

    init(_ label: String, _ dimensions: [(String, String)]) { gauge = Gauge(label: label, dimensions: dimensions) }

    func set(_ value: Double) { gauge.record(value) }
    func set(_ value: Int) { gauge.record(Int64(value)) }
}

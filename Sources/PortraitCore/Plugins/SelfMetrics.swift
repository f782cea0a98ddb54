import Synchronization

/// A metric family a plugin contributes to the exporter's own metrics (e.g. JSONL records written).
public struct SelfMetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge }

    /// Full metric name, e.g. `wechat_portrait_jsonl_records_total`.
    public var name: String
    public var help: String
    public var kind: Kind
    /// Label pairs and values; label names must be valid Prometheus label names.
    public var samples: [(labels: [(String, String)], value: Double)]

    public init(name: String, help: String, kind: Kind, samples: [(labels: [(String, String)], value: Double)]) {
        self.name = name
        self.help = help
        self.kind = kind
        self.samples = samples
    }
}

/// Collects self-metric providers from plugins; the Prometheus plugin renders them on each scrape.
/// Providers must be cheap (they read a few atomics).
public final class SelfMetricsRegistry: Sendable {
    private let providers = Mutex<[@Sendable () -> [SelfMetricFamily]]>([])

    public init() {}

    public func register(_ provider: @escaping @Sendable () -> [SelfMetricFamily]) {
        providers.withLock { $0.append(provider) }
    }

    /// All families from all providers, in registration order.
    public func collect() -> [SelfMetricFamily] {
        let list = providers.withLock { $0 }
        return list.flatMap { $0() }
    }
}

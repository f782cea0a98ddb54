import PortraitCore

/// encode: JSONL records/s and StatsD lines/s (with datagram packing).
enum EncodeBench {
    /// Why there are no encode rows, or nil when there are.
    static let unavailable: String? =
        "not yet available: the JSONL and StatsD encoders (modules PortraitJSONL, PortraitStatsD) have not landed on main"

    static func run(_ workload: Workload, state: PortraitState) -> [BenchReport.EncodeRow] { [] }
}

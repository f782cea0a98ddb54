import PortraitCore
import Synchronization

/// The plugin's counters, read by the self-metrics provider (atomics: a scrape never waits for
/// the writer).
final class JSONLMetrics: Sendable {
    /// Lines written to the output (a line written again after a connection failure counts again).
    let records = Atomic<UInt64>(0)
    /// Bytes of those lines, newlines included.
    let bytes = Atomic<UInt64>(0)
    /// Failed attempts to open, connect or write.
    let writeErrors = Atomic<UInt64>(0)
    /// Records dropped because the queue was full (the oldest go first).
    let dropped = Atomic<UInt64>(0)
    /// 1 while a TCP connection is up.
    let connected = Atomic<Int>(0)

    /// Metric names, as rendered by the Prometheus plugin.
    enum Name {
        static let records = "wechat_portrait_jsonl_records_total"
        static let bytes = "wechat_portrait_jsonl_bytes_total"
        static let writeErrors = "wechat_portrait_jsonl_write_errors_total"
        static let dropped = "wechat_portrait_jsonl_dropped_records_total"
        static let queue = "wechat_portrait_jsonl_queue_records"
        static let connected = "wechat_portrait_jsonl_connected"
    }

    /// The families for the exporter `name`; `connected` only for connection-oriented outputs.
    func families(exporter name: String, queued: Int, connectionOriented: Bool) -> [SelfMetricFamily] {
        let labels = [("exporter", name)]
        func one(_ value: Double) -> [(labels: [(String, String)], value: Double)] { [(labels, value)] }
        var families = [
            SelfMetricFamily(name: Name.records, help: "JSON lines written by the JSONL exporter (lines resent after a connection failure count again).",
                             kind: .counter, samples: one(Double(records.load(ordering: .relaxed)))),
            SelfMetricFamily(name: Name.bytes, help: "Bytes of JSON lines written by the JSONL exporter, newlines included.",
                             kind: .counter, samples: one(Double(bytes.load(ordering: .relaxed)))),
            SelfMetricFamily(name: Name.writeErrors, help: "Failed attempts of the JSONL exporter to open, connect to or write its output.",
                             kind: .counter, samples: one(Double(writeErrors.load(ordering: .relaxed)))),
            SelfMetricFamily(name: Name.dropped, help: "JSON lines dropped because the JSONL exporter's queue was full (oldest first).",
                             kind: .counter, samples: one(Double(dropped.load(ordering: .relaxed)))),
            SelfMetricFamily(name: Name.queue, help: "JSON lines waiting in the JSONL exporter's queue.",
                             kind: .gauge, samples: one(Double(queued))),
        ]
        if connectionOriented {
            families.append(SelfMetricFamily(name: Name.connected, help: "Whether the JSONL exporter's TCP connection is up (1) or not (0).",
                                             kind: .gauge, samples: one(Double(connected.load(ordering: .relaxed)))))
        }
        return families
    }
}

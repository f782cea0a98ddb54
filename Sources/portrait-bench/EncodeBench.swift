import PortraitCore
import PortraitJSONL
import PortraitStatsD

/// encode: JSONL records/s (bucket records plus one summary record per snapshot) and StatsD
/// lines/s in the default dialect, encoding alone (`statsd-lines`) and with datagram packing into
/// 1,432-byte payloads (`statsd`) — the work the JSONL and StatsD plugins do per published state.
enum EncodeBench {
    /// Why there are no encode rows, or nil when there are.
    static let unavailable: String? = nil

    static func run(_ workload: Workload, state: PortraitState) -> [BenchReport.EncodeRow] {
        let label = sizeLabel(workload.target)
        let snapshots = state.orderedSnapshots
        var rows: [BenchReport.EncodeRow] = []

        let records = RecordEncoder()
        var jsonl: [UInt8] = []
        let jsonlTiming = Measure.time {
            jsonl.removeAll(keepingCapacity: true)
            for snapshot in snapshots { records.encode(snapshot, into: &jsonl) }
        }
        let recordCount = jsonl.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
        rows.append(.init(size: label, format: "jsonl", items: recordCount,
                          itemsPerSecond: Double(recordCount) / (jsonlTiming.medianMs / 1000), bytes: jsonl.count,
                          datagrams: nil, timing: jsonlTiming))

        let encoder = StatsDLineEncoder()
        var encodedLines = 0
        let encodeOnly = Measure.time {
            encodedLines = encoder.encode(state).reduce(0) { $0 + $1.lines.count }
        }
        rows.append(.init(size: label, format: "statsd-lines", items: encodedLines,
                          itemsPerSecond: Double(encodedLines) / (encodeOnly.medianMs / 1000), bytes: 0,
                          datagrams: nil, timing: encodeOnly))
        let packer = DatagramPacker()
        var lineCount = 0, datagramCount = 0, byteCount = 0
        let statsdTiming = Measure.time {
            lineCount = 0
            datagramCount = 0
            byteCount = 0
            for encoded in encoder.encode(state) {
                let packed = packer.pack(encoded.lines)
                lineCount += encoded.lines.count
                datagramCount += packed.datagrams.count
                byteCount += packed.datagrams.reduce(0) { $0 + $1.bytes.count }
            }
        }
        rows.append(.init(size: label, format: "statsd", items: lineCount,
                          itemsPerSecond: Double(lineCount) / (statsdTiming.medianMs / 1000), bytes: byteCount,
                          datagrams: datagramCount, timing: statsdTiming))
        return rows
    }
}

import PortraitCore

extension StatsDPlugin {
    /// The plugin's self-metric families, each with one sample labelled `exporter`.
    static func selfMetrics(_ values: StatsDStatistics, exporter: String) -> [SelfMetricFamily] {
        func family(_ name: String, _ kind: SelfMetricFamily.Kind, _ help: String, _ value: UInt64) -> SelfMetricFamily {
            SelfMetricFamily(name: name, help: help, kind: kind, samples: [(labels: [("exporter", exporter)], value: Double(value))])
        }
        return [
            family("wechat_portrait_statsd_packets_total", .counter, "UDP datagrams sent to the StatsD target.", values.packets),
            family("wechat_portrait_statsd_lines_total", .counter, "Gauge lines in the datagrams sent.", values.lines),
            family("wechat_portrait_statsd_bytes_total", .counter, "Payload bytes of the datagrams sent (without IP and UDP headers).", values.bytes),
            family("wechat_portrait_statsd_send_errors_total", .counter,
                   "Failed sends: send errors (ECONNREFUSED reports an earlier datagram's rejection) and datagrams not sent for want of an address or socket.",
                   values.sendErrors),
            family("wechat_portrait_statsd_dropped_lines_total", .counter, "Lines longer than max_packet_bytes, never sent.", values.droppedLines),
            family("wechat_portrait_statsd_resolve_errors_total", .counter, "Failed resolutions of the StatsD host name.", values.resolveErrors),
            family("wechat_portrait_statsd_flushes_total", .counter, "Times the prepared datagrams were handed to the sender (each publish and resend).", values.flushes),
            family("wechat_portrait_statsd_superseded_flushes_total", .counter,
                   "Flushes replaced by a newer one before the sender got to them (the sender was busy, e.g. in a slow DNS lookup).",
                   values.supersededFlushes),
            family("wechat_portrait_statsd_prepared_packets", .gauge, "Datagrams prepared for the current state, sent on every flush.", values.preparedPackets),
            family("wechat_portrait_statsd_prepared_lines", .gauge, "Gauge lines prepared for the current state.", values.preparedLines),
        ]
    }
}

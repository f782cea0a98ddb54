import PortraitCore
import PortraitHTTP

extension ExpositionRenderer {
    /// Renders the HTTP server's counters (`wechat_portrait_http_*`).
    public mutating func renderHTTPStats(_ stats: HTTPServerStats) {
        family(MetricCatalog.httpRequests)
        for statusClass in 1...5 {
            sample(["code": Self.statusClassLabels[statusClass - 1]], UInt64(clamping: stats.responses(statusClass: statusClass)))
        }
        single(MetricCatalog.httpBadRequests, UInt64(clamping: stats.badRequests))
        single(MetricCatalog.httpConnections, UInt64(clamping: stats.connectionsAccepted))
        single(MetricCatalog.httpConnectionsRejected, UInt64(clamping: stats.connectionsRejected))
        single(MetricCatalog.httpConnectionsEvicted, UInt64(clamping: stats.connectionsEvicted))
        single(MetricCatalog.httpAcceptErrors, UInt64(clamping: stats.acceptErrors))
        single(MetricCatalog.httpOpenConnections, UInt64(clamping: stats.connectionsOpen))
        single(MetricCatalog.httpResponseBytes, UInt64(clamping: stats.bytesWritten))
        single(MetricCatalog.httpRequestBytes, UInt64(clamping: stats.bytesRead))
        family(MetricCatalog.httpTimeouts)
        sample(["kind": "header"], UInt64(clamping: stats.headerReadTimeouts))
        sample(["kind": "idle"], UInt64(clamping: stats.idleTimeouts))
    }

    private static let statusClassLabels = ["1xx", "2xx", "3xx", "4xx", "5xx"]

    /// Renders the standard `process_*` families; a metric whose value is unknown is left out.
    public mutating func renderProcess(_ metrics: ProcessMetrics) {
        if let value = metrics.startTimeSeconds {
            family(MetricCatalog.processStartTime)
            sample(timestampSeconds: value)
        }
        single(MetricCatalog.processCPU, metrics.cpuSeconds)
        single(MetricCatalog.processResident, metrics.residentBytes)
        single(MetricCatalog.processVirtual, metrics.virtualBytes)
        single(MetricCatalog.processOpenFDs, metrics.openFDs)
        single(MetricCatalog.processMaxFDs, metrics.maxFDs)
    }

    /// Writes a catalogued family with one unlabelled sample; nothing when `value` is unknown.
    private mutating func single(_ descriptor: MetricDescriptor, _ value: UInt64?) {
        guard let value else { return }
        family(descriptor)
        sample(value)
    }

    /// Writes a catalogued family with one unlabelled `Double` sample; nothing when `value` is unknown.
    private mutating func single(_ descriptor: MetricDescriptor, _ value: Double?) {
        guard let value else { return }
        family(descriptor)
        sample(value)
    }

    /// Renders families contributed by other plugins. Families of one name (several instances of
    /// a plugin, told apart by their `exporter` label) are merged into one, so their samples stay
    /// contiguous. A family is skipped when its name is not a valid metric name, is one of
    /// `MetricCatalog.reservedNames` or has another kind than the first of its name; a sample is
    /// skipped when a label name is invalid or repeated, or when its label set repeats an earlier
    /// sample's (no duplicate series).
    ///
    /// - Returns: the number of families skipped.
    @discardableResult
    public mutating func renderSelfMetrics(_ families: [SelfMetricFamily]) -> Int {
        // Families with one name from several providers (two `jsonl` exporters, each labelling its
        // samples with `exporter`) are merged into one family, in first-seen order; a name whose
        // kind disagrees with its first provider is skipped.
        var order: [String] = []
        var merged: [String: SelfMetricFamily] = [:]
        var skipped = 0
        for metric in families {
            guard Self.isValidMetricName(metric.name), !MetricCatalog.reservedNames.contains(metric.name) else {
                skipped += 1
                continue
            }
            if var existing = merged[metric.name] {
                guard existing.kind == metric.kind else {
                    skipped += 1
                    continue
                }
                existing.samples += metric.samples
                merged[metric.name] = existing
            } else {
                order.append(metric.name)
                merged[metric.name] = metric
            }
        }
        for name in order {
            guard let metric = merged[name] else { continue }
            family(metric.name, help: metric.help, type: metric.kind == .counter ? .counter : .gauge)
            var seenSeries = Set<[String]>()
            for entry in metric.samples {
                guard entry.labels.allSatisfy({ Self.isValidLabelName($0.0) }) else { continue }
                let sorted = entry.labels.sorted { $0.0 < $1.0 }
                guard zip(sorted, sorted.dropFirst()).allSatisfy({ $0.0 != $1.0 }) else { continue }
                // Prometheus treats an empty label value as an absent label.
                let identity = sorted.filter { !$0.1.isEmpty }.flatMap { [$0.0, $0.1] }
                guard seenSeries.insert(identity).inserted else { continue }
                sample(labels: entry.labels, entry.value)
            }
        }
        return skipped
    }
}

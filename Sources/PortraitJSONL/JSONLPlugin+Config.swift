import PortraitCore

extension JSONLPlugin {
    /// The config `type` of this plugin.
    public static let configType = "jsonl"
    /// Allowed `queue_max_records`.
    public static let queueMaxRecordsRange = 1...10_000_000
    /// Allowed `reconnect_max_seconds`.
    public static let reconnectMaxRange = 0.01...3_600.0
    /// Allowed `shutdown_timeout_seconds`.
    public static let shutdownTimeoutRange = 0.0...300.0

    /// Builds the plugin from an `exporters` entry with `type: "jsonl"` (keys: `Configuration.init(config:)`).
    public static let factory = ExporterFactory(
        type: configType,
        summary: "JSON lines (one record per bucket) to stdout, a logrotate-safe file or a TCP collector",
        reading: Configuration.self
    ) { JSONLPlugin(name: $0, configuration: $1) }
}

extension JSONLPlugin.Configuration: ExporterConfiguration {
    /// Reads an `exporters` entry with `type: "jsonl"`:
    ///
    /// | key | meaning | default |
    /// | --- | --- | --- |
    /// | `output` | `"stdout"`, `"file"` or `"tcp"` | required |
    /// | `path` | the file to append to (output `file` only) | required for `file` |
    /// | `address` | the collector, `host:port`, `1.2.3.4:port` or `[::1]:port` (output `tcp` only) | required for `tcp` |
    /// | `queue_max_records` | 1…10000000 records waiting while the output is slow or down; the oldest are dropped beyond | 100000 |
    /// | `reconnect_max_seconds` | 0.01…3600 s, longest wait between retries (starts at 100 ms, doubles) | 30 |
    /// | `shutdown_timeout_seconds` | 0…300 s that `stop` spends writing what is queued | 5 |
    /// | `summary_records` | emit a `snapshot` record after each snapshot's bucket records | true |
    public init?(config: ConfigObject) {
        let problemsBefore = config.problems.problems.count
        // `type` selected this factory; mark it read in case the caller has not.
        _ = config.has("type")
        let kinds = #""stdout", "file" or "tcp""#

        var output: JSONLPlugin.Output?
        let kind: String?
        switch config.value("output") {
        case nil:
            config.problem("output", "is required: \(kinds)")
            kind = nil
        case .string(let text)?:
            kind = text
        case let other?:
            config.problem("output", "must be \(kinds), found \(other.kindDescription)")
            kind = nil
        }
        let path = config.string("path")
        let address = config.string("address")
        switch kind {
        case "stdout"?:
            output = .stdout
        case "file"?:
            if let path {
                if path.isEmpty {
                    config.problem("path", "must not be empty")
                } else if path.utf8.contains(0) {
                    config.problem("path", "must not contain a NUL character")
                } else {
                    output = .file(path: path)
                }
            } else if !config.problems.problems.contains(where: { $0.path == config.keyPath("path") }) {
                config.problem("path", "is required with output \"file\" (the file to append to)")
            }
        case "tcp"?:
            if let address {
                switch TCPSink.parse(address: address) {
                case .success(let parsed): output = .tcp(host: parsed.host, port: parsed.port)
                case .failure(let error): config.problem("address", "\(error.message), found \"\(address)\"")
                }
            } else if !config.problems.problems.contains(where: { $0.path == config.keyPath("address") }) {
                config.problem("address", #"is required with output "tcp" (the collector as "host:port")"#)
            }
        case let other?:
            config.problem("output", "must be \(kinds), found \"\(other)\"")
        case nil:
            break
        }
        if path != nil && kind != nil && kind != "file" {
            config.problem("path", "only applies to output \"file\"")
        }
        if address != nil && kind != nil && kind != "tcp" {
            config.problem("address", "only applies to output \"tcp\"")
        }

        self.init(output: output ?? .stdout)
        if let value = config.integer("queue_max_records", in: JSONLPlugin.queueMaxRecordsRange) { queueMaxRecords = value }
        if let value = config.seconds("reconnect_max_seconds", in: JSONLPlugin.reconnectMaxRange) { reconnectMax = value }
        if let value = config.seconds("shutdown_timeout_seconds", in: JSONLPlugin.shutdownTimeoutRange) { shutdownTimeout = value }
        if let value = config.bool("summary_records") { summaryRecords = value }
        config.finish()

        guard output != nil, config.problems.problems.count == problemsBefore else { return nil }
    }
}

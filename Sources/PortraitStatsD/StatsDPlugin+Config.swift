import PortraitCore

extension StatsDPlugin {
    /// The config `type` of this plugin.
    public static let configType = "statsd"
    /// Allowed `max_name_bytes` (bytes); the dialect and prefix may demand more (see `Configuration.problems`).
    public static let maxNameBytesRange = 16...4096
    /// Allowed `interval_seconds` and `resolve_interval_seconds`: 0 (off) or 1 s … 1 day.
    public static let intervalRange = 0.0...86_400.0

    /// Builds the plugin from an `exporters` entry with `type: "statsd"` (keys: `Configuration.init(config:)`).
    public static let factory = ExporterFactory(
        type: configType,
        summary: "StatsD gauges over UDP (dogstatsd, influx, graphite or plain lines), re-sent periodically",
        reading: Configuration.self
    ) { StatsDPlugin(name: $0, configuration: $1) }
}

extension StatsDPlugin.Configuration: ExporterConfiguration {
    /// Reads an `exporters` entry with `type: "statsd"`:
    ///
    /// | key | meaning | default |
    /// | --- | --- | --- |
    /// | `address` | StatsD server, `host:port` or `[ipv6]:port` (required) | — |
    /// | `dialect` | `dogstatsd`, `influx`, `graphite` or `plain` | `dogstatsd` |
    /// | `prefix` | metric name: ASCII letters, digits, `_`, `.`; starts with a letter | `wechat.portrait.users` |
    /// | `max_packet_bytes` | largest datagram payload, 512…65507 bytes (8932 for jumbo frames) | 1432 |
    /// | `interval_seconds` | resend period, 1…86400 s; 0 = send only on new data | 60 |
    /// | `max_name_bytes` | limit for names and tag values, 16…4096 bytes (see `StatsDLineEncoder`) | 127 |
    /// | `resolve_interval_seconds` | host name re-resolution period, 1…86400 s; 0 = resolve once | 60 |
    public init?(config: ConfigObject) {
        let problemsBefore = config.problems.problems.count

        var address: StatsDAddress?
        if let text = config.string("address", required: true) {
            do throws(StatsDAddress.ParseError) {
                address = try StatsDAddress(parsing: text)
            } catch {
                config.problem("address", error.description)
            }
        }

        var dialect = StatsDDialect.default
        if let text = config.string("dialect") {
            if let known = StatsDDialect(rawValue: text) { dialect = known } else {
                config.problem("dialect", "must be one of \(StatsDDialect.allCases.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(text)\"")
            }
        }

        let prefix = config.string("prefix") ?? StatsDLineEncoder.defaultPrefix
        let maxPacketBytes = config.integer("max_packet_bytes", in: DatagramPacker.allowedPayloadBytes) ?? DatagramPacker.defaultMaxPayloadBytes
        let maxNameBytes = config.integer("max_name_bytes", in: StatsDPlugin.maxNameBytesRange) ?? StatsDLineEncoder.defaultMaxNameBytes

        func period(_ key: String, default value: Duration, zeroMeans: String) -> Duration? {
            guard let duration = config.seconds(key, in: StatsDPlugin.intervalRange) else { return value }
            if duration == .zero { return nil }
            if duration < .seconds(1) {
                config.problem(key, "must be 0 (\(zeroMeans)) or at least 1 second, found \(duration.seconds)")
            }
            return duration
        }
        let interval = period("interval_seconds", default: StatsDPlugin.Configuration.defaultInterval, zeroMeans: "send only on new data")
        let resolveInterval = period("resolve_interval_seconds", default: StatsDPlugin.Configuration.defaultResolveInterval, zeroMeans: "resolve once")
        config.finish()

        guard let address else { return nil }
        self.init(address: address, dialect: dialect, prefix: prefix, maxPacketBytes: maxPacketBytes, interval: interval,
                  maxNameBytes: maxNameBytes, resolveInterval: resolveInterval)
        // Cross-checks, unless the key already has a problem of its own (no cascades).
        let reported = Set(config.problems.problems.dropFirst(problemsBefore).map(\.path))
        for problem in problems where !reported.contains(config.keyPath(problem.key)) {
            config.problem(problem.key, problem.message)
        }
        guard config.problems.problems.count == problemsBefore else { return nil }
    }
}

import PortraitCore
import PortraitHTTP

extension PrometheusPlugin {
    /// The config `type` of this plugin.
    public static let configType = "prometheus"
    /// Default listen address.
    public static let defaultListen = "0.0.0.0:10054"
    /// Allowed `max_connections`.
    public static let maxConnectionsRange = 1...100_000
    /// Allowed `event_loop_threads`.
    public static let eventLoopThreadsRange = 1...16
    /// Allowed `idle_timeout_seconds`.
    public static let idleTimeoutRange = 0.1...86_400.0
    /// Allowed `header_timeout_seconds`.
    public static let headerTimeoutRange = 0.1...3_600.0
    /// Paths the plugin serves itself; `metrics_path` may not be one of them.
    static let fixedPaths: Set<String> = ["/", "/healthz", "/readyz"]

    /// Builds the plugin from an `exporters` entry with `type: "prometheus"` (keys: `Configuration.init(config:)`).
    public static let factory = ExporterFactory(
        type: configType,
        summary: "Prometheus text exposition endpoint (/metrics, /healthz, /readyz, /) on its own HTTP server",
        reading: Configuration.self
    ) { PrometheusPlugin(name: $0, configuration: $1) }
}

extension PrometheusPlugin.Configuration: ExporterConfiguration {
    /// Reads an `exporters` entry with `type: "prometheus"`:
    ///
    /// | key | meaning | default |
    /// | --- | --- | --- |
    /// | `listen` | address or list of addresses (`0.0.0.0:10054`, `[::]:10054`, `:10054`) | `0.0.0.0:10054` |
    /// | `metrics_path` | path of the exposition, starts with `/` | `/metrics` |
    /// | `max_connections` | 1…100000 concurrently open connections | 512 |
    /// | `idle_timeout_seconds` | keep-alive idle limit, 0.1…86400 s | 60 |
    /// | `header_timeout_seconds` | time to receive a request head, 0.1…3600 s | 10 |
    /// | `event_loop_threads` | 1…16 server threads | 1 |
    /// | `enable_reload` | serve `POST /-/reload` to loopback clients | false |
    public init?(config: ConfigObject) {
        let problemsBefore = config.problems.problems.count
        // `type` selected this factory; mark it read in case the caller has not.
        _ = config.has("type")
        var addresses: [ListenAddress] = []

        func parseAddress(_ text: String, key: String) {
            do throws(HTTPServerError) {
                let address = try ListenAddress(parsing: text)
                if addresses.contains(address) {
                    config.problem(key, "lists \(address) twice")
                } else {
                    addresses.append(address)
                }
            } catch {
                config.problem(key, error.description)
            }
        }

        switch config.value("listen") {
        case nil:
            parseAddress(PrometheusPlugin.defaultListen, key: "listen")
        case .string(let text)?:
            parseAddress(text, key: "listen")
        case .array(let elements)?:
            if elements.isEmpty { config.problem("listen", "must list at least one address") }
            for (i, element) in elements.enumerated() {
                guard case .string(let text) = element else {
                    config.problem("listen[\(i)]", "must be a string such as \"0.0.0.0:10054\", found \(element.kindDescription)")
                    continue
                }
                parseAddress(text, key: "listen[\(i)]")
            }
        case let other?:
            config.problem("listen", "must be an address string or an array of them, found \(other.kindDescription)")
        }
        self.init(listen: addresses)

        if let path = config.string("metrics_path") {
            if !path.hasPrefix("/") {
                config.problem("metrics_path", "must start with \"/\", found \"\(path)\"")
            } else if path.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
                config.problem("metrics_path", "must be a plain path without '?', '#' or spaces")
            } else if PrometheusPlugin.fixedPaths.contains(path) {
                config.problem("metrics_path", "\(path) is already served by the plugin (/, /healthz, /readyz)")
            } else {
                metricsPath = path
            }
        }
        if let value = config.integer("max_connections", in: PrometheusPlugin.maxConnectionsRange) { maxConnections = value }
        if let value = config.seconds("idle_timeout_seconds", in: PrometheusPlugin.idleTimeoutRange) { idleTimeout = value }
        if let value = config.seconds("header_timeout_seconds", in: PrometheusPlugin.headerTimeoutRange) { headerTimeout = value }
        if let value = config.integer("event_loop_threads", in: PrometheusPlugin.eventLoopThreadsRange) { eventLoopThreads = value }
        if let value = config.bool("enable_reload") { enableReload = value }
        config.finish()

        guard config.problems.problems.count == problemsBefore else { return nil }
    }
}

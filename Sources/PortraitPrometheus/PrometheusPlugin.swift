import PortraitCore
import PortraitHTTP
import Synchronization

/// The Prometheus exporter plugin: serves the cached portraits and the exporter's own metrics
/// in the text exposition format 0.0.4 over its own HTTP server.
///
/// - `start` binds the listen addresses (a bind failure aborts startup with a message naming
///   the address).
/// - `publish` renders the data part of the exposition once per state and swaps it in; scrapes
///   serve cached bytes and never call WeChat.
/// - Status-board families are re-rendered when the board changes; HTTP, process and other
///   plugins' counters at most once per `Configuration.counterRefreshInterval` (1 s), so they
///   may lag by that long. See `ExpositionCache`.
/// - `stop` shuts the server down (in-flight responses get the server's grace period).
public final class PrometheusPlugin: ExporterPlugin {
    /// Listen addresses, paths and server limits of the plugin.
    public struct Configuration: Sendable {
        /// Addresses to listen on (default `0.0.0.0:10054`).
        public var listen: [ListenAddress]
        /// Path of the exposition; starts with `/` (default `/metrics`).
        public var metricsPath: String = "/metrics"
        /// Maximum concurrently open connections (default 512).
        public var maxConnections: Int = 512
        /// Time a keep-alive connection may stay idle (default 60 s).
        public var idleTimeout: Duration = .seconds(60)
        /// Time allowed to receive a whole request head (default 10 s).
        public var headerTimeout: Duration = .seconds(10)
        /// Event-loop threads of the HTTP server (default 1).
        public var eventLoopThreads: Int = 1
        /// Minimum age of the cached HTTP, process and self-metric counters before a scrape
        /// refreshes them (default 1 s; these counters may lag by up to this long).
        public var counterRefreshInterval: Duration = .seconds(1)
        /// Serve `POST /-/reload` (to loopback clients only) to reload the config file, like
        /// Prometheus's `--web.enable-lifecycle`. Off by default.
        public var enableReload = false

        public init(listen: [ListenAddress]) {
            self.listen = listen
        }
    }

    public let name: String
    public let configuration: Configuration
    let endpoint: PrometheusEndpoint
    private let server = Mutex<HTTPServer?>(nil)

    /// A plugin that does nothing until `start`.
    public init(name: String = "prometheus", configuration: Configuration) {
        self.name = name
        self.configuration = configuration
        self.endpoint = PrometheusEndpoint(metricsPath: configuration.metricsPath,
                                           counterRefreshInterval: configuration.counterRefreshInterval,
                                           enableReload: configuration.enableReload)
    }

    /// Binds the listen addresses and starts serving.
    /// - Throws: `PrometheusPluginError` naming the plugin and the address that failed, or
    ///   saying that the plugin is already running.
    public func start(context: PluginContext) async throws {
        guard server.withLock({ $0 == nil }) else {
            throw PrometheusPluginError(message: "\(name): already started")
        }
        endpoint.attach(context)
        var settings = HTTPServerConfiguration(listen: configuration.listen)
        settings.maxConnections = configuration.maxConnections
        settings.idleTimeout = configuration.idleTimeout
        settings.headerReadTimeout = configuration.headerTimeout
        settings.eventLoopThreads = configuration.eventLoopThreads
        // Requests to this server carry no body worth reading.
        settings.maxBodyBytes = 4096
        let server = HTTPServer(configuration: settings, handler: endpoint)
        // The endpoint reads the counters through a weak reference: server → endpoint is strong.
        endpoint.setStatsSource { [weak server] in server?.stats() }
        do {
            try server.start()
        } catch {
            endpoint.setStatsSource(nil)
            throw PrometheusPluginError(message: "\(name): cannot listen: \(error.description)")
        }
        self.server.withLock { $0 = server }
        let addresses = server.boundAddresses.map(\.description).joined(separator: ", ")
        context.logger.info("prometheus exporter listening", ["plugin": name, "addresses": addresses, "path": configuration.metricsPath])
    }

    /// Renders the data part of `state` and makes it the one served.
    public func publish(_ state: PortraitState) async {
        endpoint.publish(state)
    }

    /// Stops the HTTP server (bounded by its shutdown grace period).
    public func stop() async {
        let server = self.server.withLock { current in
            defer { current = nil }
            return current
        }
        endpoint.setStatsSource(nil)
        await server?.shutdown()
    }

    /// The addresses the server listens on, with port 0 resolved; empty before `start`.
    public var boundAddresses: [ListenAddress] {
        server.withLock { $0?.boundAddresses ?? [] }
    }

    /// The current `/metrics` body, exactly as a scrape would get it.
    public func currentExposition() -> [UInt8] {
        endpoint.metricsBody()
    }

    /// Renders `state` (and `report` when given) to exposition text without any server:
    /// build info, portrait families and status families, in the order a scrape has them.
    public static func render(_ state: PortraitState, report: StatusReport? = nil, build: BuildInfo = .current) -> [UInt8] {
        var renderer = ExpositionRenderer(capacity: 4096 + state.snapshots.values.reduce(0) { $0 + $1.portrait.bucketCount * 120 })
        renderer.renderBuildInfo(build)
        renderer.renderPortraits(state)
        if let report { renderer.renderStatus(report) }
        return renderer.take()
    }
}

/// Why the Prometheus plugin could not start; the message names the plugin and the address.
public struct PrometheusPluginError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

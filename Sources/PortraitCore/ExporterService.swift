import Foundation

/// The assembled exporter: one token cache, one scheduler, one snapshot store, and the plugins.
///
/// ```
/// Scheduler ──fetch──▶ PortraitFetcher ──▶ TokenCache ─┐
///     │                     │                          └─▶ WeChatClient ──▶ HTTPTransport ──▶ upstream
///     └──snapshot──▶ SnapshotStore ──state──▶ PluginHost ──▶ [prometheus, jsonl, statsd, …]
/// ```
public final class ExporterService: Sendable {
    public let configuration: Configuration
    public let status: StatusBoard
    public let tokens: TokenCache
    public let store: SnapshotStore
    public let host: PluginHost
    public let scheduler: Scheduler
    public let selfMetrics: SelfMetricsRegistry
    private let time: any TimeSource
    private let logger: Logger

    public init(configuration: Configuration, transport: any HTTPTransport, time: any TimeSource, logger: Logger) {
        self.configuration = configuration
        self.time = time
        self.logger = logger
        for secret in configuration.secrets { logger.redactor.register(secret: secret) }
        let identities = configuration.apps.map(\.identity)
        status = StatusBoard(apps: identities, windows: configuration.windows, startedAt: time.now())
        let client = WeChatClient(baseURL: configuration.upstream.baseURL, transport: transport, timeout: configuration.upstream.timeout)
        tokens = TokenCache(client: client, time: time, refreshAhead: configuration.token.refreshAhead,
                            persistPath: configuration.token.persistFile, status: status, logger: logger)
        let host = PluginHost(plugins: configuration.exporters)
        self.host = host
        let store = SnapshotStore(apps: identities, windows: configuration.windows, publish: { host.publish($0) })
        self.store = store
        selfMetrics = SelfMetricsRegistry()
        scheduler = Scheduler(apps: configuration.apps, windows: configuration.windows, policy: configuration.schedule,
                              fetcher: PortraitFetcher(client: client, tokens: tokens, time: time),
                              time: time, status: status, logger: logger, deliver: { await store.accept($0) })
    }

    /// The context every plugin starts with.
    public var pluginContext: PluginContext {
        PluginContext(status: status, selfMetrics: selfMetrics, logger: logger, time: time)
    }

    /// Starts the plugins (binding their sockets). Throws if one cannot start.
    public func start() async throws {
        try await host.start(context: pluginContext)
        host.publish(await store.current)
    }

    /// Runs the scheduler until the calling task is cancelled.
    public func run() async { await scheduler.run() }

    /// Stops the plugins (each flushes what it holds).
    public func stop() async { await host.stop() }
}

import Foundation
import Synchronization

/// The assembled exporter: one token cache, one scheduler, one snapshot store, and the plugins.
///
/// ```
/// Scheduler ──fetch──▶ PortraitFetcher ──▶ TokenCache ─┐
///     │                     │                          └─▶ WeChatClient ──▶ HTTPTransport ──▶ upstream
///     └──snapshot──▶ SnapshotStore ──state──▶ PluginHost ──▶ [prometheus, jsonl, statsd, …]
/// ```
///
/// A config reload (`apply`) swaps apps, windows, schedule and upstream while the token cache, the
/// plugins and the snapshots of apps that stay are kept; the scheduler restarts with the new set
/// and jobs that already hold today's data do not fetch again.
public final class ExporterService: Sendable {
    public let status: StatusBoard
    public let tokens: TokenCache
    public let store: SnapshotStore
    public let host: PluginHost
    public let selfMetrics: SelfMetricsRegistry
    private let time: any TimeSource
    private let logger: Logger
    private let transport: any HTTPTransport

    private struct Generation {
        var configuration: Configuration
        /// Bumped by every `apply`; the run loop restarts the scheduler when it changes.
        var number = 0
        var schedulerTask: Task<Void, Never>?
    }
    private let generation: Mutex<Generation>

    public init(configuration: Configuration, transport: any HTTPTransport, time: any TimeSource, logger: Logger,
                selfMetrics: SelfMetricsRegistry = SelfMetricsRegistry()) {
        self.time = time
        self.logger = logger
        self.transport = transport
        self.selfMetrics = selfMetrics
        for secret in configuration.secrets { logger.redactor.register(secret: secret) }
        let identities = configuration.apps.map(\.identity)
        status = StatusBoard(apps: identities, windows: configuration.windows, startedAt: time.now())
        tokens = TokenCache(client: Self.client(configuration, transport), time: time, refreshAhead: configuration.token.refreshAhead,
                            persistPath: configuration.token.persistFile, status: status, logger: logger)
        let host = PluginHost(plugins: configuration.exporters)
        self.host = host
        store = SnapshotStore(apps: identities, windows: configuration.windows, publish: { host.publish($0) })
        generation = Mutex(Generation(configuration: configuration))
    }

    /// The configuration in force.
    public var configuration: Configuration { generation.withLock { $0.configuration } }

    /// The context every plugin starts with.
    public func pluginContext(reload: (@Sendable () -> ReloadOutcome)? = nil) -> PluginContext {
        PluginContext(status: status, selfMetrics: selfMetrics, logger: logger, time: time, reload: reload)
    }

    /// Starts the plugins (binding their sockets). Throws if one cannot start.
    public func start(reload: (@Sendable () -> ReloadOutcome)? = nil) async throws {
        try await host.start(context: pluginContext(reload: reload))
        host.publish(await store.current)
    }

    /// Runs the scheduler until the calling task is cancelled, restarting it after each `apply`.
    public func run() async {
        await withTaskCancellationHandler {
            var number = -1
            while !Task.isCancelled {
                let (configuration, current) = generation.withLock { ($0.configuration, $0.number) }
                if current == number {
                    // Woken without a new configuration: only cancellation ends the loop.
                    try? await Task.sleep(for: .milliseconds(50))
                    continue
                }
                number = current
                let held = await store.current.snapshots
                let scheduler = Scheduler(
                    apps: configuration.apps, windows: configuration.windows, policy: configuration.schedule,
                    fetcher: PortraitFetcher(client: Self.client(configuration, transport), tokens: tokens, time: time),
                    time: time, status: status, logger: logger, held: held, deliver: { [store] in await store.accept($0) })
                let task = Task { await scheduler.run() }
                let stale = generation.withLock { state -> Bool in
                    state.schedulerTask = task
                    return state.number != current
                }
                if stale || Task.isCancelled { task.cancel() }
                await task.value
            }
        } onCancel: {
            generation.withLock { $0.schedulerTask }?.cancel()
        }
    }

    /// Applies a new configuration (a reload). The plugins and the token cache stay; `exporters`
    /// and `token.persist_file` of `configuration` are not applied (they need a restart).
    public func apply(_ configuration: Configuration) async {
        for secret in configuration.secrets { logger.redactor.register(secret: secret) }
        await tokens.use(client: Self.client(configuration, transport))
        let identities = configuration.apps.map(\.identity)
        status.reconfigure(apps: identities, windows: configuration.windows)
        await store.reconfigure(apps: identities, windows: configuration.windows)
        let task = generation.withLock { state -> Task<Void, Never>? in
            var kept = configuration
            kept.exporters = state.configuration.exporters
            kept.token.persistFile = state.configuration.token.persistFile
            state.configuration = kept
            state.number += 1
            return state.schedulerTask
        }
        task?.cancel()
    }

    /// Stops the plugins (each flushes what it holds).
    public func stop() async { await host.stop() }

    static func client(_ configuration: Configuration, _ transport: any HTTPTransport) -> WeChatClient {
        WeChatClient(baseURL: configuration.upstream.baseURL, transport: transport, timeout: configuration.upstream.timeout)
    }
}

/// What a reload request got: applied, or refused with the problems (as check-config prints them).
public enum ReloadOutcome: Sendable, Equatable {
    case applied
    case rejected(String)
    /// Reloading is not possible (e.g. demo mode has no config file).
    case unavailable(String)
}

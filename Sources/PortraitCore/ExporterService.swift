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
        /// Set by `stop`: `run` returns and starts no scheduler again.
        var stopped = false
        /// `run` waiting for a new configuration (its scheduler had no jobs); resumed by `apply`,
        /// `stop` and cancellation.
        var idleWaiters: [CheckedContinuation<Void, Never>] = []

        /// Takes the idle waiters, to resume them outside the lock.
        mutating func takeWaiters() -> [CheckedContinuation<Void, Never>] {
            defer { idleWaiters = [] }
            return idleWaiters
        }
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

    /// Runs the scheduler until the calling task is cancelled or `stop` is called, restarting it
    /// after each `apply`. A scheduler without jobs returns at once; `run` then waits, without
    /// polling, for the next `apply` (or `stop`, or cancellation).
    public func run() async {
        await withTaskCancellationHandler {
            var number = -1
            while let (configuration, current) = await nextGeneration(after: number) {
                number = current
                let held = await store.current.snapshots
                let scheduler = Scheduler(
                    apps: configuration.apps, windows: configuration.windows, policy: configuration.schedule,
                    fetcher: PortraitFetcher(client: Self.client(configuration, transport), tokens: tokens, time: time),
                    time: time, status: status, logger: logger, held: held, deliver: { [store] in await store.accept($0) })
                let task = Task { await scheduler.run() }
                let stale = generation.withLock { state -> Bool in
                    state.schedulerTask = task
                    return state.number != current || state.stopped
                }
                if stale || Task.isCancelled { task.cancel() }
                await task.value
            }
        } onCancel: {
            let (task, waiters) = generation.withLock { ($0.schedulerTask, $0.takeWaiters()) }
            task?.cancel()
            for waiter in waiters { waiter.resume() }
        }
    }

    /// The configuration to run and its number once it differs from `seen`; suspends while it
    /// does not. `nil` once the service is stopped or the calling task is cancelled.
    private func nextGeneration(after seen: Int) async -> (Configuration, Int)? {
        while true {
            let next = generation.withLock { state -> (Configuration, Int)?? in
                if state.stopped || Task.isCancelled { return .some(nil) }
                return state.number == seen ? nil : .some((state.configuration, state.number))
            }
            if let next { return next }
            // Checked again under the lock that `apply`, `stop` and the cancellation handler take
            // to resume waiters, so no wake-up is lost between the check above and the suspension.
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let wakeNow = generation.withLock { state -> Bool in
                    if state.stopped || Task.isCancelled || state.number != seen { return true }
                    state.idleWaiters.append(continuation)
                    return false
                }
                if wakeNow { continuation.resume() }
            }
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
        let (task, waiters) = generation.withLock { state in
            var kept = configuration
            kept.exporters = state.configuration.exporters
            kept.token.persistFile = state.configuration.token.persistFile
            state.configuration = kept
            state.number += 1
            return (state.schedulerTask, state.takeWaiters())
        }
        task?.cancel()
        for waiter in waiters { waiter.resume() }
    }

    /// Ends `run` (its scheduler is cancelled; in-flight upstream calls are abandoned, not waited
    /// for) and stops the plugins (each flushes what it holds).
    public func stop() async {
        let (task, waiters) = generation.withLock { state in
            state.stopped = true
            return (state.schedulerTask, state.takeWaiters())
        }
        task?.cancel()
        for waiter in waiters { waiter.resume() }
        await host.stop()
    }

    /// Whether `run` is waiting for a new configuration because the one in force has no jobs
    /// (no apps or no windows).
    public var isIdle: Bool { generation.withLock { !$0.idleWaiters.isEmpty } }

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

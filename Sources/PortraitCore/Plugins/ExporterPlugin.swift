import Foundation

/// Everything the fetcher currently holds: the latest good snapshot of every app and window.
/// Plugins receive a whole state each time, so one that missed an update never misses data.
public struct PortraitState: Sendable {
    /// Increases with every published state.
    public var generation: UInt64
    /// Configured apps, in config order.
    public var apps: [AppIdentity]
    /// Configured windows.
    public var windows: [Window]
    /// Latest good snapshot per app and window; absent until the first success.
    public var snapshots: [SnapshotKey: Snapshot]

    public init(generation: UInt64 = 0, apps: [AppIdentity], windows: [Window], snapshots: [SnapshotKey: Snapshot] = [:]) {
        self.generation = generation
        self.apps = apps
        self.windows = windows
        self.snapshots = snapshots
    }

    /// Snapshots in a stable order: app name, then window.
    public var orderedSnapshots: [Snapshot] { snapshots.keys.sorted().map { snapshots[$0]! } }
}

/// Version and build facts shown in `wechat_portrait_build_info` and on the landing page.
public struct BuildInfo: Sendable {
    public var version: String
    public var swiftVersion: String

    public init(version: String, swiftVersion: String) {
        self.version = version
        self.swiftVersion = swiftVersion
    }

    public static let current = BuildInfo(version: "0.1.0", swiftVersion: BuildInfo.compilerVersion)

    static var compilerVersion: String {
        #if compiler(>=6.3)
        "6.3"
        #elseif compiler(>=6.2)
        "6.2"
        #elseif compiler(>=6.1)
        "6.1"
        #else
        "6.0"
        #endif
    }
}

/// What a plugin gets from the host when it starts.
public struct PluginContext: Sendable {
    /// Fetch outcomes and freshness, for self-metrics and health endpoints.
    public var status: StatusBoard
    /// Metric families that plugins contribute to the exporter's own metrics.
    public var selfMetrics: SelfMetricsRegistry
    public var logger: Logger
    public var time: any TimeSource
    public var build: BuildInfo
    /// Reloads the config file (validates synchronously, applies in the background); `nil` when
    /// the host offers no reload. Used by the Prometheus plugin's `POST /-/reload`.
    public var reload: (@Sendable () -> ReloadOutcome)?

    public init(status: StatusBoard, selfMetrics: SelfMetricsRegistry, logger: Logger, time: any TimeSource, build: BuildInfo = .current,
                reload: (@Sendable () -> ReloadOutcome)? = nil) {
        self.status = status
        self.selfMetrics = selfMetrics
        self.logger = logger
        self.time = time
        self.build = build
        self.reload = reload
    }
}

/// An output of the exporter: the Prometheus endpoint, the JSON-lines emitter, the StatsD sender.
///
/// The host calls `start` once (in config order), then `publish` with each new state — never
/// concurrently with itself, always with the newest state (a slow plugin skips intermediate states,
/// it never stalls the fetcher or another plugin) — and `stop` once on shutdown.
public protocol ExporterPlugin: AnyObject, Sendable {
    /// Identifies the plugin in logs and metrics, e.g. `prometheus` or `statsd#1`.
    var name: String { get }
    /// Acquires resources (binds sockets, opens files). A thrown error aborts startup with its
    /// description, so it must name what failed (e.g. the listen address) and never a secret.
    func start(context: PluginContext) async throws
    /// Receives the newest state. Must not throw: a plugin handles and counts its own failures.
    func publish(_ state: PortraitState) async
    /// Flushes and releases resources; bounded in time.
    func stop() async
    /// Where the plugin sends or serves its output, for the startup banner
    /// (e.g. `http://127.0.0.1:10054/metrics`). Read after `start`.
    var summary: String { get }
    /// Called on SIGHUP: reopen output files (logrotate moved or truncated them). Default: nothing.
    func reopenOutputs() async
}

extension ExporterPlugin {
    public var summary: String { name }
    public func reopenOutputs() async {}
}

/// Builds a plugin from its entry in the config's `exporters` list.
public struct ExporterFactory: Sendable {
    /// The config `type` this factory handles, e.g. `prometheus`.
    public let type: String
    /// One line for `--help` and the config error that lists known types.
    public let summary: String
    /// Reads the plugin's keys from `config` (reporting problems there) and returns the plugin
    /// with the given `name`, or `nil` if the keys had problems.
    public let make: @Sendable (_ config: ConfigObject, _ name: String) -> (any ExporterPlugin)?

    public init(type: String, summary: String, make: @escaping @Sendable (_ config: ConfigObject, _ name: String) -> (any ExporterPlugin)?) {
        self.type = type
        self.summary = summary
        self.make = make
    }

    /// The name of the `ordinal`-th entry (from 0) of a type: the first `jsonl` entry is `jsonl`,
    /// a second one `jsonl#1`, and so on. The name is the `exporter` label of a plugin's metrics.
    public static func instanceName(type: String, ordinal: Int) -> String {
        ordinal == 0 ? type : "\(type)#\(ordinal)"
    }
}

/// Maps config `type` strings to plugin factories. Built once by the executable and passed down.
public struct ExporterRegistry: Sendable {
    public let factories: [ExporterFactory]

    public init(_ factories: [ExporterFactory]) { self.factories = factories }

    public func factory(for type: String) -> ExporterFactory? { factories.first { $0.type == type } }

    public var knownTypes: [String] { factories.map(\.type) }
}

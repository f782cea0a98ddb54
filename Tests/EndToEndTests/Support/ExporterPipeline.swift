@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitJSONL
import PortraitPrometheus
import PortraitStatsD
import PortraitTestKit
import Testing
import WeChatSimulator

/// The end-to-end pipeline in process: simulator on loopback → the real config path →
/// ExporterService with the URLSession transport → Prometheus plugin(s) on 127.0.0.1:0 (and
/// recording, JSON-lines and StatsD plugins when asked), all on one manual clock (the simulator
/// decides "today" and readiness from the same clock).
final class ExporterPipeline: Sendable {
    /// What differs between the tests; the memberwise order is the order below.
    struct Options: Sendable {
        /// China time at which the manual clock (and so the exporter) starts.
        var start = "2026-03-01 12:00"
        /// `upstream.timeout_seconds`: long by default, so a loaded machine never turns a slow
        /// answer into a timeout; the timeout tests set 1.
        var timeoutSeconds = 30
        var windows: [Window] = Window.allCases
        /// Number of Prometheus plugins (each on its own port).
        var prometheusPlugins = 1
        /// Number of in-memory recording plugins.
        var recordingPlugins = 0
        /// `schedule.max_concurrent_fetches`.
        var maxConcurrentFetches = 4
        /// A `jsonl` plugin writing a temporary file (`jsonlFile`), and a `statsd` plugin sending
        /// to a UDP listener on loopback (`statsdListener`); both go away with the pipeline.
        var jsonl = false
        var statsd = false
        /// The StatsD dialect; nil keeps the plugin's default.
        var statsdDialect: String?
        /// The configured apps.
        var apps: [SimulatedApp] = ExporterPipeline.demoApps
        /// The apps the simulator knows (nil: `apps`); a later config may add them.
        var simulatorApps: [SimulatedApp]?
        /// `schedule.ready_time` ("HH:MM"); nil keeps the exporter's default.
        var readyTime: String?
        /// Whether the Prometheus plugins serve `POST /-/reload`.
        var enableReload = false
        /// Whether `init` waits (a hang guard of `firstAttemptsTimeout`) until every job finished
        /// its first attempt and sleeps, and requires that none failed.
        var awaitFirstAttempts = true
        var firstAttemptsTimeout: Duration = .seconds(30)
    }

    static let demoApps: [SimulatedApp] = [.demoShop, .demoNews]
    static let registry = ExporterRegistry([PrometheusPlugin.factory, RecordingPlugin.factory, JSONLPlugin.factory, StatsDPlugin.factory])

    let options: Options
    let time: ManualTimeSource
    let upstream: SimulatedUpstream
    let service: ExporterService
    let sink = RecordingLogSink()
    let task: Task<Void, Never>
    let jsonlFile: TemporaryFile?
    let statsdListener: UDPListener?

    var simulator: WeChatSimulator { upstream.simulator }
    var apps: [SimulatedApp] { options.apps }
    var jobs: Int { options.apps.count * options.windows.count }
    /// Every configured app and window, app by app.
    var appWindows: [(app: SimulatedApp, window: Window)] { options.apps.flatMap { app in options.windows.map { (app, $0) } } }
    var policy: SchedulePolicy { service.configuration.schedule }

    /// Starts the simulator (`before` may inject faults first), then the exporter; with
    /// `awaitFirstAttempts`, returns once every job finished its first attempt and sleeps.
    init(_ options: Options = Options(), before: (WeChatSimulator) -> Void = { _ in }) async throws {
        self.options = options
        time = ManualTimeSource(china: options.start)
        // Hung and delayed answers are abandoned by the exporter; stopping need not wait for them.
        upstream = try SimulatedUpstream(time: time, apps: options.simulatorApps ?? options.apps) { $0.shutdownGrace = .milliseconds(100) }
        before(upstream.simulator)
        jsonlFile = options.jsonl ? TemporaryFile("pipeline", extension: "jsonl") : nil
        statsdListener = options.statsd ? try UDPListener() : nil
        let configuration = try Self.config(options, upstream: upstream.baseURL, jsonl: jsonlFile, statsd: statsdListener).load(secretsOf: options.simulatorApps ?? options.apps)
        let logger = Logger(level: .debug, sink: sink, clock: time)
        // As `Runtime.runExporter` builds it.
        service = ExporterService(configuration: configuration, transport: URLSessionTransport(requestTimeout: configuration.upstream.timeout),
                                  time: time, logger: logger)
        try await service.start()
        let service = self.service
        task = Task { await service.run() }
        guard options.awaitFirstAttempts else { return }
        try #require(await time.waitForSleepers(jobs, timeout: options.firstAttemptsTimeout), "the first attempts never finished")
        let failed = sink.lines(containing: "fetch failed")
        try #require(failed.isEmpty, "a first attempt failed: \(failed)")
    }

    /// This pipeline's config; `apps` and `windows` replace the options' (for a reload).
    func config(apps: [SimulatedApp]? = nil, windows: [Window]? = nil) -> ExporterConfig {
        var options = options
        options.apps = apps ?? options.apps
        options.windows = windows ?? options.windows
        return Self.config(options, upstream: upstream.baseURL, jsonl: jsonlFile, statsd: statsdListener)
    }

    private static func config(_ options: Options, upstream: String, jsonl: TemporaryFile?, statsd: UDPListener?) -> ExporterConfig {
        let exporters = Array(repeating: ExporterConfig.prometheus(enableReload: options.enableReload), count: options.prometheusPlugins)
            + (0..<options.recordingPlugins).map { ExporterConfig.recording("recording\($0)") }
            + (jsonl.map { [ExporterConfig.jsonlFile($0.path)] } ?? [])
            + (statsd.map { [ExporterConfig.statsd($0.address, dialect: options.statsdDialect)] } ?? [])
        return ExporterConfig(upstream: upstream, apps: options.apps, windows: options.windows, timeoutSeconds: options.timeoutSeconds,
                              maxConcurrentFetches: options.maxConcurrentFetches, readyTime: options.readyTime, exporters: exporters)
    }

    /// Removes the JSON-lines file and lets the StatsD listener go (neither blocks).
    deinit {
        jsonlFile?.remove()
        statsdListener?.stopReceiving()
    }

    func stop() async {
        task.cancel()
        await task.value
        await service.stop()
        await upstream.server.shutdown()
    }

    // MARK: Time

    /// Moves the clock to a China time, waking every job whose time comes, one deadline at a time.
    func advance(to china: String) async { await time.advance(to: ManualTimeSource.chinaInstant(china), sleepers: jobs) }

    func advance(to instant: Date) async { await time.advance(to: instant, sleepers: jobs) }

    func advance(by duration: Duration) async { await time.advance(by: duration, sleepers: jobs) }

    /// Waits (real time, bounded) until every job holds data and the scheduler sleeps again.
    func waitUntilReady() async throws {
        try #require(await time.waitForSleepers(jobs))
        for _ in PollingRounds() { guard !service.status.report().isReady else { break }; try await Task.sleep(for: .milliseconds(10)) }
        try #require(service.status.report().isReady)
    }

    // MARK: Outputs

    var prometheus: [PrometheusPlugin] { service.host.plugins.compactMap { $0 as? PrometheusPlugin } }
    var recorders: [RecordingPlugin] { service.host.plugins.compactMap { $0 as? RecordingPlugin } }

    /// What the `jsonl` plugin wrote so far.
    var jsonlText: String { jsonlFile?.contents ?? "" }
    var jsonlBytes: [UInt8] { jsonlFile?.bytes ?? [] }

    /// What the `statsd` plugin sent so far.
    var statsdDatagrams: [[UInt8]] { statsdListener?.datagrams ?? [] }

    func port(_ plugin: Int = 0) -> UInt16 { prometheus[plugin].boundAddresses[0].port }

    /// Families rendered from the published state (the rest comes from the status board at scrape time).
    static let dataFamilies: Set<String> = ["wechat_portrait_users", "wechat_portrait_data_end_timestamp_seconds", "wechat_portrait_app_info"]

    /// The `/metrics` response of plugin `plugin` once it serves the exporter's current state.
    /// Publication to a plugin is asynchronous, but the snapshot store and the status board are
    /// final once every job sleeps, and the body starts with the data part rendered from the
    /// store's state (`PrometheusPlugin.render`), so wait until it does.
    func settledResponse(_ plugin: Int = 0) async throws -> TestHTTPResponse {
        let want = PrometheusPlugin.render(await service.store.current)
        var last: TestHTTPResponse?
        for _ in PollingRounds() {
            let response = try await TestHTTPClient.request(port: port(plugin), path: "/metrics")
            #expect(response.status == 200)
            last = response
            if response.body.count >= want.count, memcmp(response.body, want, want.count) == 0 { return response }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("plugin \(plugin) never served the current state (\(last?.body.count ?? 0) bytes)")
        return try #require(last)
    }

    /// The body of `settledResponse`.
    func settledMetrics(_ plugin: Int = 0) async throws -> [UInt8] { try await settledResponse(plugin).body }

    /// A settled scrape of plugin `plugin`, parsed by the strict exposition parser.
    func scrape(_ plugin: Int = 0) async throws -> ParsedExposition {
        try ExpositionParser.parse(try await settledMetrics(plugin))
    }

    /// The raw text of a path of plugin `plugin` (landing page, /readyz).
    func page(_ path: String, plugin: Int = 0) async throws -> String {
        try await TestHTTPClient.request(port: port(plugin), path: path).text
    }

    /// Every bucket the simulator serves for `apps` and `windows` (default: the configured ones)
    /// ending on `end`, shaped by `faults`, one entry per upstream bucket (not merged).
    func expectedBuckets(end: ChinaDate, apps: [SimulatedApp]? = nil, windows: [Window]? = nil, shapedBy faults: [Fault] = []) -> [ExpectedBucket] {
        var result: [ExpectedBucket] = []
        for app in apps ?? options.apps {
            for window in windows ?? options.windows {
                let portrait = simulator.expectedPortrait(appid: app.appid, window: window, end: end, shapedBy: faults).portrait
                for segment in Segment.allCases {
                    for dimension in Dimension.allCases {
                        result += portrait[segment, dimension].map {
                            ExpectedBucket(app: app, window: window, segment: segment, dimension: dimension, name: $0.name, id: $0.id, value: $0.value)
                        }
                    }
                }
            }
        }
        return result
    }

    /// Upstream calls so far, per appid.
    func calls(_ app: SimulatedApp) -> SimulatorStats.Calls { simulator.stats().app(app.appid) }
}

/// One bucket of a simulated portrait, with the labels the exporter gives it.
struct ExpectedBucket: Sendable {
    var app: SimulatedApp
    var window: Window
    var segment: Segment
    var dimension: PortraitCore.Dimension
    var name: String
    var id: Int64?
    var value: UInt64

    /// The `bucket_id` label, or "-" where the upstream gives no id.
    var idLabel: String { id.map(String.init) ?? "-" }
}

/// Reading the exporter's families out of a scrape.
extension ParsedExposition {
    func labels(_ app: SimulatedApp, _ window: Window) -> [String: String] { ["app": app.name!, "window": window.rawValue] }

    func up(_ app: SimulatedApp, _ window: Window) -> String? { value("wechat_portrait_up", labels(app, window)) }

    func attempts(_ app: SimulatedApp, _ window: Window) -> Int {
        Int(value("wechat_portrait_fetch_attempts_total", labels(app, window)) ?? "") ?? -1
    }

    func errors(_ app: SimulatedApp, _ window: Window, _ reason: FailureReason) -> Int {
        Int(value("wechat_portrait_fetch_errors_total", labels(app, window).merging(["reason": reason.rawValue]) { $1 }) ?? "") ?? -1
    }

    /// Errors of every reason but `reason`.
    func otherErrors(_ app: SimulatedApp, _ window: Window, except reason: FailureReason?) -> Int {
        FailureReason.allCases.filter { $0 != reason }.reduce(0) { $0 + errors(app, window, $1) }
    }

    func dataEnd(_ app: SimulatedApp, _ window: Window) -> String? {
        value("wechat_portrait_data_end_timestamp_seconds", labels(app, window))
    }

    /// `wechat_portrait_users` series of one app and window, keyed by the rest of their labels.
    func users(_ app: SimulatedApp, _ window: Window) -> [String: String] {
        var result: [String: String] = [:]
        for sample in samples("wechat_portrait_users") where sample.labels["app"] == app.name && sample.labels["window"] == window.rawValue {
            let key = ["segment", "dimension", "bucket", "bucket_id"].map { sample.labels[$0] ?? "-" }.joined(separator: "\u{1}")
            result[key] = sample.value
        }
        return result
    }

    /// Every `wechat_portrait_users` series.
    var allUsers: [String: String] {
        var result: [String: String] = [:]
        for sample in samples("wechat_portrait_users") {
            result[sample.labels.keys.sorted().map { "\($0)=\(sample.labels[$0]!)" }.joined(separator: "\u{1}")] = sample.value
        }
        return result
    }
}

/// `expectExactData` for every app and window of the pipeline (`shapedBy` gives each app's
/// faults); with `up`, every `wechat_portrait_up` is `up`; with `noErrors`, no error of any reason
/// was counted.
func expectAllData(_ exposition: ParsedExposition, _ pipeline: ExporterPipeline, end: ChinaDate, shapedBy faults: (SimulatedApp) -> [Fault] = { _ in [] },
                   up: String? = nil, noErrors: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) {
    for (app, window) in pipeline.appWindows {
        expectExactData(exposition, pipeline, app: app, window: window, end: end, shapedBy: faults(app), sourceLocation: sourceLocation)
        if let up { #expect(exposition.up(app, window) == up, "\(app.name!) \(window)", sourceLocation: sourceLocation) }
        if noErrors { #expect(exposition.otherErrors(app, window, except: nil) == 0, "\(app.name!) \(window)", sourceLocation: sourceLocation) }
    }
}

/// Checks that a scrape holds exactly the simulator's data for one app and window ending on
/// `end` (shaped by `faults`), merged the way the exporter merges buckets with the same labels.
func expectExactData(_ exposition: ParsedExposition, _ pipeline: ExporterPipeline, app: SimulatedApp, window: Window, end: ChinaDate,
                     shapedBy faults: [Fault] = [], sourceLocation: SourceLocation = #_sourceLocation) {
    var want: [String: UInt64] = [:]
    for bucket in pipeline.expectedBuckets(end: end, apps: [app], windows: [window], shapedBy: faults) {
        want[[bucket.segment.rawValue, bucket.dimension.rawValue, bucket.name, bucket.idLabel].joined(separator: "\u{1}"), default: 0] += bucket.value
    }
    let got = exposition.users(app, window).mapValues { UInt64($0) ?? .max }
    #expect(got == want, "\(app.name!) \(window) ending \(end): \(got.count) series, want \(want.count)", sourceLocation: sourceLocation)
    #expect(exposition.dataEnd(app, window) == String(end.midnightUnixSeconds), sourceLocation: sourceLocation)
}

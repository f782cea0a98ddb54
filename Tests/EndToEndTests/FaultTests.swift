@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitJSONL
import PortraitStatsD
import PortraitPrometheus
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

// Upstream faults through the simulator, end to end: simulator on loopback → the real config
// path → ExporterService with the URLSession transport → Prometheus plugin(s) on 127.0.0.1:0,
// all on one manual clock (the simulator decides "today" and readiness from the same clock).
//
// Every fault test shows four things: the last good snapshot keeps being served (users values
// and data_end unchanged), the fault is counted under the right `reason` and reflected in
// `wechat_portrait_up`, the exporter recovers by itself when the fault clears, and the number of
// upstream calls during the fault stays within the bounds the retry policy allows.

/// One exporter against its own simulator, both on free loopback ports, driven by a manual clock.
final class FaultPipeline: Sendable {
    struct Options: Sendable {
        /// China time at which the exporter starts.
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
        /// A JSON-lines file to write (a `jsonl` plugin) and a StatsD address to send to.
        var jsonlPath: String?
        var statsdAddress: String?
    }

    static let apps: [SimulatedApp] = [.demoShop, .demoNews]
    let options: Options
    let time: ManualTimeSource
    let upstream: SimulatedUpstream
    let service: ExporterService
    let sink = RecordingLogSink()
    let task: Task<Void, Never>

    var simulator: WeChatSimulator { upstream.simulator }
    var jobs: Int { Self.apps.count * options.windows.count }
    var policy: SchedulePolicy { service.configuration.schedule }

    static let registry = ExporterRegistry([PrometheusPlugin.factory, RecordingPlugin.factory, JSONLPlugin.factory, StatsDPlugin.factory])

    /// Starts the simulator (`before` may inject faults first), then the exporter; returns once
    /// every job finished its first attempt and sleeps.
    init(_ options: Options = Options(), before: (WeChatSimulator) -> Void = { _ in }) async throws {
        self.options = options
        time = ManualTimeSource(china: options.start)
        // Hung and delayed answers are abandoned by the exporter; stopping need not wait for them.
        upstream = try SimulatedUpstream(time: time, apps: Self.apps) { $0.shutdownGrace = .milliseconds(100) }
        before(upstream.simulator)
        let exporters = Array(repeating: #"{"type":"prometheus","listen":"127.0.0.1:0"}"#, count: options.prometheusPlugins)
            + (0..<options.recordingPlugins).map { #"{"type":"recording","label":"recording\#($0)"}"# }
            + (options.jsonlPath.map { [#"{"type":"jsonl","output":"file","path":"\#($0)"}"#] } ?? [])
            + (options.statsdAddress.map { [#"{"type":"statsd","address":"\#($0)","interval_seconds":0}"#] } ?? [])
        let config = """
        {"upstream":{"base_url":"\(upstream.baseURL)","timeout_seconds":\(options.timeoutSeconds)},
         "schedule":{"stagger_seconds":0,"max_concurrent_fetches":\(options.maxConcurrentFetches)},
         "apps":[\(Self.apps.map { #"{"name":"\#($0.name!)","appid":"\#($0.appid)","secret_env":"SECRET_\#($0.name!)"}"# }.joined(separator: ","))],
         "windows":[\(options.windows.map { "\"\($0.rawValue)\"" }.joined(separator: ","))],
         "exporters":[\(exporters.joined(separator: ","))]}
        """
        var environment = ConfigEnvironment.process
        for app in Self.apps { environment.variables["SECRET_\(app.name!)"] = app.secret }
        let configuration = try Configuration.load(Array(config.utf8), registry: Self.registry, environment: environment)
        let logger = Logger(level: .debug, sink: sink, clock: time)
        // As `Runtime.runExporter` builds it.
        service = ExporterService(configuration: configuration, transport: URLSessionTransport(requestTimeout: configuration.upstream.timeout),
                                  time: time, logger: logger)
        try await service.start()
        let service = self.service
        task = Task { await service.run() }
        try #require(await time.waitForSleepers(jobs, timeout: .seconds(30)), "the first attempts never finished")
        let failed = sink.lines(containing: "fetch failed")
        try #require(failed.isEmpty, "a first attempt failed: \(failed)")
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

    // MARK: Outputs

    var prometheus: [PrometheusPlugin] { service.host.plugins.compactMap { $0 as? PrometheusPlugin } }
    var recorders: [RecordingPlugin] { service.host.plugins.compactMap { $0 as? RecordingPlugin } }

    func port(_ plugin: Int = 0) -> UInt16 { prometheus[plugin].boundAddresses[0].port }

    /// Families rendered from the published state (the rest comes from the status board at scrape time).
    static let dataFamilies: Set<String> = ["wechat_portrait_users", "wechat_portrait_data_end_timestamp_seconds", "wechat_portrait_app_info"]

    /// `/metrics` of plugin `plugin` once it serves the exporter's current state. Publication to
    /// a plugin is asynchronous, but the snapshot store and the status board are final once every
    /// job sleeps, and the body starts with the data part rendered from the store's state
    /// (`PrometheusPlugin.render`), so wait until it does.
    func settledMetrics(_ plugin: Int = 0) async throws -> [UInt8] {
        let want = PrometheusPlugin.render(await service.store.current)
        var last: [UInt8] = []
        for _ in PollingRounds() {
            let response = try await TestHTTPClient.request(port: port(plugin), path: "/metrics")
            #expect(response.status == 200)
            last = response.body
            if last.count >= want.count, memcmp(last, want, want.count) == 0 { return last }
            try await Task.sleep(for: .milliseconds(5))
        }
        Issue.record("plugin \(plugin) never served the current state (\(last.count) bytes)")
        return last
    }

    /// A settled scrape of plugin `plugin`, parsed by the strict exposition parser.
    func scrape(_ plugin: Int = 0) async throws -> ParsedExposition {
        try ExpositionParser.parse(try await settledMetrics(plugin))
    }

    /// The raw text of a path of plugin `plugin` (landing page, /readyz).
    func page(_ path: String, plugin: Int = 0) async throws -> String {
        try await TestHTTPClient.request(port: port(plugin), path: path).text
    }

    /// Upstream calls so far, per appid.
    func calls(_ app: SimulatedApp) -> SimulatorStats.Calls { simulator.stats().app(app.appid) }
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

/// Checks that a scrape holds exactly the simulator's data for one app and window ending on
/// `end` (shaped by `faults`), merged the way the exporter merges buckets with the same labels.
func expectExactData(_ exposition: ParsedExposition, _ pipeline: FaultPipeline, app: SimulatedApp, window: Window, end: ChinaDate,
                     shapedBy faults: [Fault] = [], sourceLocation: SourceLocation = #_sourceLocation) {
    let expected = pipeline.simulator.expectedPortrait(appid: app.appid, window: window, end: end, shapedBy: faults).portrait
    var want: [String: UInt64] = [:]
    for segment in Segment.allCases {
        for dimension in Dimension.allCases {
            for bucket in expected[segment, dimension] {
                let key = [segment.rawValue, dimension.rawValue, bucket.name, bucket.id.map(String.init) ?? "-"].joined(separator: "\u{1}")
                want[key, default: 0] += bucket.value
            }
        }
    }
    let got = exposition.users(app, window).mapValues { UInt64($0) ?? .max }
    #expect(got == want, "\(app.name!) \(window) ending \(end): \(got.count) series, want \(want.count)", sourceLocation: sourceLocation)
    #expect(exposition.dataEnd(app, window) == String(end.midnightUnixSeconds), sourceLocation: sourceLocation)
}

/// One upstream failure, how the exporter must classify it, and how it may retry.
struct FailureCase: Sendable, CustomTestStringConvertible {
    var name: String
    /// Injected at 09:59 China time on 2026-03-02, just before the day's fetch.
    var injection: FaultInjection
    var reason: FailureReason
    /// `wechat_portrait_up` while the fault lasts.
    var up: String = "0"
    /// Portrait calls per attempt (a token error costs one refresh and one retry).
    var callsPerAttempt = 1
    var testDescription: String { name }

    var retryClass: RetryClass { FetchFailure(reason: reason, errcode: injection.fault.upstreamErrcode, message: "").retryClass }

    static let all: [FailureCase] = [
        FailureCase(name: "errcode -1 (system busy): upstream_error, backoff", injection: FaultInjection(.errcode(-1)), reason: .upstreamError),
        FailureCase(name: "45011 (minute limit): rate_limited, at least a minute", injection: FaultInjection(.errcode(45011)), reason: .rateLimited),
        FailureCase(name: "45009 (daily quota) until the China day ends: quota, nothing until the next day",
                    injection: FaultInjection(.errcode(45009), until: ChinaDate(iso: "2026-03-03")!.midnight), reason: .quota),
        FailureCase(name: "40164 (IP not whitelisted): config, hourly", injection: FaultInjection(.errcode(40164)), reason: .config),
        FailureCase(name: "61503 until 11:15 China time: not_ready, up stays 1, every 30 minutes",
                    injection: FaultInjection(.notReady(readyAt: nil), until: ManualTimeSource.chinaInstant("2026-03-02 11:15")),
                    reason: .notReady, up: "1"),
        FailureCase(name: "HTTP 502 with an HTML body: http, backoff", injection: FaultInjection(.badGateway), reason: .http),
        FailureCase(name: "HTTP 200 with an HTML body: decode, backoff", injection: FaultInjection(.nonJSON), reason: .decode),
        FailureCase(name: "JSON cut in half, connection closed: decode, backoff", injection: FaultInjection(.truncatedJSON), reason: .decode),
        FailureCase(name: "40001 on every call (token never accepted): token, one refresh and one retry per attempt",
                    injection: FaultInjection(.errcode(40001)), reason: .token, callsPerAttempt: 2),
    ]
}

extension Fault {
    /// The errcode the upstream answers with under this fault, if any.
    var upstreamErrcode: Int? {
        switch self {
        case .errcode(let code, _): code
        case .notReady: 61503
        default: nil
        }
    }
}

@Suite("Faults: upstream failures", .timeLimit(.minutes(5)))
struct FaultTests {
    static let faultStart = "2026-03-02 10:00"
    static let faultEnd = "2026-03-02 11:00"
    static let yesterday = ChinaDate(iso: "2026-02-28")!
    static let today = ChinaDate(iso: "2026-03-01")!

    /// The China day before `iso`.
    static func yesterdayOf(_ iso: String) -> ChinaDate { ChinaDate(iso: iso)!.adding(days: -1) }

    @Test("keeps serving, counts the reason, retries within the policy, recovers by itself", arguments: FailureCase.all)
    func failure(_ scenario: FailureCase) async throws {
        let p = try await FaultPipeline()
        let before = try await p.scrape()
        for app in FaultPipeline.apps {
            for window in Window.allCases { expectExactData(before, p, app: app, window: window, end: Self.yesterday) }
        }
        let callsBefore = FaultPipeline.apps.map { p.calls($0).portrait }

        // The fault starts just before the day's fetch at 10:00; look at its first hour.
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(scenario.injection)
        await p.advance(to: Self.faultEnd)
        let during = try await p.scrape()

        let start = ManualTimeSource.chinaInstant(Self.faultStart)
        let bounds = RetrySchedule.callBounds(scenario.retryClass, from: start, over: .seconds(3600), policy: p.policy)
        for (index, app) in FaultPipeline.apps.enumerated() {
            var attemptsOfApp = 0
            for window in Window.allCases {
                let label = "\(app.name!) \(window)"
                // The last good snapshot is still served, unchanged.
                #expect(during.users(app, window) == before.users(app, window), "\(label): data changed")
                #expect(during.dataEnd(app, window) == before.dataEnd(app, window), "\(label)")
                #expect(during.up(app, window) == scenario.up, "\(label)")
                // Every attempt since 10:00 failed with this reason, and no other reason appeared.
                let attempts = during.attempts(app, window) - before.attempts(app, window)
                #expect(bounds.contains(attempts), "\(label): \(attempts) attempts in 1 h, the policy allows \(bounds)")
                #expect(during.errors(app, window, scenario.reason) == attempts, "\(label)")
                #expect(during.otherErrors(app, window, except: scenario.reason) == 0, "\(label)")
                attemptsOfApp += attempts
            }
            // What the upstream saw agrees: no hidden calls.
            #expect(p.calls(app).portrait - callsBefore[index] == attemptsOfApp * scenario.callsPerAttempt, "\(app.name!)")
        }
        // Each job logged the failure once, with its reason.
        let failed = p.sink.lines(containing: "fetch failed")
        #expect(failed.count == p.jobs, "\(failed)")
        #expect(failed.allSatisfy { $0.contains("reason=\(scenario.reason.rawValue)") })
        if let errcode = scenario.injection.fault.upstreamErrcode { #expect(failed.allSatisfy { $0.contains("errcode=\(errcode)") }) }
        if scenario.injection.fault.upstreamErrcode == 40164 {
            // WeChat's message names the address to whitelist; the log keeps it.
            #expect(failed.allSatisfy { $0.contains("invalid ip 127.0.0.1") }, "\(failed)")
        }
        #expect(try await p.page("/").contains("<td>\(scenario.reason.rawValue)</td>"))

        // The fault clears (by itself when it has an end); every job recovers by its next attempt.
        if scenario.injection.until == nil { p.simulator.clearFaults() }
        let now = p.time.now()
        await p.advance(to: max(RetrySchedule.latestRetry(scenario.retryClass, after: now, policy: p.policy), scenario.injection.until ?? now)
            .addingTimeInterval(1))
        let after = try await p.scrape()
        let newest = FetchPlan.target(at: p.time.now(), policy: p.policy)
        #expect(newest == Self.today)
        for app in FaultPipeline.apps {
            for window in Window.allCases {
                expectExactData(after, p, app: app, window: window, end: Self.today)
                #expect(after.up(app, window) == "1")
            }
        }
        #expect(p.sink.lines(containing: "fetch recovered").count == p.jobs)
        await p.stop()
    }

    @Test("errcode -1 on every 3rd call: exactly those calls fail, each failed job retries once, all get the new day")
    func everyThirdCall() async throws {
        let p = try await FaultPipeline()
        let callsBefore = p.simulator.stats().total.portrait
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(.errcode(-1), every: 3)
        // The six 10:00 calls: #3 and #6 fail; their jobs retry 15–30 s later (calls #7, #8) and succeed.
        await p.advance(to: "2026-03-02 10:00:14")
        var scraped = try await p.scrape()
        #expect(p.simulator.stats().total.portrait - callsBefore == 6)
        let failed = FaultPipeline.apps.flatMap { app in Window.allCases.filter { scraped.errors(app, $0, .upstreamError) == 1 }.map { (app, $0) } }
        #expect(failed.count == 2)
        for (app, window) in failed { #expect(scraped.up(app, window) == "0") }
        await p.advance(to: "2026-03-02 10:00:30")
        scraped = try await p.scrape()
        #expect(p.simulator.stats().total.portrait - callsBefore == 8)
        #expect(p.simulator.stats().total.portraitErrors == [-1: 2])
        for app in FaultPipeline.apps {
            for window in Window.allCases {
                expectExactData(scraped, p, app: app, window: window, end: Self.today)
                #expect(scraped.up(app, window) == "1")
                #expect(scraped.errors(app, window, .upstreamError) == (failed.contains { $0 == (app, window) } ? 1 : 0))
            }
        }
        // Nothing more that day.
        await p.advance(to: "2026-03-02 23:59")
        #expect(p.simulator.stats().total.portrait - callsBefore == 8)
        await p.stop()
    }
}

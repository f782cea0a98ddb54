import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import PortraitPrometheus

/// End-to-end over loopback: a real plugin, a real server, a blocking socket client.
@Suite("Prometheus plugin over loopback", .serialized, .timeLimit(.minutes(5)))
struct PrometheusPluginTests {
    /// A running plugin on 127.0.0.1 with a free port, its board and its port.
    struct Running {
        let plugin: PrometheusPlugin
        let board: StatusBoard
        let port: UInt16

        func get(_ path: String, method: String = "GET") async throws -> TestHTTPResponse {
            try await TestHTTPClient.request(port: port, method: method, path: path)
        }
    }

    static let apps = [Fixtures.shop, Fixtures.blog]
    static let windows: [Window] = [.day1, .day7]

    func start(
        apps: [AppIdentity] = PrometheusPluginTests.apps, windows: [Window] = PrometheusPluginTests.windows,
        configure: (inout PrometheusPlugin.Configuration) -> Void = { _ in },
        selfMetrics: SelfMetricsRegistry = SelfMetricsRegistry()
    ) async throws -> Running {
        var configuration = PrometheusPlugin.Configuration(listen: [try ListenAddress(parsing: "127.0.0.1:0")])
        configure(&configuration)
        let plugin = PrometheusPlugin(configuration: configuration)
        let board = StatusBoard(apps: apps, windows: windows, startedAt: Date())
        try await plugin.start(context: Fixtures.context(board: board, selfMetrics: selfMetrics))
        let port = try #require(plugin.boundAddresses.first?.port)
        #expect(port != 0)
        return Running(plugin: plugin, board: board, port: port)
    }

    func fullState() -> PortraitState {
        var other = Fixtures.smallPortrait()
        other[.active, .city] = [Bucket(id: 3102, name: "广州", value: 44), Bucket(id: 3102, name: "广州", value: 1)]
        let snapshots = [
            Fixtures.snapshot(Fixtures.shop, .day1, Fixtures.smallPortrait()),
            Fixtures.snapshot(Fixtures.shop, .day7, other),
            Fixtures.snapshot(Fixtures.blog, .day1, other),
        ]
        return Fixtures.state(snapshots, apps: Self.apps, windows: Self.windows)
    }

    @Test("GET /metrics serves exactly the snapshot's values")
    func metrics() async throws {
        let running = try await start()
        let state = fullState()
        await running.plugin.publish(state)
        let response = try await running.get("/metrics")
        await running.plugin.stop()

        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let parsed = try ExpositionParser.parse(response.body)
        var expected: [String: String] = [:]
        for snapshot in state.snapshots.values {
            for segment in Segment.allCases {
                for dimension in Dimension.allCases {
                    for bucket in snapshot.portrait[segment, dimension] {
                        let key = [snapshot.app.name, snapshot.window.rawValue, segment.rawValue, dimension.rawValue, bucket.name, bucket.id.map(String.init) ?? "-"].joined(separator: "|")
                        expected[key] = String((UInt64(expected[key] ?? "0") ?? 0) + bucket.value)
                    }
                }
            }
        }
        var served: [String: String] = [:]
        for sample in parsed.samples("wechat_portrait_users") {
            let l = sample.labels
            served[[l["app"]!, l["window"]!, l["segment"]!, l["dimension"]!, l["bucket"]!, l["bucket_id"] ?? "-"].joined(separator: "|")] = sample.value
        }
        #expect(served == expected)
        #expect(parsed.value("wechat_portrait_users", ["app": "blog", "window": "1d", "segment": "active", "dimension": "city", "bucket": "广州", "bucket_id": "3102"]) == "45")
        #expect(parsed.value("wechat_portrait_exposition_series") == String(served.count))
        #expect(parsed.value("wechat_portrait_build_info", ["version": "1.2.3", "swift_version": "6.3"]) == "1")
        #expect(parsed.value("wechat_portrait_ready") == "0")
        #expect(parsed.samples("wechat_portrait_up").count == 4)
        #expect(parsed.types["wechat_portrait_http_requests_total"] == "counter")
        #expect(parsed.types["process_resident_memory_bytes"] == "gauge")
        #expect(parsed.samples("wechat_portrait_data_end_timestamp_seconds").count == 3)
    }

    @Test("HEAD /metrics: same headers, no body")
    func head() async throws {
        let running = try await start { $0.counterRefreshInterval = .seconds(60) }
        await running.plugin.publish(fullState())
        let get = try await running.get("/metrics")
        let head = try await running.get("/metrics", method: "HEAD")
        await running.plugin.stop()
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        #expect(head.header("Content-Length") == String(get.body.count))
        #expect(head.header("Content-Type") == get.header("Content-Type"))
    }

    @Test("/healthz, 404 and 405")
    func smallEndpoints() async throws {
        let running = try await start()
        let health = try await running.get("/healthz")
        let missing = try await running.get("/nope")
        let nested = try await running.get("/metrics/extra")
        let post = try await running.get("/metrics", method: "POST")
        let delete = try await running.get("/healthz", method: "DELETE")
        let withQuery = try await running.get("/healthz?verbose=1")
        await running.plugin.stop()
        #expect(health.status == 200)
        #expect(health.text == "ok\n")
        #expect(withQuery.status == 200)
        #expect(missing.status == 404)
        #expect(nested.status == 404)
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        #expect(delete.status == 405)
        #expect(delete.header("Allow") == "GET, HEAD")
    }

    @Test("/readyz is 503 naming what is missing until every job has data, then 200")
    func readyz() async throws {
        let running = try await start()
        let before = try await running.get("/readyz")
        #expect(before.status == 503)
        #expect(before.text.contains("blog/1d"))
        #expect(before.text.contains("shop/7d"))

        func state(_ apps: [AppIdentity]) -> PortraitState {
            Fixtures.state(apps.flatMap { app in Self.windows.map { Fixtures.snapshot(app, $0, Fixtures.smallPortrait()) } },
                           apps: Self.apps, windows: Self.windows)
        }
        Fixtures.markAllSucceeded(running.board, apps: [Fixtures.shop], windows: Self.windows)
        await running.plugin.publish(state([Fixtures.shop]))
        let partial = try await running.get("/readyz")
        #expect(partial.status == 503)
        #expect(partial.text.contains("blog/7d"))
        #expect(!partial.text.contains("shop"))

        // The board knows of blog's data before its state reaches the plugin: /readyz waits for
        // the exposition, so a 200 always means the next scrape has every series.
        Fixtures.markAllSucceeded(running.board, apps: [Fixtures.blog], windows: Self.windows)
        let boardOnly = try await running.get("/readyz")
        #expect(boardOnly.status == 503)
        #expect(boardOnly.text.contains("blog/1d") && boardOnly.text.contains("blog/7d"))
        #expect(!boardOnly.text.contains("shop"))

        await running.plugin.publish(state([Fixtures.shop, Fixtures.blog]))
        let after = try await running.get("/readyz")
        let metrics = try ExpositionParser.parse(try await running.get("/metrics").body)
        await running.plugin.stop()
        #expect(after.status == 200)
        #expect(metrics.value("wechat_portrait_ready") == "1")
        #expect(metrics.samples("wechat_portrait_up").allSatisfy { $0.value == "1" })
        #expect(metrics.samples("wechat_portrait_last_success_timestamp_seconds").count == 4)
        #expect(metrics.samples("wechat_portrait_data_end_timestamp_seconds").count == 4)
    }

    @Test("landing page links the endpoints and HTML-escapes app names")
    func landing() async throws {
        let evil = AppIdentity(name: "<b>&\"shop'</b>", appid: "wx<script>")
        let running = try await start(apps: [evil, Fixtures.blog], windows: [.day30])
        running.board.recordFailure(SnapshotKey(app: evil.name, window: .day30), reason: .rateLimited, duration: 1)
        running.board.recordNextAttempt(SnapshotKey(app: evil.name, window: .day30), at: Date(timeIntervalSince1970: 1_800_000_000))
        let page = try await running.get("/")
        await running.plugin.stop()
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        let html = page.text
        #expect(html.contains("&lt;b&gt;&amp;&quot;shop&#39;&lt;/b&gt;"))
        #expect(html.contains("wx&lt;script&gt;"))
        #expect(!html.contains("<b>"))
        #expect(!html.contains("<script>"))
        #expect(html.contains("blog"))
        #expect(html.contains("href=\"/metrics\""))
        #expect(html.contains("href=\"/readyz\""))
        #expect(html.contains("1.2.3"))
        #expect(html.contains("rate_limited"))
        #expect(html.contains("2027-01-15T08:00:00.000Z"))
    }

    @Test("a scrape serves cached bytes: no re-render, byte-identical bodies")
    func scrapeDoesNotRender() async throws {
        let running = try await start { $0.counterRefreshInterval = .seconds(60) }
        await running.plugin.publish(fullState())
        // The gzip copy is made in the background; let it land so the counts stay still.
        await running.plugin.endpoint.gzipSettled()
        let first = try await running.get("/metrics")
        let countsAfterFirst = running.plugin.endpoint.renderCounts
        let second = try await running.get("/metrics")
        let third = try await running.get("/metrics")
        let countsAfterThird = running.plugin.endpoint.renderCounts
        #expect(first.body == second.body)
        #expect(second.body == third.body)
        #expect(countsAfterThird == countsAfterFirst)
        #expect(countsAfterFirst.data == 1)

        // A status change re-renders the status part only.
        running.board.recordAttemptStarted(SnapshotKey(app: "shop", window: .day1), at: Date())
        let fourth = try await running.get("/metrics")
        let countsAfterStatus = running.plugin.endpoint.renderCounts
        #expect(fourth.body != third.body)
        #expect(countsAfterStatus.data == 1)
        #expect(countsAfterStatus.status == countsAfterThird.status + 1)
        #expect(countsAfterStatus.counters == countsAfterThird.counters)

        // A new state re-renders the data part once; the cached status part is reused.
        var state = fullState()
        state.generation += 1
        state.snapshots[SnapshotKey(app: "shop", window: .day1)]?.portrait[.new, .age] = [Bucket(id: 9, name: "60岁以上", value: 12)]
        await running.plugin.publish(state)
        // The gzip copy is made in the background; let it land so the counts stay still.
        await running.plugin.endpoint.gzipSettled()
        let fifth = try await running.get("/metrics")
        let countsAfterPublish = running.plugin.endpoint.renderCounts
        await running.plugin.stop()
        #expect(countsAfterPublish.data == 2)
        #expect(countsAfterPublish.status == countsAfterStatus.status)
        #expect(fifth.text.contains(#"bucket="60岁以上",bucket_id="9"} 12"#))
        #expect(!fourth.text.contains("60岁以上"))
    }

    @Test("cheap counters refresh after the refresh interval without re-rendering the data")
    func countersRefresh() async throws {
        let running = try await start { $0.counterRefreshInterval = .milliseconds(50) }
        await running.plugin.publish(fullState())
        let first = try ExpositionParser.parse(try await running.get("/metrics").body)
        try await Task.sleep(for: .milliseconds(120))
        let second = try ExpositionParser.parse(try await running.get("/metrics").body)
        let counts = running.plugin.endpoint.renderCounts
        await running.plugin.stop()
        let before = Int(first.value("wechat_portrait_http_requests_total", ["code": "2xx"]) ?? "") ?? -1
        let after = Int(second.value("wechat_portrait_http_requests_total", ["code": "2xx"]) ?? "") ?? -1
        #expect(after > before)
        #expect(counts.data == 1)
        #expect(counts.counters >= 2)
    }

    @Test("a silent connection evicted at max_connections is counted in the scrape that evicted it")
    func evictedConnections() async throws {
        let running = try await start {
            $0.maxConnections = 2
            $0.counterRefreshInterval = .zero
        }
        // Two clients that never send a byte fill the cap; the scrape's connection, accepted after
        // them, evicts the longest-idle one before its request is read.
        // (A loopback connect to a listening socket completes at once: nothing here blocks.)
        let silent = try (0..<2).map { _ in try TestConnection(port: running.port) }
        defer { withExtendedLifetime(silent) {} }
        let scrape = try await running.get("/metrics")
        await running.plugin.stop()
        #expect(scrape.status == 200)
        let parsed = try ExpositionParser.parse(scrape.body)
        #expect(parsed.types["wechat_portrait_http_connections_evicted_total"] == "counter")
        #expect(parsed.value("wechat_portrait_http_connections_evicted_total") == "1")
        #expect(parsed.value("wechat_portrait_http_connections_rejected_total") == "0")
    }

    @Test("other plugins' self metrics appear in the scrape")
    func selfMetricsServed() async throws {
        let registry = SelfMetricsRegistry()
        registry.register {
            [SelfMetricFamily(name: "wechat_portrait_jsonl_records_total", help: "JSON lines written.", kind: .counter,
                              samples: [(labels: [("plugin", "jsonl")], value: 17)])]
        }
        let running = try await start(selfMetrics: registry)
        let parsed = try ExpositionParser.parse(try await running.get("/metrics").body)
        await running.plugin.stop()
        #expect(parsed.value("wechat_portrait_jsonl_records_total", ["plugin": "jsonl"]) == "17")
    }

    @Test("metrics_path from the config is served; /metrics then is 404")
    func customPath() async throws {
        let running = try await start { $0.metricsPath = "/portrait" }
        let custom = try await running.get("/portrait")
        let standard = try await running.get("/metrics")
        let landing = try await running.get("/")
        await running.plugin.stop()
        #expect(custom.status == 200)
        #expect(standard.status == 404)
        #expect(landing.text.contains("href=\"/portrait\""))
    }

    @Test("a bind failure names the address; stop releases the port")
    func bindFailure() async throws {
        let running = try await start()
        var configuration = PrometheusPlugin.Configuration(listen: [try ListenAddress(parsing: "127.0.0.1:\(running.port)")])
        configuration.metricsPath = "/metrics"
        let second = PrometheusPlugin(name: "prometheus#3", configuration: configuration)
        let board = StatusBoard(apps: [], windows: [], startedAt: Date())
        do {
            try await second.start(context: Fixtures.context(board: board))
            Issue.record("second bind on the same port succeeded")
            await second.stop()
        } catch {
            let text = String(describing: error)
            #expect(text.contains("127.0.0.1:\(running.port)"), "\(text)")
            #expect(text.contains("prometheus#3"))
        }
        await running.plugin.stop()
        #expect(running.plugin.boundAddresses.isEmpty)
        await #expect(throws: TestHTTPError.self) { try await running.get("/healthz") }
    }

    @Test("promtool check metrics accepts a real scrape without errors or lint warnings")
    func promtool() async throws {
        guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "check the exposition with promtool") else { return }
        let registry = SelfMetricsRegistry()
        registry.register {
            [SelfMetricFamily(name: "wechat_portrait_jsonl_records_total", help: "JSON lines written.", kind: .counter,
                              samples: [(labels: [("plugin", "jsonl")], value: 17)])]
        }
        let running = try await start(selfMetrics: registry)
        var state = fullState()
        var hostile = Portrait()
        hostile[.new, .city] = [Bucket(id: 1, name: "a\"b\\c\nd\te", value: 1), Bucket(id: 2, name: "🐼|:#,=;@", value: 2), Bucket(id: 3, name: "", value: 3)]
        hostile[.active, .device] = [Bucket(id: nil, name: "x\"y", value: 4), Bucket(id: nil, name: "x\"y", value: 5)]
        state.snapshots[SnapshotKey(app: "blog", window: .day7)] = Fixtures.snapshot(Fixtures.blog, .day7, hostile)
        await running.plugin.publish(state)
        Fixtures.markAllSucceeded(running.board, apps: Self.apps, windows: Self.windows)
        running.board.recordFailure(SnapshotKey(app: "shop", window: .day1), reason: .timeout, duration: 10)
        running.board.recordFailure(SnapshotKey(app: "blog", window: .day7), reason: .quota, errcode: 45009, duration: 0.1)
        running.board.recordNextAttempt(SnapshotKey(app: "blog", window: .day7), at: Date(timeIntervalSince1970: 1_717_257_600.125))
        running.board.recordTokenRefresh(app: "blog", result: .success)
        running.board.recordTokenExpiry(appid: Fixtures.blog.appid, at: Date(timeIntervalSince1970: 1_717_232_400))
        _ = try await running.get("/healthz")
        let scrape = try await running.get("/metrics")
        await running.plugin.stop()
        #expect(scrape.status == 200)
        _ = try ExpositionParser.parse(scrape.body)

        let result = try await Subprocess.run(promtool, ["check", "metrics"], input: scrape.body)
        #expect(result.status == 0, "promtool exit \(result.status): \(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool said: \(result.output)")
    }
}

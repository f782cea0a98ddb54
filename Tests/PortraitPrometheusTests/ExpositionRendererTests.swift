import Foundation
import PortraitCore
import PortraitTestKit
import Testing
@testable import PortraitPrometheus

@Suite("Exposition renderer")
struct ExpositionRendererTests {
    @Test("a small state renders exactly the expected text")
    func golden() throws {
        let state = Fixtures.state([Fixtures.snapshot(.init(name: "shop", appid: "wx00000000000000a1"), .day7, Fixtures.smallPortrait())])
        let board = StatusBoard(apps: [Fixtures.shop], windows: [.day7], startedAt: Fixtures.fetchedAt)
        let key = SnapshotKey(app: "shop", window: .day7)
        board.recordAttemptStarted(key, at: Fixtures.fetchedAt)
        board.recordFailure(key, reason: .notReady, duration: 0.125)
        board.recordAttemptStarted(key, at: Fixtures.fetchedAt)
        board.recordSuccess(key, dataEnd: Fixtures.endDate, duration: 1.5, at: Date(timeIntervalSince1970: 1_717_225_200.25))
        board.recordTokenRefresh(app: "shop", result: .success)
        board.recordNextAttempt(key, at: Date(timeIntervalSince1970: 1_717_236_000))
        board.recordTokenExpiry(appid: "wx00000000000000a1", at: Date(timeIntervalSince1970: 1_717_232_400.5))

        let text = PrometheusPlugin.render(state, report: board.report(), build: Fixtures.build).text
        let expected = #"""
        # HELP wechat_portrait_build_info Always 1; the labels carry the exporter version and the Swift compiler it was built with.
        # TYPE wechat_portrait_build_info gauge
        wechat_portrait_build_info{version="1.2.3",swift_version="6.3"} 1
        # HELP wechat_portrait_app_info Always 1; maps the app label to the WeChat appid of each configured mini program.
        # TYPE wechat_portrait_app_info gauge
        wechat_portrait_app_info{app="shop",appid="wx00000000000000a1"} 1
        # HELP wechat_portrait_data_end_timestamp_seconds Start (00:00 China time, as Unix seconds) of the last day covered by the portrait data currently served.
        # TYPE wechat_portrait_data_end_timestamp_seconds gauge
        wechat_portrait_data_end_timestamp_seconds{app="shop",window="7d"} 1717171200
        # HELP wechat_portrait_users Distinct users of a mini program per portrait bucket: segment new = first visit in the window, active = visited in the window. Fetched from WeChat getUserPortrait in the background and cached; scrapes never call WeChat.
        # TYPE wechat_portrait_users gauge
        wechat_portrait_users{app="shop",window="7d",segment="new",dimension="province",bucket="广东省",bucket_id="31"} 215
        wechat_portrait_users{app="shop",window="7d",segment="new",dimension="province",bucket="北京",bucket_id="2"} 7
        wechat_portrait_users{app="shop",window="7d",segment="new",dimension="device",bucket="OPPO R9"} 61
        wechat_portrait_users{app="shop",window="7d",segment="active",dimension="gender",bucket="男",bucket_id="1"} 100
        wechat_portrait_users{app="shop",window="7d",segment="active",dimension="gender",bucket="女",bucket_id="2"} 50
        wechat_portrait_users{app="shop",window="7d",segment="active",dimension="age",bucket="17岁以下",bucket_id="1"} 3
        # HELP wechat_portrait_exposition_series Number of wechat_portrait_users series in the current exposition.
        # TYPE wechat_portrait_exposition_series gauge
        wechat_portrait_exposition_series 6
        # HELP wechat_portrait_ready 1 once every configured app has data for every configured window, else 0 (/readyz also waits until that data is in the exposition).
        # TYPE wechat_portrait_ready gauge
        wechat_portrait_ready 1
        # HELP wechat_portrait_up 1 when the last fetch succeeded (or found only that new data is not ready yet while older data is served), else 0.
        # TYPE wechat_portrait_up gauge
        wechat_portrait_up{app="shop",window="7d"} 1
        # HELP wechat_portrait_last_success_timestamp_seconds Unix time of the last successful getUserPortrait fetch.
        # TYPE wechat_portrait_last_success_timestamp_seconds gauge
        wechat_portrait_last_success_timestamp_seconds{app="shop",window="7d"} 1717225200.25
        # HELP wechat_portrait_fetch_attempts_total getUserPortrait calls started, token retries included.
        # TYPE wechat_portrait_fetch_attempts_total counter
        wechat_portrait_fetch_attempts_total{app="shop",window="7d"} 2
        # HELP wechat_portrait_fetch_errors_total Failed getUserPortrait calls by reason (token, quota, rate_limited, not_ready, upstream_error, config, http, timeout, decode, network).
        # TYPE wechat_portrait_fetch_errors_total counter
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="token"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="quota"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="rate_limited"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="not_ready"} 1
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="upstream_error"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="config"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="http"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="timeout"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="decode"} 0
        wechat_portrait_fetch_errors_total{app="shop",window="7d",reason="network"} 0
        # HELP wechat_portrait_last_errcode WeChat errcode of the last attempt if it failed (the token endpoint's when no token could be had); -2 for a failure without one (timeout, HTTP status, network, undecodable or empty answer); 0 after a success.
        # TYPE wechat_portrait_last_errcode gauge
        wechat_portrait_last_errcode{app="shop",window="7d"} 0
        # HELP wechat_portrait_last_fetch_duration_seconds Wall time of the last finished getUserPortrait call, in seconds.
        # TYPE wechat_portrait_last_fetch_duration_seconds gauge
        wechat_portrait_last_fetch_duration_seconds{app="shop",window="7d"} 1.5
        # HELP wechat_portrait_next_attempt_timestamp_seconds Unix time at which the scheduler next calls getUserPortrait for the app and window (ready time, retry, backoff or quota wait); while a call is due or in flight, the time it became due.
        # TYPE wechat_portrait_next_attempt_timestamp_seconds gauge
        wechat_portrait_next_attempt_timestamp_seconds{app="shop",window="7d"} 1717236000
        # HELP wechat_portrait_token_refreshes_total Access-token refreshes by result (success, failure).
        # TYPE wechat_portrait_token_refreshes_total counter
        wechat_portrait_token_refreshes_total{app="shop",result="success"} 1
        wechat_portrait_token_refreshes_total{app="shop",result="failure"} 0
        # HELP wechat_portrait_token_expiry_timestamp_seconds Unix time at which the app's cached access token expires (absent while none is cached and for token files). Tokens are refreshed when a fetch needs one, so a past time between fetches is normal.
        # TYPE wechat_portrait_token_expiry_timestamp_seconds gauge
        wechat_portrait_token_expiry_timestamp_seconds{app="shop"} 1717232400.5

        """#
        #expect(text == expected)
        _ = try ExpositionParser.parse(Array(text.utf8))
    }

    @Test("data end timestamp is 00:00 China time of the window's last day")
    func dataEnd() throws {
        // 2024-06-01 00:00 +08:00 = 2024-05-31T16:00:00Z.
        #expect(Fixtures.endDate.midnightUnixSeconds == 1_717_171_200)
        let parsed = try ExpositionParser.parse(PrometheusPlugin.render(Fixtures.state([Fixtures.snapshot(.day30, Fixtures.smallPortrait())])))
        #expect(parsed.value("wechat_portrait_data_end_timestamp_seconds", ["app": "shop", "window": "30d"]) == "1717171200")
    }

    @Test("hostile bucket names are escaped and still parse")
    func hostileNames() throws {
        let names = [
            #"quote " inside"#, #"back\slash"#, "new\nline", "tab\there", "cr\rhere", "|:#,=;@ {}", "emoji 🐼👩‍👩‍👧", #"\"#, #"""#,
            "\n", #"\n literal"#, String(repeating: "长", count: 300), "", "trailing \\",
        ]
        var portrait = Portrait()
        portrait[.new, .city] = names.enumerated().map { Bucket(id: Int64($0.offset + 1), name: $0.element, value: UInt64($0.offset + 10)) }
        portrait[.active, .device] = names.enumerated().map { Bucket(id: nil, name: $0.element, value: UInt64($0.offset + 100)) }
        let app = AppIdentity(name: "we\"ird\\app\nname", appid: "wx\"1")
        let bytes = PrometheusPlugin.render(Fixtures.state([Fixtures.snapshot(app, .day1, portrait)]))
        let parsed = try ExpositionParser.parse(bytes)

        let cities = parsed.samples("wechat_portrait_users").filter { $0.labels["dimension"] == "city" }
        let devices = parsed.samples("wechat_portrait_users").filter { $0.labels["dimension"] == "device" }
        #expect(cities.count == names.count)
        #expect(devices.count == names.count)
        for (i, name) in names.enumerated() {
            let expectedName = name.isEmpty ? "unknown" : name
            #expect(cities[i].labels["bucket"] == expectedName)
            #expect(cities[i].labels["bucket_id"] == String(i + 1))
            #expect(cities[i].labels["app"] == app.name)
            #expect(cities[i].value == String(i + 10))
            #expect(devices[i].labels["bucket"] == expectedName)
            #expect(devices[i].labels["bucket_id"] == nil)
        }
        #expect(parsed.value("wechat_portrait_app_info", ["app": app.name, "appid": "wx\"1"]) == "1")
        // Raw bytes: escapes as the format defines them, UTF-8 untouched, tabs and CRs kept.
        let text = bytes.text
        #expect(text.contains(#"bucket="quote \" inside""#))
        #expect(text.contains(#"bucket="back\\slash""#))
        #expect(text.contains(#"bucket="new\nline""#))
        #expect(text.contains("bucket=\"tab\there\""))
        #expect(text.contains("bucket=\"emoji 🐼👩‍👩‍👧\""))
        #expect(text.contains(#"bucket="\\n literal""#))
        #expect(text.contains(#"bucket="unknown""#))
    }

    @Test("buckets with the same name and id are summed; different ids stay apart")
    func duplicatesSummed() throws {
        var portrait = Portrait()
        portrait[.new, .province] = [
            Bucket(id: 31, name: "广东省", value: 200), Bucket(id: 1, name: "北京", value: 5),
            Bucket(id: 31, name: "广东省", value: 15), Bucket(id: 32, name: "广东省", value: 9),
            Bucket(id: 1, name: "北京", value: 1),
        ]
        portrait[.new, .device] = [Bucket(id: nil, name: "iPhone", value: 3), Bucket(id: nil, name: "OPPO", value: 1), Bucket(id: nil, name: "iPhone", value: 4)]
        portrait[.active, .platform] = [Bucket(id: 1, name: "x", value: UInt64.max), Bucket(id: 1, name: "x", value: 5)]
        let parsed = try ExpositionParser.parse(PrometheusPlugin.render(Fixtures.state([Fixtures.snapshot(.day1, portrait)])))
        let provinces = parsed.samples("wechat_portrait_users").filter { $0.labels["dimension"] == "province" }
        #expect(provinces.map { "\($0.labels["bucket"]!)#\($0.labels["bucket_id"]!)=\($0.value)" } == ["广东省#31=215", "北京#1=6", "广东省#32=9"])
        let devices = parsed.samples("wechat_portrait_users").filter { $0.labels["dimension"] == "device" }
        #expect(devices.map { "\($0.labels["bucket"]!)=\($0.value)" } == ["iPhone=7", "OPPO=1"])
        #expect(parsed.samples("wechat_portrait_users").first { $0.labels["dimension"] == "platform" }?.value == String(UInt64.max))
        #expect(parsed.value("wechat_portrait_exposition_series") == "6")
    }

    @Test("bucket_id is omitted exactly where the bucket has no id (devices)")
    func deviceLabels() throws {
        let parsed = try ExpositionParser.parse(PrometheusPlugin.render(Fixtures.state([Fixtures.snapshot(.day1, Fixtures.smallPortrait())])))
        for sample in parsed.samples("wechat_portrait_users") {
            if sample.labels["dimension"] == "device" {
                #expect(sample.labelOrder == ["app", "window", "segment", "dimension", "bucket"])
            } else {
                #expect(sample.labelOrder == ["app", "window", "segment", "dimension", "bucket", "bucket_id"])
            }
        }
    }

    @Test("order: apps by name, windows 1d 7d 30d, segments, dimensions, upstream bucket order")
    func ordering() throws {
        var portrait = Portrait()
        for dimension in Dimension.allCases.reversed() {
            portrait[.active, dimension] = [Bucket(id: dimension == .device ? nil : 9, name: "z", value: 1), Bucket(id: dimension == .device ? nil : 1, name: "a", value: 2)]
            portrait[.new, dimension] = [Bucket(id: dimension == .device ? nil : 5, name: "m", value: 3)]
        }
        let snapshots = [Fixtures.shop, Fixtures.blog].flatMap { app in Window.allCases.reversed().map { Fixtures.snapshot(app, $0, portrait) } }
        let state = Fixtures.state(snapshots, apps: [Fixtures.shop, Fixtures.blog])
        let first = PrometheusPlugin.render(state)
        #expect(PrometheusPlugin.render(state) == first)
        let samples = try ExpositionParser.parse(first).samples("wechat_portrait_users")
        #expect(samples.count == 2 * 3 * (6 + 12))
        let keys = samples.map { [$0.labels["app"]!, $0.labels["window"]!, $0.labels["segment"]!, $0.labels["dimension"]!, $0.labels["bucket"]!] }
        var expected: [[String]] = []
        for app in ["blog", "shop"] {
            for window in ["1d", "7d", "30d"] {
                for segment in ["new", "active"] {
                    for dimension in ["province", "city", "gender", "platform", "device", "age"] {
                        for bucket in segment == "new" ? ["m"] : ["z", "a"] { expected.append([app, window, segment, dimension, bucket]) }
                    }
                }
            }
        }
        #expect(keys == expected)
        let info = try ExpositionParser.parse(first).samples("wechat_portrait_app_info").map { $0.labels["app"]! }
        #expect(info == ["blog", "shop"])
    }

    @Test("an empty state renders only build info and the series count")
    func emptyState() throws {
        let parsed = try ExpositionParser.parse(PrometheusPlugin.render(PortraitState(apps: [], windows: Window.allCases), build: Fixtures.build))
        #expect(parsed.familyOrder == ["wechat_portrait_build_info", "wechat_portrait_exposition_series"])
        #expect(parsed.value("wechat_portrait_exposition_series") == "0")
    }

    @Test("status families: every error reason is present from the start, last success only after one")
    func statusFamilies() throws {
        let board = StatusBoard(apps: [Fixtures.shop, Fixtures.blog], windows: [.day1, .day30], startedAt: Fixtures.fetchedAt)
        board.recordFailure(SnapshotKey(app: "blog", window: .day30), reason: .quota, errcode: 45009, duration: 0.002)
        board.recordFailure(SnapshotKey(app: "shop", window: .day1), reason: .timeout, duration: 10)
        board.recordTokenRefresh(app: "shop", result: .failure)
        var renderer = ExpositionRenderer()
        renderer.renderStatus(board.report())
        let parsed = try ExpositionParser.parse(renderer.bytes)
        #expect(parsed.value("wechat_portrait_ready") == "0")
        #expect(parsed.samples("wechat_portrait_fetch_errors_total").count == 4 * FailureReason.allCases.count)
        #expect(parsed.value("wechat_portrait_fetch_errors_total", ["app": "blog", "window": "30d", "reason": "quota"]) == "1")
        #expect(parsed.samples("wechat_portrait_last_success_timestamp_seconds").isEmpty)
        #expect(parsed.types["wechat_portrait_last_success_timestamp_seconds"] == nil)
        #expect(parsed.value("wechat_portrait_last_fetch_duration_seconds", ["app": "blog", "window": "30d"]) == "0.002")
        #expect(parsed.samples("wechat_portrait_up").allSatisfy { $0.value == "0" })
        #expect(parsed.samples("wechat_portrait_up").map { $0.labels["app"]! + "/" + $0.labels["window"]! } == ["blog/1d", "blog/30d", "shop/1d", "shop/30d"])
        #expect(parsed.value("wechat_portrait_token_refreshes_total", ["app": "shop", "result": "failure"]) == "1")
        #expect(parsed.value("wechat_portrait_token_refreshes_total", ["app": "blog", "result": "success"]) == "0")
        // The errcode of the last failure, -2 for one without an errcode (not -1: WeChat's "system
        // busy"), nothing before an attempt finished. No next attempt before the scheduler ran, no
        // token expiry before a token is cached.
        #expect(parsed.value("wechat_portrait_last_errcode", ["app": "blog", "window": "30d"]) == "45009")
        #expect(parsed.value("wechat_portrait_last_errcode", ["app": "shop", "window": "1d"]) == "-2")
        #expect(parsed.samples("wechat_portrait_last_errcode").count == 2)
        #expect(parsed.samples("wechat_portrait_next_attempt_timestamp_seconds").isEmpty)
        #expect(parsed.samples("wechat_portrait_token_expiry_timestamp_seconds").isEmpty)
    }

    @Test("last errcode: the failure's errcode, -2 without one, 0 after a success; token expiry per configured app, never the token")
    func errcodeAndTokenExpiry() throws {
        let board = StatusBoard(apps: [Fixtures.shop, Fixtures.blog], windows: [.day7], startedAt: Fixtures.fetchedAt)
        let shop = SnapshotKey(app: "shop", window: .day7)
        func render() throws -> ParsedExposition {
            var renderer = ExpositionRenderer()
            renderer.renderStatus(board.report())
            return try ExpositionParser.parse(renderer.bytes)
        }
        board.recordFailure(shop, reason: .upstreamError, errcode: -1, duration: 0.1)
        #expect(try render().value("wechat_portrait_last_errcode", ["app": "shop", "window": "7d"]) == "-1")
        board.recordFailure(shop, reason: .http, duration: 0.1)
        #expect(try render().value("wechat_portrait_last_errcode", ["app": "shop", "window": "7d"]) == "-2")
        board.recordSuccess(shop, dataEnd: Fixtures.endDate, duration: 0.1, at: Fixtures.fetchedAt)
        #expect(try render().value("wechat_portrait_last_errcode", ["app": "shop", "window": "7d"]) == "0")
        board.recordFailure(shop, reason: .notReady, errcode: 61503, duration: 0.1)
        let notReady = try render()
        #expect(notReady.value("wechat_portrait_last_errcode", ["app": "shop", "window": "7d"]) == "61503")
        #expect(notReady.value("wechat_portrait_up", ["app": "shop", "window": "7d"]) == "1")

        // Expiry is recorded by appid and shown by app name; an appid no longer configured is not shown.
        let version = board.version
        board.recordTokenExpiry(appid: Fixtures.shop.appid, at: Date(timeIntervalSince1970: 1_717_232_400))
        board.recordTokenExpiry(appid: "wx00000000000000ff", at: Date(timeIntervalSince1970: 1_717_232_400))
        let withExpiry = board.version
        #expect(withExpiry != version)
        board.recordTokenExpiry(appid: Fixtures.shop.appid, at: Date(timeIntervalSince1970: 1_717_232_400))
        #expect(board.version == withExpiry, "recording an unchanged expiry changes nothing")
        let parsed = try render()
        #expect(parsed.samples("wechat_portrait_token_expiry_timestamp_seconds").map(\.labels) == [["app": "shop"]])
        #expect(parsed.value("wechat_portrait_token_expiry_timestamp_seconds", ["app": "shop"]) == "1717232400")
        board.recordTokenExpiry(appid: Fixtures.shop.appid, at: nil)
        #expect(try render().samples("wechat_portrait_token_expiry_timestamp_seconds").isEmpty)
    }

    @Test("self metrics: invalid and reserved families and repeated series are dropped; families of one name merge")
    func selfMetrics() throws {
        let families = [
            SelfMetricFamily(name: "wechat_portrait_jsonl_records_total", help: "Records\nwritten \\ total.", kind: .counter,
                             samples: [(labels: [("file", "a\"b")], value: 3), (labels: [("file", "c")], value: 4), (labels: [("file", "a\"b")], value: 9)]),
            SelfMetricFamily(name: "bad-name", help: "x", kind: .gauge, samples: [(labels: [], value: 1)]),
            SelfMetricFamily(name: "wechat_portrait_users", help: "clash", kind: .gauge, samples: [(labels: [], value: 1)]),
            SelfMetricFamily(name: "wechat_portrait_jsonl_records_total", help: "again", kind: .counter, samples: [(labels: [("file", "d")], value: 1)]),
            SelfMetricFamily(name: "wechat_portrait_jsonl_records_total", help: "as a gauge", kind: .gauge, samples: [(labels: [("file", "e")], value: 5)]),
            SelfMetricFamily(name: "wechat_portrait_statsd_queue", help: "q", kind: .gauge,
                             samples: [(labels: [("bad label", "x")], value: 1), (labels: [("a", "1"), ("a", "2")], value: 2),
                                       (labels: [], value: .infinity), (labels: [("__name__", "x")], value: 3)]),
        ]
        var renderer = ExpositionRenderer()
        let skipped = renderer.renderSelfMetrics(families)
        #expect(skipped == 3)
        let parsed = try ExpositionParser.parse(renderer.bytes)
        #expect(parsed.familyOrder == ["wechat_portrait_jsonl_records_total", "wechat_portrait_statsd_queue"])
        #expect(parsed.helps["wechat_portrait_jsonl_records_total"] == "Records\nwritten \\ total.")
        #expect(parsed.samples("wechat_portrait_jsonl_records_total").map(\.value) == ["3", "4", "1"])
        #expect(parsed.samples("wechat_portrait_statsd_queue").map(\.value) == ["+Inf"])
    }

    @Test("process metrics are parsed from /proc/self/stat text; the comm field may hold spaces and parentheses")
    func processStatParsing() {
        let stat = Array("4242 (my (odd) exe) S 1 4242 4242 0 -1 4194304 500 0 0 0 250 50 0 0 20 0 3 0 12345 104857600 2560 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n".utf8)
        var metrics = ProcessMetrics()
        metrics.apply(stat: stat, bootTimeSeconds: 1_700_000_000, ticksPerSecond: 100, pageSize: 4096)
        #expect(metrics.cpuSeconds == 3.0)
        #expect(metrics.startTimeSeconds == 1_700_000_123.45)
        #expect(metrics.virtualBytes == 104_857_600)
        // A literal, not `2560 * 4096`: comparing an optional with a computed UInt64 inside
        // #expect reads 9 bytes from an 8-byte stack slot (Swift 6.3.1 toolchain bug; ASan
        // stack-buffer-overflow in a compiler-generated AnyHashable thunk).
        #expect(metrics.residentBytes == 10_485_760)  // 2560 pages of 4096 bytes

        var garbage = ProcessMetrics()
        garbage.apply(stat: Array("nonsense".utf8), bootTimeSeconds: nil, ticksPerSecond: 100, pageSize: 4096)
        #expect(garbage == ProcessMetrics())
    }

    @Test("process metrics of this process are plausible and render")
    func processLive() throws {
        let metrics = ProcessMetrics.read()
        #expect((metrics.residentBytes ?? 0) > 1_000_000)
        #expect((metrics.openFDs ?? 0) >= 3)
        #expect((metrics.maxFDs ?? 0) >= (metrics.openFDs ?? 0))
        let start = try #require(metrics.startTimeSeconds)
        #expect(abs(start - Date().timeIntervalSince1970) < 24 * 3600)
        var renderer = ExpositionRenderer()
        renderer.renderProcess(metrics)
        let parsed = try ExpositionParser.parse(renderer.bytes)
        #expect(parsed.familyOrder.count == 6)
        // A reading without values renders nothing.
        var empty = ExpositionRenderer()
        empty.renderProcess(ProcessMetrics())
        #expect(empty.bytes.isEmpty)
    }

    @Test("metric and label name validation", arguments: [
        ("wechat_portrait_users", true, true), ("a:b", true, false), ("_x", true, true), ("9lives", false, false),
        ("", false, false), ("has space", false, false), ("__reserved", true, false), ("ünicode", false, false),
    ])
    func names(name: String, metricOK: Bool, labelOK: Bool) {
        #expect(ExpositionRenderer.isValidMetricName(name) == metricOK)
        #expect(ExpositionRenderer.isValidLabelName(name) == labelOK)
    }
}

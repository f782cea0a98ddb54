import Foundation
import PortraitCore
import PortraitPrometheus
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// Simulator → exporter (the real config path, token cache, scheduler, URLSession transport) →
/// Prometheus endpoint → a scrape over loopback.
@Suite("End to end", .timeLimit(.minutes(5)))
struct PipelineTests {
    @Test("GET /metrics shows exactly the simulator's values for 2 apps × 3 windows × 2 segments × 6 dimensions")
    func exactValues() async throws {
        let pipeline = try await ExporterPipeline()
        try await pipeline.waitUntilReady()
        let response = try await pipeline.settledResponse()
        let exposition = try ExpositionParser.parse(response.body)
        await pipeline.stop()

        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        let yesterday = ChinaDate(iso: "2026-02-28")!
        var combinations = 0
        for app in pipeline.apps {
            for window in Window.allCases {
                let expected = pipeline.expectedBuckets(end: yesterday, apps: [app], windows: [window])
                for segment in Segment.allCases {
                    for dimension in Dimension.allCases {
                        let samples = exposition.samples("wechat_portrait_users").filter {
                            $0.labels["app"] == app.name && $0.labels["window"] == window.rawValue
                                && $0.labels["segment"] == segment.rawValue && $0.labels["dimension"] == dimension.rawValue
                        }
                        var want: [String: UInt64] = [:]
                        for bucket in expected where bucket.segment == segment && bucket.dimension == dimension { want["\(bucket.name)|\(bucket.idLabel)", default: 0] += bucket.value }
                        var got: [String: UInt64] = [:]
                        for sample in samples { got["\(sample.labels["bucket"]!)|\(sample.labels["bucket_id"] ?? "-")"] = UInt64(sample.value) }
                        #expect(!want.isEmpty)
                        #expect(got == want, "\(app.name!) \(window) \(segment) \(dimension)")
                        combinations += 1
                    }
                }
                #expect(exposition.value("wechat_portrait_data_end_timestamp_seconds", ["app": app.name!, "window": window.rawValue])
                        == String(yesterday.midnightUnixSeconds))
                #expect(exposition.value("wechat_portrait_up", ["app": app.name!, "window": window.rawValue]) == "1")
                #expect(exposition.value("wechat_portrait_fetch_errors_total", ["app": app.name!, "window": window.rawValue, "reason": "decode"]) == "0")
            }
            #expect(exposition.value("wechat_portrait_app_info", ["app": app.name!, "appid": app.appid]) == "1")
        }
        #expect(combinations == 72)
        #expect(exposition.samples("wechat_portrait_users").allSatisfy { !($0.labels["dimension"] == "device" && $0.labels["bucket_id"] != nil) })
        #expect(pipeline.upstream.calls.portrait == 6)
        #expect(pipeline.upstream.calls.stableToken == 2)
    }

    @Test("promtool check metrics passes on a real scrape (CI installs promtool)")
    func promtool() async throws {
        guard let promtool = ExternalTool.require("promtool", package: "prometheus", purpose: "run `promtool check metrics` on a real scrape") else { return }
        let pipeline = try await ExporterPipeline()
        try await pipeline.waitUntilReady()
        let response = try await pipeline.settledResponse()
        await pipeline.stop()
        let result = try await Subprocess.run(promtool, ["check", "metrics"], input: response.body)
        #expect(result.status == 0, "promtool said: \(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "promtool lint: \(result.output)")
    }

    @Test("neither an AppSecret nor a token appears in any log line or scrape")
    func noSecrets() async throws {
        let pipeline = try await ExporterPipeline()
        try await pipeline.waitUntilReady()
        pipeline.simulator.invalidateAllTokens()
        pipeline.simulator.inject(.errcode(40164, message: "invalid ip 198.51.100.4"), count: 1)
        await pipeline.advance(by: .seconds(86_400))
        _ = try await pipeline.scrape()
        let body = try await pipeline.page("/metrics")
        let landing = try await pipeline.page("/")
        await pipeline.stop()
        let secrets = pipeline.apps.map(\.secret) + pipeline.simulator.allIssuedTokens()
        #expect(secrets.count >= 4)
        let logs = pipeline.sink.lines.joined(separator: "\n")
        #expect(logs.contains("reason=config"))
        for secret in secrets {
            #expect(!logs.contains(secret))
            #expect(!body.contains(secret))
            #expect(!landing.contains(secret))
        }
    }

    @Test("a hung upstream: calls time out on our own deadline, are counted, and stopping is prompt")
    func hungUpstream() async throws {
        let pipeline = try await ExporterPipeline(ExporterPipeline.Options(timeoutSeconds: 1, awaitFirstAttempts: false)) { $0.inject(.hang) }
        // Every job's first call hangs until our 1 s deadline; then all six back off.
        try #require(await pipeline.time.waitForSleepers(pipeline.jobs, timeout: .seconds(20)))
        let report = pipeline.service.status.report()
        #expect(report.jobs.allSatisfy { $0.errorCount(.timeout) == 1 && !$0.isUp })
        #expect(pipeline.sink.lines(containing: "reason=timeout").count == 6)
        // The next attempts hang too; stopping while they are in flight must not wait for them.
        await pipeline.time.advance(by: .seconds(30), sleepers: 0)
        let clock = ContinuousClock()
        let started = clock.now
        await pipeline.stop()
        // A stop that waited for the hung connections would last until the simulator's 60 s idle
        // timeout; the bound is generous for a shared 2-core machine and still far below that.
        #expect(clock.now - started < .seconds(20))
    }
}

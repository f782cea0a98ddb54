import Foundation
import PortraitCore
import PortraitPrometheus
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// Config reload: a valid new config is applied without dropping the token cache or the snapshots
/// of apps that stay; an invalid one is rejected and the old one keeps running.
@Suite("Config reload", .timeLimit(.minutes(5)))
struct ReloadTests {
    static let blog = SimulatedApp(appid: "wx0b1c2d3e4f5a6b7c", secret: "blog-secret-0123456789", name: "blog")

    /// The binary's config: `apps` and `windows` against `upstream`, one Prometheus exporter with `/-/reload`.
    static func config(upstream: String, apps: [SimulatedApp], windows: [Window] = Window.allCases) -> ExporterConfig {
        ExporterConfig(upstream: upstream, apps: apps, windows: windows, timeoutSeconds: 5, readyTime: "00:00",
                       exporters: [ExporterConfig.prometheus(enableReload: true)])
    }

    static let allApps: [SimulatedApp] = [.demoShop, .demoNews, blog]

    @Test("apply keeps tokens and snapshots of apps that stay, fetches only what is new, drops what is gone")
    func applyInProcess() async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(timeoutSeconds: 5, simulatorApps: Self.allApps, readyTime: "00:00",
                                                                    enableReload: true))
        #expect(p.upstream.calls.portrait == 6)
        let shopTokens = p.upstream.simulator.stats().app(SimulatedApp.demoShop.appid).stableToken

        let second = try p.config(apps: [.demoShop, Self.blog], windows: [.day7, .day30]).load(secretsOf: Self.allApps)
        await p.service.apply(second)
        try #require(await p.time.waitForSleepers(4))
        for _ in PollingRounds() { guard await p.service.store.current.snapshots.count != 4 else { break }; try await Task.sleep(for: .milliseconds(10)) }
        let state = await p.service.store.current
        #expect(Set(state.snapshots.keys) == Set(["shop", "blog"].flatMap { app in [Window.day7, .day30].map { SnapshotKey(app: app, window: $0) } }))
        // shop's 7d and 30d were held: only blog's two windows were fetched.
        #expect(p.upstream.calls.portrait == 8)
        #expect(p.upstream.simulator.stats().app(SimulatedApp.demoShop.appid).stableToken == shopTokens)
        #expect(p.service.status.report().jobs.map(\.key.description) == ["shop/7d", "shop/30d", "blog/7d", "blog/30d"])
        #expect(p.service.status.report().jobs[0].attempts == 1, "shop/7d keeps its counters")
        await p.stop()
    }

    @Test("SIGHUP and POST /-/reload: a valid file is applied, an invalid one is rejected with check-config's messages")
    func reloadBinary() async throws {
        let upstream = try ExporterProcess.realClockUpstream(apps: Self.allApps)
        let exporter = try ExporterProcess(Self.config(upstream: upstream.baseURL, apps: [.demoShop]), secretsOf: Self.allApps, name: "reload")
        try await withCleanup({ exporter.stop(); await upstream.server.shutdown() }) {
            let process = exporter.process
            let port = try #require(await exporter.prometheusPort())

            func metrics() async throws -> ParsedExposition { try await exporter.metrics(port: port) }
            func waitFor(_ condition: () async throws -> Bool) async throws -> Bool {
                for _ in PollingRounds() { if try await condition() { return true }; try await Task.sleep(for: .milliseconds(25)) }
                return false
            }
            #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 3 })

            // SIGHUP with a second app added.
            try exporter.write(Self.config(upstream: upstream.baseURL, apps: [.demoShop, Self.blog]))
            process.send(SIGHUP)
            #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 6 })
            // Self-metrics in the cached body refresh at most once a second.
            #expect(try await waitFor { try await metrics().value("wechat_portrait_config_reloads_total", ["result": "success"]) == "1" })

            // An invalid file over HTTP: 400 with the problems, the running config stays.
            try exporter.configFile.write(#"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"NOPE_NOT_SET"}],"exporters":[{"type":"prometheus"}],"windwos":[]}"#)
            let rejected = try await TestHTTPClient.request(port: port, method: "POST", path: "/-/reload")
            #expect(rejected.status == 400)
            #expect(rejected.text.contains("apps[0].secret_env: environment variable NOPE_NOT_SET is not set or is empty"))
            #expect(rejected.text.contains(#"windwos: unknown key (did you mean "windows"?)"#))
            #expect(try await waitFor { try await metrics().value("wechat_portrait_config_reloads_total", ["result": "failure"]) == "1" })
            #expect(try await metrics().value("wechat_portrait_config_last_reload_successful") == "0")
            #expect(try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 6)

            // A valid file over HTTP again.
            try exporter.write(Self.config(upstream: upstream.baseURL, apps: [.demoShop]))
            #expect(try await TestHTTPClient.request(port: port, method: "POST", path: "/-/reload").status == 200)
            #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 3 })
            #expect(try await waitFor { try await metrics().value("wechat_portrait_config_last_reload_successful") == "1" })

            process.send(SIGTERM)
            #expect(await process.waitForExit() == 0)
            #expect(process.standardError.contains("config reload rejected"))
        }
    }
}

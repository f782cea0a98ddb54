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

    static func config(upstream: String, apps: [SimulatedApp], windows: [String] = ["1d", "7d", "30d"], listen: String = "127.0.0.1:0",
                       extra: String = "") -> String {
        let entries = apps.map { #"{"name":"\#($0.name!)","appid":"\#($0.appid)","secret_env":"SECRET_\#($0.name!.uppercased())"}"# }
        return """
        {"upstream":{"base_url":"\(upstream)","timeout_seconds":5},
         "schedule":{"stagger_seconds":0,"ready_time":"00:00"},
         "apps":[\(entries.joined(separator: ","))],
         "windows":[\(windows.map { "\"\($0)\"" }.joined(separator: ","))],
         "exporters":[{"type":"prometheus","listen":"\(listen)","enable_reload":true}]\(extra)}
        """
    }

    static var environment: ConfigEnvironment {
        var environment = ConfigEnvironment.process
        for app in [SimulatedApp.demoShop, .demoNews, blog] { environment.variables["SECRET_\(app.name!.uppercased())"] = app.secret }
        return environment
    }

    @Test("apply keeps tokens and snapshots of apps that stay, fetches only what is new, drops what is gone")
    func applyInProcess() async throws {
        let time = ManualTimeSource(china: "2026-03-01 12:00")
        let upstream = try SimulatedUpstream(time: time, apps: [.demoShop, .demoNews, Self.blog])
        defer { upstream.stop() }
        let first = try Configuration.load(Array(Self.config(upstream: upstream.baseURL, apps: [.demoShop, .demoNews]).utf8),
                                           registry: Runtime.registry, environment: Self.environment)
        let service = ExporterService(configuration: first, transport: URLSessionTransport(requestTimeout: .seconds(5)), time: time,
                                      logger: Logger(sink: RecordingLogSink(), clock: time))
        try await service.start()
        let run = Task { await service.run() }
        try #require(await time.waitForSleepers(6))
        #expect(upstream.calls.portrait == 6)
        let shopTokens = upstream.simulator.stats().app(SimulatedApp.demoShop.appid).stableToken

        let second = try Configuration.load(Array(Self.config(upstream: upstream.baseURL, apps: [.demoShop, Self.blog], windows: ["7d", "30d"]).utf8),
                                            registry: Runtime.registry, environment: Self.environment)
        await service.apply(second)
        try #require(await time.waitForSleepers(4))
        for _ in PollingRounds() { guard await service.store.current.snapshots.count != 4 else { break }; try await Task.sleep(for: .milliseconds(10)) }
        let state = await service.store.current
        #expect(Set(state.snapshots.keys) == Set(["shop", "blog"].flatMap { app in [Window.day7, .day30].map { SnapshotKey(app: app, window: $0) } }))
        // shop's 7d and 30d were held: only blog's two windows were fetched.
        #expect(upstream.calls.portrait == 8)
        #expect(upstream.simulator.stats().app(SimulatedApp.demoShop.appid).stableToken == shopTokens)
        #expect(service.status.report().jobs.map(\.key.description) == ["shop/7d", "shop/30d", "blog/7d", "blog/30d"])
        #expect(service.status.report().jobs[0].attempts == 1, "shop/7d keeps its counters")
        run.cancel()
        await run.value
        await service.stop()
    }

    @Test("SIGHUP and POST /-/reload: a valid file is applied, an invalid one is rejected with check-config's messages")
    func reloadBinary() async throws {
        let simulator = WeChatSimulator(configuration: WeChatSimulator.Configuration(apps: [.demoShop, .demoNews, Self.blog], readyTime: TimeOfDay(hour: 0)))
        let server = try simulator.serve(listen: try .init(parsing: "127.0.0.1:0"))
        defer { server.stop() }
        let upstream = "http://127.0.0.1:\(server.boundAddresses[0].port)"
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("reload-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Self.config(upstream: upstream, apps: [.demoShop]).write(toFile: path, atomically: true, encoding: .utf8)
        let process = try RunningProcess(RunningProcess.builtProduct("wechat-portrait-exporter"), ["--config", path], environment: Self.environment.variables)
        defer { process.send(SIGKILL) }
        let port = try #require(await Self.prometheusPort(process))

        func metrics() async throws -> ParsedExposition { try ExpositionParser.parse(try await TestHTTPClient.request(port: port, path: "/metrics").body) }
        func waitFor(_ condition: () async throws -> Bool) async throws -> Bool {
            for _ in PollingRounds() { if try await condition() { return true }; try await Task.sleep(for: .milliseconds(25)) }
            return false
        }
        #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 3 })

        // SIGHUP with a second app added.
        try Self.config(upstream: upstream, apps: [.demoShop, Self.blog]).write(toFile: path, atomically: true, encoding: .utf8)
        process.send(SIGHUP)
        #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 6 })
        // Self-metrics in the cached body refresh at most once a second.
        #expect(try await waitFor { try await metrics().value("wechat_portrait_config_reloads_total", ["result": "success"]) == "1" })

        // An invalid file over HTTP: 400 with the problems, the running config stays.
        try #"{"apps":[{"appid":"wx0123456789abcdef","secret_env":"NOPE_NOT_SET"}],"exporters":[{"type":"prometheus"}],"windwos":[]}"#
            .write(toFile: path, atomically: true, encoding: .utf8)
        let rejected = try await TestHTTPClient.request(port: port, method: "POST", path: "/-/reload")
        #expect(rejected.status == 400)
        #expect(rejected.text.contains("apps[0].secret_env: environment variable NOPE_NOT_SET is not set or is empty"))
        #expect(rejected.text.contains(#"windwos: unknown key (did you mean "windows"?)"#))
        #expect(try await waitFor { try await metrics().value("wechat_portrait_config_reloads_total", ["result": "failure"]) == "1" })
        #expect(try await metrics().value("wechat_portrait_config_last_reload_successful") == "0")
        #expect(try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 6)

        // A valid file over HTTP again.
        try Self.config(upstream: upstream, apps: [.demoShop]).write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try await TestHTTPClient.request(port: port, method: "POST", path: "/-/reload").status == 200)
        #expect(try await waitFor { try await metrics().samples("wechat_portrait_data_end_timestamp_seconds").count == 3 })
        #expect(try await waitFor { try await metrics().value("wechat_portrait_config_last_reload_successful") == "1" })

        process.send(SIGTERM)
        #expect(await process.waitForExit() == 0)
        #expect(process.standardError.contains("config reload rejected"))
    }

    static func prometheusPort(_ process: RunningProcess) async -> UInt16? {
        for _ in PollingRounds() {
            if let line = process.standardError.split(separator: "\n").first(where: { $0.contains("prometheus exporter listening") }),
               let range = line.range(of: "addresses=127.0.0.1:") {
                return UInt16(line[range.upperBound...].prefix { $0.isNumber })
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }
}

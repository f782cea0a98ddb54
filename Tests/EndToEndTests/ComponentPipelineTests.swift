import Foundation
import PortraitCore
import PortraitPrometheus
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// Third-party platform tokens end to end: the simulator as WeChat (component and authorizer
/// token endpoints, the portrait call), the real config path, token cache, scheduler and
/// URLSession transport, a manual clock, and the test playing the platform's callback server
/// that writes the `component_verify_ticket` file.
@Suite("End to end: third-party platform (component) tokens", .timeLimit(.minutes(5)))
struct ComponentPipelineTests {
    final class Pipeline: Sendable {
        let time = ManualTimeSource(china: "2026-03-01 12:00")
        let upstream: SimulatedUpstream
        let component: SimulatedComponent
        let service: ExporterService
        let sink = RecordingLogSink()
        let task: Task<Void, Never>
        let directory: String
        let ticketPath: String
        let persistPath: String
        static let jobs = 9

        /// Three merchants of one platform, every window. `ticket`: what the callback server has
        /// written before the start (`.pushed`: a ticket WeChat pushed; `.missing`: no file yet).
        init(rotates: Bool = false, tokenLifetime: Duration = .seconds(7200), ticket: InitialTicket = .pushed,
             schedule: String = #"{"stagger_seconds":0}"#, persist: Bool = false) async throws {
            var component = SimulatedComponent.demo
            component.rotatesRefreshTokens = rotates
            self.component = component
            upstream = try SimulatedUpstream(time: time, apps: [], components: [component], tokenLifetime: tokenLifetime)
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("component-\(UUID().uuidString)").path
            let ticketPath = directory + "/component_verify_ticket"
            let persistPath = directory + "/tokens.json"
            (self.directory, self.ticketPath, self.persistPath) = (directory, ticketPath, persistPath)
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            switch ticket {
            case .pushed: try Self.write(ticket: upstream.simulator.pushVerifyTicket(componentAppid: component.appid)!, to: ticketPath)
            case .text(let text): try Self.write(ticket: text, to: ticketPath)
            case .missing: break
            }
            // The third merchant's refresh token comes from a file, the others' from the environment.
            let refreshFile = directory + "/bakery_refresh_token"
            try component.authorizers[2].refreshToken.write(toFile: refreshFile, atomically: true, encoding: .utf8)
            chmod(refreshFile, 0o600)
            let apps = component.authorizers.enumerated().map { index, merchant in
                let source = index == 2 ? #""refresh_token_file":"\#(refreshFile)""# : #""refresh_token_env":"RT_\#(merchant.name!)""#
                return #"{"name":"\#(merchant.name!)","appid":"\#(merchant.appid)","token_source":"component",\#(source)}"#
            }
            let config = """
            {"upstream":{"base_url":"\(upstream.baseURL)","timeout_seconds":5},
             "schedule":\(schedule),
             \(persist ? #""token":{"persist_file":"\#(persistPath)"},"# : "")
             "component":{"appid":"\(component.appid)","secret_env":"COMPONENT_SECRET","verify_ticket_file":"\(ticketPath)"},
             "apps":[\(apps.joined(separator: ","))],
             "exporters":[{"type":"prometheus","listen":"127.0.0.1:0"}]}
            """
            var environment = ConfigEnvironment.process
            environment.variables["COMPONENT_SECRET"] = component.secret
            for merchant in component.authorizers { environment.variables["RT_\(merchant.name!)"] = merchant.refreshToken }
            let configuration = try Configuration.load(Array(config.utf8), registry: Runtime.registry, environment: environment)
            let logger = Logger(level: .debug, sink: sink, clock: time)
            service = ExporterService(configuration: configuration, transport: URLSessionTransport(requestTimeout: .seconds(5)), time: time, logger: logger)
            try await service.start()
            let running = service
            task = Task { await running.run() }
        }

        enum InitialTicket { case pushed, missing, text(String) }

        /// Plays the platform's callback server: writes `ticket` to the verify-ticket file.
        func writeTicket(_ ticket: String) throws { try Self.write(ticket: ticket, to: ticketPath) }

        static func write(ticket: String, to path: String) throws {
            try (ticket + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }

        /// To 12:00 the next China day, the callback server writing the ticket WeChat pushed at
        /// 09:50 (a ticket lives 12 hours; yesterday's would be refused). The jobs fetch the new
        /// day at 10:00.
        func nextDay() async throws {
            await time.advance(to: ManualTimeSource.chinaInstant("2026-03-02 09:50"), sleepers: Self.jobs)
            try writeTicket(upstream.simulator.pushVerifyTicket(componentAppid: component.appid)!)
            await time.advance(to: ManualTimeSource.chinaInstant("2026-03-02 12:00"), sleepers: Self.jobs)
        }

        var port: UInt16 { (service.host.plugins[0] as! PrometheusPlugin).boundAddresses[0].port }

        func waitUntilReady() async throws {
            try #require(await time.waitForSleepers(Self.jobs))
            for _ in PollingRounds() { guard !service.status.report().isReady else { break }; try await Task.sleep(for: .milliseconds(10)) }
            try #require(service.status.report().isReady)
        }

        /// The exposition once it has every merchant and window (publication is asynchronous).
        func scrape() async throws -> ParsedExposition {
            for _ in PollingRounds() {
                let parsed = try ExpositionParser.parse(try await TestHTTPClient.request(port: port, path: "/metrics").body)
                if parsed.samples("wechat_portrait_data_end_timestamp_seconds").count == Self.jobs { return parsed }
                try await Task.sleep(for: .milliseconds(10))
            }
            throw TestHTTPError(description: "exposition never had all nine merchant/windows")
        }

        /// Counts over the whole platform: token calls are counted for the component appid (component
        /// tokens) and for each merchant (authorizer tokens, portraits).
        var calls: SimulatorStats.Calls { upstream.calls }

        /// Every secret of the setup: the component AppSecret, every ticket pushed, every refresh
        /// token (configured and rotated), every token issued.
        var secrets: [String] {
            [component.secret] + component.authorizers.map(\.refreshToken) + upstream.simulator.allComponentSecrets() + upstream.simulator.allIssuedTokens()
        }

        /// No secret in any log line or in the exposition and landing page.
        func expectNoSecrets(sourceLocation: SourceLocation = #_sourceLocation) async throws {
            let body = try await TestHTTPClient.request(port: port, path: "/metrics").text
            let landing = try await TestHTTPClient.request(port: port, path: "/").text
            let secrets = self.secrets
            #expect(secrets.count >= 8, sourceLocation: sourceLocation)
            let lines = sink.lines
            #expect(!lines.isEmpty, sourceLocation: sourceLocation)
            for secret in secrets {
                for line in lines where line.contains(secret) {
                    Issue.record("a secret in a log line: \(line.prefix(80))…", sourceLocation: sourceLocation)
                }
                #expect(!body.contains(secret), sourceLocation: sourceLocation)
                #expect(!landing.contains(secret), sourceLocation: sourceLocation)
            }
        }

        func stop() async {
            task.cancel()
            await task.value
            await service.stop()
            upstream.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test("3 merchants × 3 windows: 9 portraits, exactly one component-token call, one authorizer-token call per merchant")
    func allWindowsOneComponentToken() async throws {
        let pipeline = try await Pipeline()
        try await pipeline.waitUntilReady()
        let calls = pipeline.calls
        #expect(calls.componentToken == 1)
        #expect(calls.authorizerToken == 3)
        #expect(calls.portrait == 9)
        #expect(calls.portraitSuccesses == 9)
        #expect(calls.stableToken == 0 && calls.legacyToken == 0)
        let exposition = try await pipeline.scrape()
        let yesterday = ChinaDate(iso: "2026-02-28")!
        for merchant in pipeline.component.authorizers {
            for window in Window.allCases {
                #expect(exposition.value("wechat_portrait_up", ["app": merchant.name!, "window": window.rawValue]) == "1")
                let expected = pipeline.upstream.simulator.expectedPortrait(appid: merchant.appid, window: window, end: yesterday).portrait
                let total = exposition.samples("wechat_portrait_users").filter {
                    $0.labels["app"] == merchant.name && $0.labels["window"] == window.rawValue && $0.labels["segment"] == "active" && $0.labels["dimension"] == "province"
                }.reduce(UInt64(0)) { $0 + (UInt64($1.value) ?? 0) }
                #expect(total == expected[.active, .province].reduce(0) { $0 + $1.value })
            }
            #expect(exposition.value("wechat_portrait_token_refreshes_total", ["app": merchant.name!, "result": "success"]) == "1")
            // The authorizer token's expiry, 7200 s after 12:00 China time (04:00 UTC).
            #expect(exposition.value("wechat_portrait_token_expiry_timestamp_seconds", ["app": merchant.name!]).flatMap(Double.init)
                    == ManualTimeSource.chinaInstant("2026-03-01 14:00").timeIntervalSince1970)
        }
        try await pipeline.expectNoSecrets()
        await pipeline.stop()
    }

    enum Rejection: String, CaseIterable, Sendable { case invalidated, expired }

    @Test("every token rejected (40001 / 42001): one authorizer refresh per merchant, one component refresh, one retry per portrait", arguments: Rejection.allCases)
    func rejectedTokens(_ rejection: Rejection) async throws {
        // Tokens live two days here, so the cache still holds them the next day and the
        // portrait call is what finds out. One fetch at a time makes the counts exact.
        let pipeline = try await Pipeline(tokenLifetime: .seconds(172_800), schedule: #"{"stagger_seconds":0,"max_concurrent_fetches":1}"#)
        try await pipeline.waitUntilReady()
        let before = pipeline.calls
        switch rejection {
        case .invalidated: pipeline.upstream.simulator.invalidateAllTokens()
        case .expired: pipeline.upstream.simulator.expireAllTokens()
        }
        let errcode = rejection == .invalidated ? 40001 : 42001
        try await pipeline.nextDay()
        let after = pipeline.calls
        // Each merchant's first portrait of the day is rejected, refreshes its authorizer token
        // (rejected too: the component token is dead), the component token is fetched once, the
        // authorizer call retried once, the portrait retried once. The other windows reuse the token.
        #expect(after.portraitSuccesses - before.portraitSuccesses == 9)
        #expect(after.portraitErrors[errcode, default: 0] - before.portraitErrors[errcode, default: 0] == 3)
        #expect(after.portrait - before.portrait == 12)
        #expect(after.componentToken - before.componentToken == 1)
        #expect(after.authorizerToken - before.authorizerToken == 4)
        #expect(after.tokenErrors[errcode, default: 0] - before.tokenErrors[errcode, default: 0] == 1)
        let report = pipeline.service.status.report()
        #expect(report.jobs.allSatisfy { $0.isUp })
        #expect(report.jobs.allSatisfy { $0.errorCount(.token) == 0 })
        try await pipeline.expectNoSecrets()
        await pipeline.stop()
    }

    @Test("a refresh token rotated by WeChat is used from then on (the configured one no longer works)")
    func rotatedRefreshToken() async throws {
        let pipeline = try await Pipeline(rotates: true, persist: true)
        try await pipeline.waitUntilReady()
        for merchant in pipeline.component.authorizers {
            #expect(pipeline.upstream.simulator.currentRefreshToken(authorizerAppid: merchant.appid) != merchant.refreshToken)
        }
        #expect(pipeline.sink.lines(containing: "authorizer_refresh_token rotated").count == 3)
        // The next day every authorizer token has expired: each merchant refreshes with the
        // rotated token (the configured one would answer 61023).
        try await pipeline.nextDay()
        let calls = pipeline.calls
        #expect(calls.tokenErrors[61023, default: 0] == 0)
        #expect(calls.authorizerToken == 6)
        #expect(calls.portraitSuccesses == 18)
        #expect(pipeline.service.status.report().jobs.allSatisfy { $0.isUp && $0.errorCount(.config) == 0 })
        // With token.persist_file the rotated token survives a restart (0600 file).
        let mode = try FileManager.default.attributesOfItem(atPath: pipeline.persistPath)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let persisted = try String(contentsOfFile: pipeline.persistPath, encoding: .utf8)
        for merchant in pipeline.component.authorizers {
            #expect(persisted.contains(pipeline.upstream.simulator.currentRefreshToken(authorizerAppid: merchant.appid)!))
        }
        try await pipeline.expectNoSecrets()
        await pipeline.stop()
    }

    @Test("the verify-ticket file: missing, then a ticket WeChat refuses (61006), then a good one: config failures, then picked up")
    func ticketFileChanges() async throws {
        let pipeline = try await Pipeline(ticket: .missing, schedule: #"{"stagger_seconds":0,"config_error_retry_seconds":60}"#)
        try #require(await pipeline.time.waitForSleepers(Pipeline.jobs))
        var report = pipeline.service.status.report()
        #expect(report.jobs.allSatisfy { $0.errorCount(.config) == 1 && !$0.isUp })
        #expect(pipeline.calls.componentToken == 0)
        #expect(pipeline.calls.portrait == 0)
        #expect(!pipeline.sink.lines(containing: "cannot read the component verify ticket file").isEmpty)
        #expect(pipeline.sink.lines(containing: "fetch failed").filter { $0.contains("reason=config") }.count == 9)

        // A ticket WeChat never pushed: one component-token call answers 61006; the other
        // merchants do not send the refused ticket again.
        let bogus = "ticket@@@not-pushed-by-wechat-0123456789"
        try pipeline.writeTicket(bogus)
        await pipeline.time.advance(by: .seconds(60), sleepers: Pipeline.jobs)
        #expect(pipeline.calls.componentToken == 1)
        #expect(pipeline.calls.tokenErrors[61006, default: 0] == 1)
        #expect(pipeline.calls.portrait == 0)
        #expect(pipeline.sink.lines(containing: "component_verify_ticket in").filter { $0.contains("is invalid") && $0.contains("errcode=61006") }.count == 1)
        #expect(pipeline.sink.lines.allSatisfy { !$0.contains(bogus) })

        // The callback server writes the ticket WeChat pushed: picked up at the next retry.
        try pipeline.writeTicket(pipeline.upstream.simulator.pushVerifyTicket(componentAppid: pipeline.component.appid)!)
        await pipeline.time.advance(by: .seconds(60), sleepers: Pipeline.jobs)
        #expect(pipeline.calls.componentToken == 2)
        #expect(pipeline.calls.portraitSuccesses == 9)
        report = pipeline.service.status.report()
        #expect(report.isReady)
        try await pipeline.expectNoSecrets()
        await pipeline.stop()
    }

    @Test("a stale verify-ticket file (not written for 12 hours) is a config failure without a call; a fresh ticket is picked up")
    func staleTicketFile() async throws {
        let pipeline = try await Pipeline(ticket: .missing, schedule: #"{"stagger_seconds":0,"config_error_retry_seconds":60}"#)
        try #require(await pipeline.time.waitForSleepers(Pipeline.jobs))
        let ticket = pipeline.upstream.simulator.pushVerifyTicket(componentAppid: pipeline.component.appid)!
        try pipeline.writeTicket(ticket)
        try FileManager.default.setAttributes([.modificationDate: pipeline.time.now().addingTimeInterval(-13 * 3600)], ofItemAtPath: pipeline.ticketPath)
        await pipeline.time.advance(by: .seconds(60), sleepers: Pipeline.jobs)
        #expect(pipeline.calls.componentToken == 0)
        #expect(!pipeline.sink.lines(containing: "is stale").isEmpty)
        #expect(pipeline.service.status.report().jobs.allSatisfy { $0.errorCount(.config) == 2 })
        try FileManager.default.setAttributes([.modificationDate: pipeline.time.now()], ofItemAtPath: pipeline.ticketPath)
        await pipeline.time.advance(by: .seconds(60), sleepers: Pipeline.jobs)
        #expect(pipeline.calls.componentToken == 1)
        #expect(pipeline.service.status.report().isReady)
        try await pipeline.expectNoSecrets()
        await pipeline.stop()
    }
}

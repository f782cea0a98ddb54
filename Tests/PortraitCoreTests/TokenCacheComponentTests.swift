import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// The token cache with third-party platform apps, against the simulator over loopback.
@Suite("Token cache: third-party platform", .timeLimit(.minutes(5)))
struct TokenCacheComponentTests {
    let time = ManualTimeSource(china: "2026-03-01 12:00")
    let sink = RecordingLogSink()
    var logger: Logger { Logger(level: .debug, sink: sink, clock: time) }

    /// A temporary directory with the verify-ticket file holding a freshly pushed ticket.
    struct Setup {
        let upstream: SimulatedUpstream
        let component: ComponentCredentials
        let directory: String
        var ticketPath: String { directory + "/ticket" }

        init(time: ManualTimeSource, rotates: Bool = false) throws {
            var platform = SimulatedComponent.demo
            platform.rotatesRefreshTokens = rotates
            upstream = try SimulatedUpstream(time: time, apps: [], components: [platform])
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("component-cache-\(UUID().uuidString)").path
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            component = ComponentCredentials(appid: platform.appid, secret: Secret(platform.secret), verifyTicketFile: directory + "/ticket")
            try upstream.simulator.pushVerifyTicket(componentAppid: platform.appid)!.write(toFile: ticketPath, atomically: true, encoding: .utf8)
        }

        func app(_ index: Int, refreshToken: String? = nil) -> AppCredentials {
            let merchant = SimulatedComponent.demo.authorizers[index]
            return AppCredentials(identity: AppIdentity(name: merchant.name!, appid: merchant.appid), secret: nil,
                                  tokenSource: .component(ComponentGrant(component: component, refreshToken: Secret(refreshToken ?? merchant.refreshToken))))
        }

        func stop() {
            upstream.stop()
            try? FileManager.default.removeItem(atPath: directory)
        }
    }

    @Test("30 concurrent callers over 3 merchants: one component-token call, one authorizer-token call per merchant")
    func singleFlight() async throws {
        let setup = try Setup(time: time)
        defer { setup.stop() }
        let cache = TokenCache(client: setup.upstream.client(), time: time, logger: logger)
        let tokens = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for i in 0..<30 { group.addTask { (i % 3, try await cache.token(for: setup.app(i % 3)).value) } }
            return try await group.reduce(into: [Int: Set<String>]()) { $0[$1.0, default: []].insert($1.1) }
        }
        #expect(tokens.values.map(\.count) == [1, 1, 1])
        #expect(setup.upstream.calls.componentToken == 1)
        #expect(setup.upstream.calls.authorizerToken == 3)
        #expect(await cache.tokenCalls == 4)
    }

    @Test("a rotated refresh token survives a restart through persist_file; a newly configured one wins over it")
    func rotationPersisted() async throws {
        let setup = try Setup(time: time, rotates: true)
        defer { setup.stop() }
        let persist = setup.directory + "/tokens.json"
        _ = try await TokenCache(client: setup.upstream.client(), time: time, persistPath: persist, logger: logger).token(for: setup.app(0))
        let rotated = try #require(setup.upstream.simulator.currentRefreshToken(authorizerAppid: SimulatedComponent.demo.authorizers[0].appid))
        #expect(rotated != SimulatedComponent.demo.authorizers[0].refreshToken)
        let text = try String(contentsOfFile: persist, encoding: .utf8)
        #expect(text.contains(rotated))
        #expect(!text.contains(SimulatedComponent.demo.authorizers[0].refreshToken))
        #expect(!text.contains(SimulatedComponent.demo.secret))

        // Two hours later the persisted access tokens have expired: the restarted cache refreshes
        // with the persisted (rotated) refresh token, not the configured one (61023).
        time.set(time.now().addingTimeInterval(7200))
        try setup.upstream.simulator.pushVerifyTicket(componentAppid: setup.component.appid)!.write(toFile: setup.ticketPath, atomically: true, encoding: .utf8)
        let restarted = TokenCache(client: setup.upstream.client(), time: time, persistPath: persist, logger: logger)
        _ = try await restarted.token(for: setup.app(0))
        #expect(setup.upstream.calls.tokenErrors[61023, default: 0] == 0)
        #expect(setup.upstream.calls.authorizerToken == 2)

        // The merchant authorised again: the operator configures the new refresh token, which wins.
        let reauthorised = try #require(setup.upstream.simulator.reauthorize(authorizerAppid: SimulatedComponent.demo.authorizers[0].appid))
        time.set(time.now().addingTimeInterval(7200))
        try setup.upstream.simulator.pushVerifyTicket(componentAppid: setup.component.appid)!.write(toFile: setup.ticketPath, atomically: true, encoding: .utf8)
        let again = TokenCache(client: setup.upstream.client(), time: time, persistPath: persist, logger: logger)
        _ = try await again.token(for: setup.app(0, refreshToken: reauthorised))
        #expect(setup.upstream.calls.tokenErrors[61023, default: 0] == 0)
    }

    @Test("component-call failures keep the closed set of reasons", arguments: [
        (61004, FailureReason.config), (61005, .config), (-1, .token), (45009, .token), (40013, .config),
    ])
    func failureReasons(errcode: Int, reason: FailureReason) async throws {
        let setup = try Setup(time: time)
        defer { setup.stop() }
        setup.upstream.simulator.inject(FaultInjection(.errcode(errcode, message: nil), endpoints: [.componentToken]))
        let cache = TokenCache(client: setup.upstream.client(), time: time, logger: logger)
        do {
            _ = try await cache.token(for: setup.app(0))
            Issue.record("a token despite \(errcode)")
        } catch let failure as FetchFailure {
            #expect(failure.reason == reason)
            #expect(failure.errcode == errcode)
            #expect(failure.message.hasPrefix("component token"))
        }
        #expect(setup.upstream.calls.authorizerToken == 0)
    }

    @Test("a merchant that revoked the authorisation (61003) or a dead refresh token (61023) is a config failure")
    func authorizerFailures() async throws {
        let setup = try Setup(time: time)
        defer { setup.stop() }
        let cache = TokenCache(client: setup.upstream.client(), time: time, logger: logger)
        do {
            _ = try await cache.token(for: setup.app(0, refreshToken: "refreshtoken@@@revoked-or-wrong"))
            Issue.record("a token with a wrong refresh token")
        } catch let failure as FetchFailure {
            #expect(failure.reason == .config)
            #expect(failure.errcode == 61023)
            #expect(!failure.description.contains("refreshtoken@@@revoked-or-wrong"))
        }
        #expect(sink.lines.allSatisfy { !$0.contains("refreshtoken@@@") && !$0.contains("ticket@@@") })
    }
}

/// A platform of the size this is for: hundreds of merchants.
@Suite("Token cache: a platform with 300 merchants", .timeLimit(.minutes(5)))
struct TokenCacheComponentScaleTests {
    @Test("300 merchants × 3 windows fetched at once: one component-token call, 300 authorizer-token calls, 900 portraits")
    func threeHundredMerchants() async throws {
        let time = ManualTimeSource(china: "2026-03-01 12:00")
        let merchants = (0..<300).map { i in
            SimulatedAuthorizer(appid: "wxm" + String(i).leftPadded(to: 13), refreshToken: "refreshtoken@@@merchant-\(i)-Zq8Lw2", name: "m\(i)")
        }
        let platform = SimulatedComponent(appid: "wx3c9a5e7f1b2d4068", secret: "e4da3b7fbbce2345d7772b0674a318d5", authorizers: merchants)
        let upstream = try SimulatedUpstream(time: time, apps: [], components: [platform])
        defer { upstream.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("ticket-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try upstream.simulator.pushVerifyTicket(componentAppid: platform.appid)!.write(toFile: path, atomically: true, encoding: .utf8)
        let component = ComponentCredentials(appid: platform.appid, secret: Secret(platform.secret), verifyTicketFile: path)
        let sink = RecordingLogSink()
        let client = upstream.client()
        let cache = TokenCache(client: client, time: time, logger: Logger(level: .debug, sink: sink, clock: time))
        let fetcher = PortraitFetcher(client: client, tokens: cache, time: time)
        let end = ChinaDate(containing: time.now()).adding(days: -1)
        let apps = merchants.map {
            AppCredentials(identity: AppIdentity(name: $0.name!, appid: $0.appid), secret: nil,
                           tokenSource: .component(ComponentGrant(component: component, refreshToken: Secret($0.refreshToken))))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            // At most 32 portrait calls in flight, like a scheduler with a large max_concurrent_fetches.
            var pending = apps.flatMap { app in Window.allCases.map { (app, $0) } }[...]
            for _ in 0..<32 {
                guard let (app, window) = pending.popFirst() else { break }
                group.addTask { _ = try await fetcher.fetch(app: app, window: window, end: end) }
            }
            while try await group.next() != nil {
                guard let (app, window) = pending.popFirst() else { continue }
                group.addTask { _ = try await fetcher.fetch(app: app, window: window, end: end) }
            }
        }
        let calls = upstream.calls
        #expect(calls.componentToken == 1)
        #expect(calls.authorizerToken == 300)
        #expect(calls.portraitSuccesses == 900)
        #expect(calls.portrait == 900)
        let secrets = [platform.secret] + merchants.map(\.refreshToken) + upstream.simulator.allIssuedTokens() + upstream.simulator.allComponentSecrets()
        let lines = sink.lines
        for secret in secrets where lines.contains(where: { $0.contains(secret) }) { Issue.record("a secret in the log") }
    }
}

extension String {
    /// The string with leading zeros up to `width` characters.
    fileprivate func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

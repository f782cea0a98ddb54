import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// The token cache and the fetcher against the simulator over loopback, with a manual clock.
@Suite("Token cache and fetcher", .timeLimit(.minutes(5)))
struct TokenCacheTests {
    let time = ManualTimeSource(china: "2026-03-01 12:00")
    let sink = RecordingLogSink()
    var logger: Logger { Logger(level: .debug, sink: sink, clock: time) }
    /// The demo shop's credentials, the app most tests fetch for.
    let shop = SimulatedUpstream.credentials(.demoShop)
    /// The day before "now" in China: the newest day with data.
    var yesterday: ChinaDate { ChinaDate(containing: time.now()).adding(days: -1) }

    /// Runs `body` against the simulator on loopback (on this suite's clock), then stops it.
    func withUpstream(_ body: (SimulatedUpstream) async throws -> Void) async throws {
        let upstream = try SimulatedUpstream(time: time)
        defer { upstream.stop() }
        try await body(upstream)
    }

    /// A token cache on `upstream` with this suite's clock and `logger` (the suite's by default).
    func cache(on upstream: SimulatedUpstream, persistPath: String? = nil, logger: Logger? = nil) -> TokenCache {
        TokenCache(client: upstream.client(), time: time, persistPath: persistPath, logger: logger ?? self.logger)
    }

    /// A portrait fetcher on `upstream` with a token cache of its own (`cache(on:)`).
    func fetcher(on upstream: SimulatedUpstream) -> PortraitFetcher {
        PortraitFetcher(client: upstream.client(), tokens: cache(on: upstream), time: time)
    }

    @Test("single flight: 20 concurrent callers cause one token call and share the token")
    func singleFlight() async throws {
        try await withUpstream { upstream in
            let cache = cache(on: upstream)
            let app = shop
            let tokens = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<20 { group.addTask { try await cache.token(for: app).value } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(tokens.count == 1)
            #expect(upstream.calls.stableToken == 1)
            #expect(upstream.calls.legacyToken == 0)
            #expect(upstream.simulator.issuedTokens(appid: SimulatedApp.demoShop.appid).count == 1)
        }
    }

    @Test("a cached token is reused until refreshAhead before expiry, then refreshed once")
    func refreshAhead() async throws {
        try await withUpstream { upstream in
            let status = StatusBoard(apps: [AppIdentity(name: "shop", appid: SimulatedApp.demoShop.appid)], windows: [.day1], startedAt: time.now())
            let cache = TokenCache(client: upstream.client(), time: time, refreshAhead: .seconds(300), status: status, logger: logger)
            let first = try await cache.token(for: shop)
            time.set(time.now().addingTimeInterval(6800))
            #expect(try await cache.token(for: shop) == first)
            #expect(upstream.calls.stableToken == 1)
            time.set(time.now().addingTimeInterval(150)) // 6950 s: inside the last 300 s
            let second = try await cache.token(for: shop)
            #expect(upstream.calls.stableToken == 2)
            #expect(second.value != first.value)
            #expect(status.report().tokenRefreshes["shop"]?[.success] == 2)
        }
    }

    @Test("legacy tokens come from GET /cgi-bin/token")
    func legacy() async throws {
        try await withUpstream { upstream in
            _ = try await cache(on: upstream).token(for: SimulatedUpstream.credentials(.demoNews, source: .legacy))
            #expect(upstream.calls.legacyToken == 1)
            #expect(upstream.calls.stableToken == 0)
        }
    }

    @Test("a wrong AppSecret is a config failure and never appears in logs or errors")
    func wrongSecret() async throws {
        try await withUpstream { upstream in
            let logger = self.logger
            logger.redactor.register(secret: "definitely-wrong-secret")
            let cache = cache(on: upstream, logger: logger)
            var app = shop
            app.secret = Secret("definitely-wrong-secret")
            do {
                _ = try await cache.token(for: app)
                Issue.record("a wrong secret produced a token")
            } catch let failure as FetchFailure {
                #expect(failure.reason == .config)
                #expect(failure.errcode == 40125)
                #expect(!failure.description.contains("definitely-wrong-secret"))
            }
            #expect(sink.lines.allSatisfy { !$0.contains("definitely-wrong-secret") })
        }
    }

    @Test("tokens persist to a 0600 file and a restart spends no token call")
    func persistence() async throws {
        try await withUpstream { upstream in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString).json").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            let first = try await cache(on: upstream, persistPath: path).token(for: shop)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            let restarted = cache(on: upstream, persistPath: path)
            #expect(try await restarted.token(for: shop) == first)
            #expect(upstream.calls.stableToken == 1)
        }
    }

    @Test("a static token file is re-read when it changes; a rejected, unchanged token fails")
    func staticFile() async throws {
        try await withUpstream { upstream in
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: path) }
            try "first-static-token\n".write(toFile: path, atomically: true, encoding: .utf8)
            let app = AppCredentials(identity: AppIdentity(name: "central", appid: "wx1111111111111111"), secret: nil, tokenSource: .file(path: path))
            let cache = cache(on: upstream)
            #expect(try await cache.token(for: app).value == "first-static-token")
            await cache.invalidate(app: app, token: "first-static-token")
            await #expect(throws: FetchFailure.self) { try await cache.token(for: app) }
            try "second-static-token".write(toFile: path, atomically: true, encoding: .utf8)
            #expect(try await cache.token(for: app).value == "second-static-token")
            #expect(upstream.calls.stableToken == 0)
        }
    }

    @Test("the status board learns when each cached token expires (never the token): on refresh, invalidation, restart; not for token files")
    func expiryOnTheBoard() async throws {
        let upstream = try SimulatedUpstream(time: time)
        defer { upstream.stop() }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("tokens-\(UUID().uuidString).json").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let tokenFile = FileManager.default.temporaryDirectory.appendingPathComponent("token-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: tokenFile) }
        try "central-static-token".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let app = SimulatedUpstream.credentials(.demoShop)
        let central = AppCredentials(identity: AppIdentity(name: "central", appid: "wx1111111111111111"), secret: nil, tokenSource: .file(path: tokenFile))
        func board() -> StatusBoard {
            StatusBoard(apps: [AppIdentity(name: "shop", appid: SimulatedApp.demoShop.appid), central.identity], windows: [.day1], startedAt: time.now())
        }

        let status = board()
        let cache = TokenCache(client: upstream.client(), time: time, persistPath: path, status: status, logger: logger)
        #expect(status.report().tokenExpiry.isEmpty)
        let first = try await cache.token(for: app)
        #expect(first.expiresAt == time.now().addingTimeInterval(7200))
        #expect(status.report().tokenExpiry == ["shop": first.expiresAt])
        _ = try await cache.token(for: central)
        #expect(status.report().tokenExpiry == ["shop": first.expiresAt], "a token file's expiry is unknown")
        #expect(!String(describing: status.report()).contains(first.value))

        // A restart with the persisted token: known before any token call.
        let restartedStatus = board()
        let restarted = TokenCache(client: upstream.client(), time: time, persistPath: path, status: restartedStatus, logger: logger)
        #expect(try await restarted.token(for: app) == first)
        #expect(restartedStatus.report().tokenExpiry == ["shop": first.expiresAt])
        #expect(upstream.calls.stableToken == 1)

        // Invalidated: nothing cached, nothing shown; the next refresh shows the new expiry.
        await restarted.invalidate(app: app, token: first.value)
        #expect(restartedStatus.report().tokenExpiry.isEmpty)
        time.set(time.now().addingTimeInterval(60))
        let second = try await restarted.token(for: app)
        #expect(restartedStatus.report().tokenExpiry == ["shop": second.expiresAt])
        #expect(second.expiresAt > time.now())
    }

    @Test("40001 on the portrait call: one token refresh and one retry")
    func tokenRejectedOnce() async throws {
        try await withUpstream { upstream in
            let fetcher = fetcher(on: upstream)
            let end = yesterday
            _ = try await fetcher.fetch(app: shop, window: .day7, end: end)
            upstream.simulator.invalidateAllTokens()
            let before = upstream.calls
            let snapshot = try await fetcher.fetch(app: shop, window: .day7, end: end)
            let after = upstream.calls
            #expect(after.stableToken - before.stableToken == 1)
            #expect(after.portrait - before.portrait == 2)
            #expect(after.portraitErrors[40001, default: 0] - before.portraitErrors[40001, default: 0] == 1)
            let expected = upstream.simulator.expectedPortrait(appid: shop.identity.appid, window: .day7, end: end).portrait
            #expect(snapshot.portrait == expected)
        }
    }

    @Test("a token that keeps being rejected: exactly one refresh and one retry, then a token failure")
    func tokenRejectedTwice() async throws {
        try await withUpstream { upstream in
            let fetcher = fetcher(on: upstream)
            upstream.simulator.inject(.errcode(40001), count: 10)
            do {
                _ = try await fetcher.fetch(app: shop, window: .day1, end: yesterday)
                Issue.record("fetch succeeded through a rejected token")
            } catch let failure as FetchFailure {
                #expect(failure.reason == .token)
            }
            #expect(upstream.calls.portrait == 2)
            #expect(upstream.calls.stableToken == 2)
        }
    }

    @Test("after invalidation, concurrent fetches of every window share one refresh")
    func invalidationWithManyWaiters() async throws {
        try await withUpstream { upstream in
            let fetcher = fetcher(on: upstream)
            let (app, end) = (shop, yesterday)
            _ = try await fetcher.fetch(app: app, window: .day1, end: end)
            upstream.simulator.invalidateAllTokens()
            let before = upstream.calls
            try await withThrowingTaskGroup(of: Void.self) { group in
                for window in Window.allCases {
                    for _ in 0..<3 { group.addTask { _ = try await fetcher.fetch(app: app, window: window, end: end) } }
                }
                try await group.waitForAll()
            }
            #expect(upstream.calls.stableToken - before.stableToken == 1)
            #expect(upstream.calls.portrait - before.portrait <= 18)
            #expect(upstream.calls.portraitSuccesses - before.portraitSuccesses == 9)
        }
    }
}

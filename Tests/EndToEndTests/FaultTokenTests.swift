import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// Tokens revoked (40001) or expired (42001) behind the exporter's back, while its cache still
/// holds them: one token call per app and one retry per call, however many jobs and plugins wait.
@Suite("Faults: tokens", .timeLimit(.minutes(5)))
struct FaultTokenTests {
    enum TokenFault: String, CaseIterable, Sendable {
        case invalidate, expire
        var errcode: Int { self == .invalidate ? 40001 : 42001 }
    }

    @Test("after all tokens are invalidated or expired: exactly one token call per app and at most one retry per call",
          arguments: TokenFault.allCases)
    func oneRefreshOneRetry(fault: TokenFault) async throws {
        // A cold start at 09:30 fetches T-2 at once (token issued at 09:30, valid until 11:30);
        // at 10:00 all six jobs (3 windows × 2 apps, all in flight at once) fetch T-1 with the
        // cached token, which the simulator no longer accepts. Three plugins take the results.
        let p = try await ExporterPipeline(ExporterPipeline.Options(start: "2026-03-01 09:30", prometheusPlugins: 2, recordingPlugins: 1,
                                                              maxConcurrentFetches: 6))
        let before = try await p.scrape()
        let dayBefore = ChinaDate(iso: "2026-02-27")!
        expectAllData(before, p, end: dayBefore)
        for app in p.apps { #expect(p.calls(app).stableToken == 1) }
        let tokensBefore = Set(p.simulator.allIssuedTokens())
        #expect(tokensBefore.count == 2)

        await p.advance(to: "2026-03-01 09:45")
        // Through the admin API, as a person would.
        let admin = try await TestHTTPClient.request(port: p.upstream.server.boundAddresses[0].port, method: "POST", path: "/-/tokens/\(fault.rawValue)")
        #expect(admin.status == 200)
        #expect(admin.text.contains(":2}"), "\(admin.text)")
        // Make the one refresh slow (300 ms real time), so jobs that want a token meanwhile must wait for it.
        p.simulator.inject(.delay(.milliseconds(300)), count: 2, endpoints: [.stableToken])
        let before10 = p.apps.map { p.calls($0) }

        await p.advance(to: "2026-03-01 10:00")
        let after = try await p.scrape()
        for (index, app) in p.apps.enumerated() {
            let calls = p.calls(app)
            let rejected = calls.portraitErrors[fault.errcode, default: 0] - before10[index].portraitErrors[fault.errcode, default: 0]
            #expect(calls.stableToken - before10[index].stableToken == 1, "\(app.name!): exactly one token call")
            #expect((1...3).contains(rejected), "\(app.name!): \(rejected) calls rejected")
            // Three calls, plus one retry for each rejected one; nothing else.
            #expect(calls.portrait - before10[index].portrait == 3 + rejected)
            #expect(calls.portraitSuccesses - before10[index].portraitSuccesses == 3)
            for window in Window.allCases {
                expectExactData(after, p, app: app, window: window, end: FaultTests.yesterdayOf("2026-03-01"))
                #expect(after.up(app, window) == "1")
                // A token error cured by the one retry is not a failed fetch.
                #expect(after.otherErrors(app, window, except: nil) == 0)
            }
            #expect(after.value("wechat_portrait_token_refreshes_total", ["app": app.name!, "result": "success"]) == "2")
            #expect(after.value("wechat_portrait_token_refreshes_total", ["app": app.name!, "result": "failure"]) == "0")
        }
        #expect(Set(p.simulator.allIssuedTokens()).subtracting(tokensBefore).count == 2)
        // Every plugin got the same new state.
        let second = try await p.scrape(1)
        #expect(second.allUsers == after.allUsers)
        var recorded = false
        for _ in PollingRounds() {
            guard !recorded else { break }
            recorded = p.recorders[0].latest.map { state in
                state.snapshots.count == 6 && state.snapshots.values.allSatisfy { $0.endDate == FaultTests.yesterdayOf("2026-03-01") }
            } ?? false
            if !recorded { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(recorded, "the recording plugin never got the new day")
        #expect(p.sink.lines(containing: "fetch failed").isEmpty)
        await p.stop()
    }
}

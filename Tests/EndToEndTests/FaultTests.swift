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
        let p = try await ExporterPipeline()
        let before = try await p.scrape()
        expectAllData(before, p, end: Self.yesterday)
        let callsBefore = p.apps.map { p.calls($0).portrait }

        // The fault starts just before the day's fetch at 10:00; look at its first hour.
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(scenario.injection)
        await p.advance(to: Self.faultEnd)
        let during = try await p.scrape()

        let start = ManualTimeSource.chinaInstant(Self.faultStart)
        let bounds = RetrySchedule.callBounds(scenario.retryClass, from: start, over: .seconds(3600), policy: p.policy)
        for (index, app) in p.apps.enumerated() {
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
        expectAllData(after, p, end: Self.today, up: "1")
        #expect(p.sink.lines(containing: "fetch recovered").count == p.jobs)
        await p.stop()
    }

    @Test("errcode -1 on every 3rd call: exactly those calls fail, each failed job retries once, all get the new day")
    func everyThirdCall() async throws {
        let p = try await ExporterPipeline()
        let callsBefore = p.simulator.stats().total.portrait
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(.errcode(-1), every: 3)
        // The six 10:00 calls: #3 and #6 fail; their jobs retry 15–30 s later (calls #7, #8) and succeed.
        await p.advance(to: "2026-03-02 10:00:14")
        var scraped = try await p.scrape()
        #expect(p.simulator.stats().total.portrait - callsBefore == 6)
        let failed = p.apps.flatMap { app in Window.allCases.filter { scraped.errors(app, $0, .upstreamError) == 1 }.map { (app, $0) } }
        #expect(failed.count == 2)
        for (app, window) in failed { #expect(scraped.up(app, window) == "0") }
        await p.advance(to: "2026-03-02 10:00:30")
        scraped = try await p.scrape()
        #expect(p.simulator.stats().total.portrait - callsBefore == 8)
        #expect(p.simulator.stats().total.portraitErrors == [-1: 2])
        expectAllData(scraped, p, end: Self.today, up: "1")
        for (app, window) in p.appWindows {
            #expect(scraped.errors(app, window, .upstreamError) == (failed.contains { $0 == (app, window) } ? 1 : 0))
        }
        // Nothing more that day.
        await p.advance(to: "2026-03-02 23:59")
        #expect(p.simulator.stats().total.portrait - callsBefore == 8)
        await p.stop()
    }
}

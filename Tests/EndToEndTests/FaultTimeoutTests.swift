import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// Slow and silent upstreams. These need the real URLSession deadline, so the exporter runs with
/// `upstream.timeout_seconds` 5 and the fault hits only the first call of each of one app's jobs:
/// about five real seconds per test. Not 1 s: the healthy app's calls must finish inside the same
/// real deadline, and on a loaded 2-core machine a loopback round trip has taken over a second.
@Suite("Faults: slow and hung upstream", .timeLimit(.minutes(5)))
struct FaultTimeoutTests {
    static let shop = SimulatedApp.demoShop, news = SimulatedApp.demoNews

    @Test("a slow or hung answer times out on our 5 s deadline, is counted as timeout, and the job recovers on its retry",
          arguments: [Fault.delay(.seconds(60)), .hang])
    func timesOut(fault: Fault) async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(timeoutSeconds: 5, maxConcurrentFetches: 6))
        let before = try await p.scrape()
        let shopCalls = p.calls(Self.shop).portrait

        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(fault, appids: [Self.shop.appid], count: 3)
        let clock = ContinuousClock()
        let started = clock.now
        // 10:00: shop's three calls wait in vain until the deadline; news is not held up by them.
        await p.advance(to: "2026-03-02 10:00:14")
        let elapsed = clock.now - started
        // Not a moment less than the deadline, and nowhere near the 60 s the slow answer takes.
        #expect(elapsed >= .milliseconds(4900) && elapsed < .seconds(45), "the deadline is 5 s: \(elapsed)")
        let during = try await p.scrape()
        let firstQuarterMinute = RetrySchedule.callBounds(.backoff, from: ManualTimeSource.chinaInstant(FaultTests.faultStart),
                                                          over: .seconds(14), policy: p.policy)
        #expect(firstQuarterMinute == 1...1)
        for window in Window.allCases {
            #expect(during.users(Self.shop, window) == before.users(Self.shop, window))
            #expect(during.dataEnd(Self.shop, window) == before.dataEnd(Self.shop, window))
            #expect(during.up(Self.shop, window) == "0")
            #expect(during.errors(Self.shop, window, .timeout) == 1)
            #expect(during.otherErrors(Self.shop, window, except: .timeout) == 0)
            // The first retry comes no sooner than 15 s (30 s backoff, jitter 50–100 %).
            #expect(firstQuarterMinute.contains(during.attempts(Self.shop, window) - before.attempts(Self.shop, window)))
            expectExactData(during, p, app: Self.news, window: window, end: FaultTests.today)
            #expect(during.up(Self.news, window) == "1")
        }
        #expect(p.calls(Self.shop).portrait - shopCalls == 3)
        #expect(p.sink.lines(containing: "reason=timeout").count == 3)

        // The fault is used up; the retries (15–30 s later) get the new day.
        await p.advance(to: "2026-03-02 10:00:31")
        let after = try await p.scrape()
        for window in Window.allCases {
            expectExactData(after, p, app: Self.shop, window: window, end: FaultTests.today)
            #expect(after.up(Self.shop, window) == "1")
            #expect(after.attempts(Self.shop, window) - before.attempts(Self.shop, window) == 2)
        }
        #expect(p.calls(Self.shop).portrait - shopCalls == 6)
        await p.stop()
    }

    @Test("a slow answer within the deadline is data, not an error")
    func slowButInTime() async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(timeoutSeconds: 5, maxConcurrentFetches: 6))
        await p.advance(to: "2026-03-02 09:59")
        p.simulator.inject(.delay(.seconds(1)))
        await p.advance(to: "2026-03-02 10:00")
        let scraped = try await p.scrape()
        expectAllData(scraped, p, end: FaultTests.today, up: "1", noErrors: true)
        #expect(p.simulator.stats().total.faultsApplied == 6)
        await p.stop()
    }
}

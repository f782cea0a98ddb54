import Foundation
import PortraitCore
import PortraitTestKit
import Testing

@Suite("Fetch plan")
struct FetchPlanTests {
    let policy = SchedulePolicy()
    func at(_ text: String) -> Date { ManualTimeSource.chinaInstant(text) }
    func day(_ text: String) -> ChinaDate { ChinaDate(iso: text)! }

    @Test("before the ready time the target is T-2, from it on T-1")
    func target() {
        #expect(FetchPlan.target(at: at("2026-03-01 00:30"), policy: policy) == day("2026-02-27"))
        #expect(FetchPlan.target(at: at("2026-03-01 09:59:59"), policy: policy) == day("2026-02-27"))
        #expect(FetchPlan.target(at: at("2026-03-01 10:00"), policy: policy) == day("2026-02-28"))
        #expect(FetchPlan.target(at: at("2026-01-01 11:00"), policy: policy) == day("2025-12-31"))
    }

    @Test("a cold start fetches the target at once; an up-to-date job waits for the next ready time plus its offset")
    func coldAndWarm() {
        #expect(FetchPlan().action(at: at("2026-03-01 08:00"), policy: policy) == .fetch(day("2026-02-27")))
        #expect(FetchPlan().action(at: at("2026-03-01 12:00"), policy: policy) == .fetch(day("2026-02-28")))
        let warmMorning = FetchPlan(lastGoodEnd: day("2026-02-27"))
        #expect(warmMorning.action(at: at("2026-03-01 08:00"), policy: policy, offset: .seconds(2)) == .wait(until: at("2026-03-01 10:00:02")))
        let warmNoon = FetchPlan(lastGoodEnd: day("2026-02-28"))
        #expect(warmNoon.action(at: at("2026-03-01 12:00"), policy: policy) == .wait(until: at("2026-03-02 10:00")))
    }

    @Test("a pending retry waits, a fallback goes first")
    func retryAndFallback() {
        let retrying = FetchPlan(lastGoodEnd: nil, retryAt: at("2026-03-01 12:30"))
        #expect(retrying.action(at: at("2026-03-01 12:00"), policy: policy) == .wait(until: at("2026-03-01 12:30")))
        #expect(retrying.action(at: at("2026-03-01 12:30"), policy: policy) == .fetch(day("2026-02-28")))
        let fallback = FetchPlan(lastGoodEnd: nil, retryAt: at("2026-03-01 12:30"), fallback: day("2026-02-27"))
        #expect(fallback.action(at: at("2026-03-01 12:00"), policy: policy) == .fetch(day("2026-02-27")))
    }

    @Test("backoff doubles up to its cap; offsets are capped")
    func backoff() {
        var policy = SchedulePolicy()
        policy.backoffInitial = .seconds(30)
        policy.backoffMax = .seconds(300)
        #expect((1...6).map { policy.backoff(failures: $0) } == [.seconds(30), .seconds(60), .seconds(120), .seconds(240), .seconds(300), .seconds(300)])
        #expect(policy.offset(index: 10) == .seconds(2))
        #expect(policy.offset(index: 100_000) == .seconds(300))
    }
}

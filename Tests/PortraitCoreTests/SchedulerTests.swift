import Foundation
import PortraitCore
import PortraitTestKit
import Synchronization
import Testing
import WeChatSimulator

/// The scheduler against the simulator over loopback, with a manual clock: a day of scheduling
/// runs in milliseconds, and the simulator counts every upstream call.
@Suite("Scheduler", .timeLimit(.minutes(5)))
struct SchedulerTests {
    final class Harness: Sendable {
        let time: ManualTimeSource
        let upstream: SimulatedUpstream
        let status: StatusBoard
        let scheduler: Scheduler
        let sink = RecordingLogSink()
        let delivered = LockedValue<[Snapshot]>([])
        let jobs: Int
        let task = Mutex<Task<Void, Never>?>(nil)

        init(start: String, upstreamReady: String = "10:00", windows: [Window] = [.day1], policy: SchedulePolicy = Harness.policy) throws {
            time = ManualTimeSource(china: start)
            upstream = try SimulatedUpstream(time: time, apps: [.demoShop], readyTime: TimeOfDay(parsing: upstreamReady)!)
            let app = SimulatedUpstream.credentials(.demoShop)
            status = StatusBoard(apps: [app.identity], windows: windows, startedAt: time.now())
            let logger = Logger(level: .info, sink: sink, clock: time)
            let tokens = TokenCache(client: upstream.client(), time: time, status: status, logger: logger)
            let fetcher = PortraitFetcher(client: upstream.client(), tokens: tokens, time: time)
            jobs = windows.count
            let delivered = self.delivered
            scheduler = Scheduler(apps: [app], windows: windows, policy: policy, fetcher: fetcher, time: time, status: status,
                                  logger: logger, deliver: { snapshot in delivered.withLock { $0.append(snapshot) } })
        }

        static var policy: SchedulePolicy {
            var policy = SchedulePolicy()
            policy.stagger = .zero
            return policy
        }

        /// Starts the scheduler and waits until every job sleeps again.
        func start() async {
            let scheduler = self.scheduler
            task.withLock { $0 = Task { await scheduler.run() } }
            await time.waitForSleepers(jobs)
        }

        func advance(to china: String) async { await time.advance(to: ManualTimeSource.chinaInstant(china), sleepers: jobs) }

        func stop() {
            task.withLock { $0?.cancel() }
            upstream.stop()
        }

        var snapshots: [Snapshot] { delivered.value }
        var portraitCalls: Int { upstream.calls.portrait }
        var job: JobStatus { status.report().jobs[0] }
    }

    static func day(_ iso: String) -> ChinaDate { ChinaDate(iso: iso)! }

    @Test("a cold start before the ready time serves T-2 at once, then T-1 after it, then one call a day")
    func coldStartMorning() async throws {
        let h = try Harness(start: "2026-03-01 08:00", windows: [.day1, .day7, .day30])
        defer { h.stop() }
        await h.start()
        #expect(h.snapshots.map(\.endDate) == Array(repeating: Self.day("2026-02-27"), count: 3))
        #expect(h.portraitCalls == 3)
        await h.advance(to: "2026-03-01 10:30")
        #expect(h.snapshots.suffix(3).map(\.endDate) == Array(repeating: Self.day("2026-02-28"), count: 3))
        #expect(h.portraitCalls == 6)
        await h.advance(to: "2026-03-02 09:59")
        #expect(h.portraitCalls == 6)
        await h.advance(to: "2026-03-02 10:01")
        #expect(h.portraitCalls == 9)
        #expect(h.snapshots.suffix(3).map(\.endDate) == Array(repeating: Self.day("2026-03-01"), count: 3))
        // Tokens live two hours: one token call per round, shared by the three windows of a round.
        #expect(h.upstream.calls.stableToken == 3)
        // The data is exactly what the simulator served.
        let last = try #require(h.snapshots.last)
        #expect(last.portrait == h.upstream.simulator.expectedPortrait(appid: last.app.appid, window: last.window, end: last.endDate).portrait)
    }

    @Test("T-1 not ready after a cold start: T-2 at once, retries every 30 minutes, T-1 when ready")
    func notReadyFallback() async throws {
        let h = try Harness(start: "2026-03-01 12:00", upstreamReady: "15:00")
        defer { h.stop() }
        await h.start()
        #expect(h.portraitCalls == 2)
        #expect(h.snapshots.map(\.endDate) == [Self.day("2026-02-27")])
        #expect(h.job.isUp)
        await h.advance(to: "2026-03-01 14:59")
        #expect(h.portraitCalls == 2 + 5) // 12:30, 13:00, 13:30, 14:00, 14:30
        #expect(h.job.errorCount(.notReady) == 6)
        await h.advance(to: "2026-03-01 15:01")
        #expect(h.portraitCalls == 8)
        #expect(h.snapshots.last?.endDate == Self.day("2026-02-28"))
        #expect(h.sink.lines(containing: "fetch failed").count == 1)
        #expect(h.sink.lines(containing: "fetch failed").first?.contains("reason=not_ready") == true)
    }

    @Test("system errors back off exponentially with jitter, keep the last good data, and recover by themselves")
    func backoff() async throws {
        let h = try Harness(start: "2026-03-01 12:00")
        defer { h.stop() }
        await h.start()
        #expect(h.snapshots.count == 1)
        h.upstream.simulator.inject(.errcode(-1))
        await h.advance(to: "2026-03-02 10:00")
        #expect(h.portraitCalls == 2)
        await h.advance(to: "2026-03-02 12:00")
        // Delays 30, 60, 120 … capped at 1800 s, each jittered into [50 %, 100 %]: within 7200 s
        // that is 8 to 12 retries after the first failure.
        let failed = h.portraitCalls - 1
        #expect((9...13).contains(failed), "failed calls: \(failed)")
        // Int(clamping:), not UInt64(failed): when no call was made `failed` is -1, and a trap here
        // would end the whole test run instead of failing this test.
        #expect(Int(clamping: h.job.errorCount(.upstreamError)) == failed)
        #expect(!h.job.isUp)
        #expect(h.snapshots.count == 1, "a failure must not replace the last good snapshot")
        #expect(h.job.dataEndDate == Self.day("2026-02-28"))
        #expect(h.sink.lines(containing: "fetch failed").count == 1, "logged once per change of state")
        h.upstream.simulator.clearFaults()
        await h.advance(to: "2026-03-02 12:31")
        #expect(h.snapshots.last?.endDate == Self.day("2026-03-01"))
        #expect(h.job.isUp)
        #expect(h.sink.lines(containing: "fetch recovered").count == 1)
    }

    @Test("45009 (daily quota): no call until the next China day")
    func quota() async throws {
        let h = try Harness(start: "2026-03-01 12:00")
        defer { h.stop() }
        h.upstream.simulator.inject(.errcode(45009))
        await h.start()
        #expect(h.portraitCalls == 1)
        #expect(h.job.errorCount(.quota) == 1)
        await h.advance(to: "2026-03-01 23:59:59")
        #expect(h.portraitCalls == 1)
        h.upstream.simulator.clearFaults()
        await h.advance(to: "2026-03-02 00:05")
        #expect(h.portraitCalls == 2)
        // Before the ready time the best data is T-2 of the new day: the day the quota kept us from.
        #expect(h.snapshots.map(\.endDate) == [Self.day("2026-02-28")])
    }

    @Test("configuration failures retry hourly and are logged once with their reason")
    func configurationFailure() async throws {
        let h = try Harness(start: "2026-03-01 12:00")
        defer { h.stop() }
        h.upstream.simulator.inject(.errcode(40164, message: "invalid ip 203.0.113.7, not in whitelist"))
        await h.start()
        await h.advance(to: "2026-03-01 15:30")
        #expect(h.portraitCalls == 4) // 12:00, 13:00, 14:00, 15:00
        #expect(h.job.errorCount(.config) == 4)
        let logged = h.sink.lines(containing: "fetch failed")
        #expect(logged.count == 1)
        #expect(logged.first?.contains("reason=config") == true)
        #expect(logged.first?.contains("errcode=40164") == true)
        #expect(logged.first?.contains("level=error") == true)
    }

    @Test("empty arrays for T-1 before 18:00 are taken as not ready when the day before had data")
    func emptyArraysNotFinal() async throws {
        let h = try Harness(start: "2026-03-01 08:00")
        defer { h.stop() }
        await h.start()
        h.upstream.simulator.inject(.emptyArrays, count: 1)
        await h.advance(to: "2026-03-01 10:01")
        #expect(h.portraitCalls == 2)
        #expect(h.snapshots.count == 1)
        #expect(h.job.errorCount(.notReady) == 1)
        await h.advance(to: "2026-03-01 10:31")
        #expect(h.portraitCalls == 3)
        #expect(h.snapshots.last?.endDate == Self.day("2026-02-28"))
        #expect(h.snapshots.last?.portrait.isEmpty == false)
    }
}

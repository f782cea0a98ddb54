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

        init(start: String, upstreamReady: String = "10:00", windows: [Window] = [.day1], policy: SchedulePolicy = Harness.policy,
             wrap: (PortraitFetcher) -> any SnapshotFetching = { $0 }) throws {
            time = ManualTimeSource(china: start)
            upstream = try SimulatedUpstream(time: time, apps: [.demoShop], readyTime: TimeOfDay(parsing: upstreamReady)!)
            let app = SimulatedUpstream.credentials(.demoShop)
            status = StatusBoard(apps: [app.identity], windows: windows, startedAt: time.now())
            let logger = Logger(level: .info, sink: sink, clock: time)
            let tokens = TokenCache(client: upstream.client(), time: time, status: status, logger: logger)
            let fetcher = PortraitFetcher(client: upstream.client(), tokens: tokens, time: time)
            jobs = windows.count
            let delivered = self.delivered
            scheduler = Scheduler(apps: [app], windows: windows, policy: policy, fetcher: wrap(fetcher), time: time, status: status,
                                  logger: logger, deliver: { snapshot in delivered.withLock { $0.append(snapshot) } })
        }

        static var policy: SchedulePolicy {
            var policy = SchedulePolicy()
            policy.stagger = .zero
            return policy
        }

        /// Starts the scheduler and waits until every job sleeps again.
        func start() async {
            startWithoutWaiting()
            await time.waitForSleepers(jobs)
        }

        func startWithoutWaiting() {
            let scheduler = self.scheduler
            task.withLock { $0 = Task { await scheduler.run() } }
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
    static func instant(_ china: String) -> Date { ManualTimeSource.chinaInstant(china) }

    /// The real fetcher behind a gate: every fetch waits until `open()`, so a test can look at
    /// the status board while a call is due.
    final class GatedFetcher: SnapshotFetching {
        let inner: PortraitFetcher
        let entered = LockedValue(0)
        private let gate = LockedValue<(open: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, []))

        init(_ inner: PortraitFetcher) { self.inner = inner }

        func fetch(app: AppCredentials, window: Window, end: ChinaDate) async throws -> Snapshot {
            entered.withLock { $0 += 1 }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let go = gate.withLock { gate -> Bool in
                    if gate.open { return true }
                    gate.waiting.append(continuation)
                    return false
                }
                if go { continuation.resume() }
            }
            return try await inner.fetch(app: app, window: window, end: end)
        }

        func open() {
            let waiting = gate.withLock { gate -> [CheckedContinuation<Void, Never>] in
                gate.open = true
                defer { gate.waiting = [] }
                return gate.waiting
            }
            waiting.forEach { $0.resume() }
        }
    }

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

    @Test("next attempt and last errcode: the next ready time after a success, the next China day after 45009, the hour after a config errcode, -2 and a backoff after a failure without an errcode")
    func nextAttemptAndErrcode() async throws {
        let h = try Harness(start: "2026-03-01 12:00")
        defer { h.stop() }
        await h.start()
        #expect(h.job.lastErrcode == 0)
        #expect(h.job.nextAttemptAt == Self.instant("2026-03-02 10:00"))

        h.upstream.simulator.inject(.errcode(45009), count: 1)
        await h.advance(to: "2026-03-02 10:00")
        #expect(h.job.lastErrcode == 45009)
        let midnight = Self.instant("2026-03-03 00:00")
        let quotaWait = try #require(h.job.nextAttemptAt)
        #expect(quotaWait >= midnight && quotaWait < midnight.addingTimeInterval(300), "next attempt \(quotaWait)")

        h.upstream.simulator.inject(.errcode(40164, message: "invalid ip 203.0.113.7, not in whitelist"), count: 1)
        await h.time.advance(to: quotaWait, sleepers: h.jobs)
        #expect(h.job.lastErrcode == 40164)
        let configRetry = quotaWait.addingTimeInterval(3600)
        #expect(h.job.nextAttemptAt == configRetry)

        h.upstream.simulator.inject(.httpStatus(502, body: "bad gateway"), count: 1)
        await h.time.advance(to: configRetry, sleepers: h.jobs)
        #expect(h.job.lastErrcode == JobStatus.noErrcode)
        #expect(h.job.errorCount(.http) == 1)
        let backoff = try #require(h.job.nextAttemptAt).timeIntervalSince(configRetry)
        #expect((15...30).contains(backoff), "backoff \(backoff) s")

        // The retry gets the day the quota kept back; then the wait is for the next ready time.
        await h.time.advance(to: configRetry.addingTimeInterval(30), sleepers: h.jobs)
        #expect(h.job.lastErrcode == 0)
        #expect(h.snapshots.last?.endDate == Self.day("2026-03-01"))
        #expect(h.job.nextAttemptAt == Self.instant("2026-03-03 10:00"))
    }

    @Test("while a call is due and in flight, the next attempt is the instant it became due")
    func nextAttemptWhileInFlight() async throws {
        var gated: GatedFetcher?
        let h = try Harness(start: "2026-03-01 12:00") { fetcher in
            let gate = GatedFetcher(fetcher)
            gated = gate
            return gate
        }
        let gate = try #require(gated)
        defer {
            gate.open()
            h.stop()
        }
        h.startWithoutWaiting()
        for _ in PollingRounds() {
            guard gate.entered.value == 0 else { break }
            try await Task.sleep(for: .milliseconds(5))
        }
        try #require(gate.entered.value == 1)
        #expect(h.job.nextAttemptAt == Self.instant("2026-03-01 12:00"))
        // Ten minutes on, the call still hangs: the next attempt stays in the past (overdue).
        h.time.set(Self.instant("2026-03-01 12:10"))
        #expect(h.job.nextAttemptAt == Self.instant("2026-03-01 12:00"))
        gate.open()
        #expect(await h.time.waitForSleepers(h.jobs))
        #expect(h.job.lastErrcode == 0)
        #expect(h.job.nextAttemptAt == Self.instant("2026-03-02 10:00"))
    }
}

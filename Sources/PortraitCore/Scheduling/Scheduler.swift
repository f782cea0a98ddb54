import Foundation

/// Fetches one portrait; `PortraitFetcher` in production, anything in tests.
public protocol SnapshotFetching: Sendable {
    func fetch(app: AppCredentials, window: Window, end: ChinaDate) async throws -> Snapshot
}

extension PortraitFetcher: SnapshotFetching {}

/// The one scheduler of the process: a job per app and window that keeps the newest available
/// China day fetched, with bounded concurrency across all jobs.
///
/// A job fetches at start (staggered), then once per China day after `policy.readyTime`. Not-ready
/// answers retry every `policy.notReadyRetry`; on a cold start before T-1 is ready it fetches T-2
/// so there is data at once. Transient failures back off exponentially with jitter, 45009 waits for
/// the next China day, configuration failures retry slowly. The last good snapshot is never
/// replaced by a failure. Each change of a job's failure reason is logged once.
public final class Scheduler: Sendable {
    public let apps: [AppCredentials]
    public let windows: [Window]
    public let policy: SchedulePolicy
    private let fetcher: any SnapshotFetching
    private let time: any TimeSource
    private let status: StatusBoard
    private let logger: Logger
    private let deliver: @Sendable (Snapshot) async -> Void
    private let held: [SnapshotKey: Snapshot]

    /// - Parameters:
    ///   - held: snapshots already held (after a config reload), so their jobs start up to date.
    ///   - deliver: receives every good snapshot (normally `SnapshotStore.accept`).
    public init(apps: [AppCredentials], windows: [Window], policy: SchedulePolicy, fetcher: any SnapshotFetching,
                time: any TimeSource, status: StatusBoard, logger: Logger, held: [SnapshotKey: Snapshot] = [:],
                deliver: @escaping @Sendable (Snapshot) async -> Void) {
        self.held = held
        self.apps = apps
        self.windows = windows
        self.policy = policy
        self.fetcher = fetcher
        self.time = time
        self.status = status
        self.logger = logger
        self.deliver = deliver
    }

    /// Runs every job until the calling task is cancelled.
    public func run() async {
        let semaphore = AsyncSemaphore(permits: policy.maxConcurrentFetches)
        await withTaskGroup(of: Void.self) { group in
            var index = 0
            for app in apps {
                for window in windows {
                    let jobIndex = index
                    group.addTask { await self.runJob(app: app, window: window, index: jobIndex, semaphore: semaphore) }
                    index += 1
                }
            }
        }
    }

    private struct JobMemory {
        var plan = FetchPlan()
        var failures = 0
        var lastLoggedReason: FailureReason?
        var lastGoodWasEmpty = true
    }

    private func runJob(app: AppCredentials, window: Window, index: Int, semaphore: AsyncSemaphore) async {
        let key = SnapshotKey(app: app.identity.name, window: window)
        let log = logger.with("app", app.identity.name).with("window", window.rawValue)
        let offset = policy.offset(index: index)
        var random = SplitMix64(seed: "\(app.identity.appid)/\(window.rawValue)")
        var memory = JobMemory()
        if let snapshot = held[key] {
            memory.plan.lastGoodEnd = snapshot.endDate
            memory.lastGoodWasEmpty = snapshot.portrait.isEmpty
        }
        // When the next call became due: the end of the last wait, or nil when one call follows
        // another at once. The status board shows it as the next attempt while the call waits for
        // a permit or runs.
        var due: Date? = time.now().addingTimeInterval(offset.seconds)
        status.recordNextAttempt(key, at: due)
        do {
            try await time.sleep(for: offset)
            while !Task.isCancelled {
                let now = time.now()
                switch memory.plan.action(at: now, policy: policy, offset: offset) {
                case .wait(let until):
                    due = until
                    status.recordNextAttempt(key, at: until)
                    try await time.sleep(until: until)
                case .fetch(let end):
                    status.recordNextAttempt(key, at: min(due ?? now, now))
                    due = nil
                    if memory.plan.fallback == end { memory.plan.fallback = nil }
                    try await semaphore.acquire()
                    let started = time.now()
                    status.recordAttemptStarted(key, at: started)
                    let result: Result<Snapshot, FetchFailure>
                    do {
                        result = .success(try await fetcher.fetch(app: app, window: window, end: end))
                    } catch let failure as FetchFailure {
                        result = .failure(failure)
                    } catch {
                        await semaphore.release()
                        throw error
                    }
                    await semaphore.release()
                    await handle(result, end: end, key: key, started: started, memory: &memory, random: &random, log: log)
                }
            }
        } catch {
            // Cancelled: the process is stopping.
        }
    }

    private func handle(_ result: Result<Snapshot, FetchFailure>, end: ChinaDate, key: SnapshotKey, started: Date,
                        memory: inout JobMemory, random: inout SplitMix64, log: Logger) async {
        let now = time.now()
        let duration = max(0, now.timeIntervalSince(started))
        var outcome = result
        if case .success(let snapshot) = result, snapshot.portrait.isEmpty, !memory.lastGoodWasEmpty,
           end == ChinaDate(containing: now).adding(days: -1), TimeOfDay(of: now) < policy.emptyFinalTime {
            outcome = .failure(FetchFailure(reason: .notReady, message: "every array is empty; taken as not ready before \(policy.emptyFinalTime) China time"))
        }
        switch outcome {
        case .success(let snapshot):
            if memory.plan.lastGoodEnd.map({ $0 <= end }) ?? true {
                memory.plan.lastGoodEnd = end
                memory.lastGoodWasEmpty = snapshot.portrait.isEmpty
                status.recordSuccess(key, dataEnd: end, duration: duration, at: now)
                await deliver(snapshot)
            }
            // A fallback (T-2 while T-1 is not ready) leaves the pending retry of the target alone.
            guard end >= FetchPlan.target(at: now, policy: policy) else {
                log.info("portrait fetched (older day while the newest is not ready)", ["end_date": end.iso, "buckets": String(snapshot.portrait.bucketCount)])
                return
            }
            memory.plan.retryAt = nil
            memory.failures = 0
            if let previous = memory.lastLoggedReason {
                log.info("fetch recovered", ["previous_reason": previous.rawValue, "end_date": end.iso])
                memory.lastLoggedReason = nil
            } else {
                log.info("portrait fetched", ["end_date": end.iso, "buckets": String(snapshot.portrait.bucketCount)])
            }
        case .failure(let failure):
            status.recordFailure(key, reason: failure.reason, errcode: failure.errcode, duration: duration)
            let retryAt = retryInstant(after: failure, now: now, memory: &memory, random: &random)
            if failure.reason == .notReady, end == ChinaDate(containing: now).adding(days: -1),
               memory.plan.lastGoodEnd.map({ $0 < end.adding(days: -1) }) ?? true {
                memory.plan.fallback = end.adding(days: -1)
            }
            memory.plan.retryAt = retryAt
            if memory.lastLoggedReason != failure.reason {
                memory.lastLoggedReason = failure.reason
                var fields: [(String, String)] = [("reason", failure.reason.rawValue), ("end_date", end.iso), ("retry_at", Logger.timestamp(retryAt))]
                if let errcode = failure.errcode { fields.append(("errcode", String(errcode))) }
                if let rid = failure.rid { fields.append(("rid", rid)) }
                fields.append(("serving_end_date", memory.plan.lastGoodEnd?.iso ?? "none"))
                let level: LogLevel = switch failure.reason {
                case .notReady: .info
                case .config, .quota: .error
                default: .warning
                }
                var logger = log
                for (k, v) in fields { logger = logger.with(k, v) }
                logger.log(level, "fetch failed: " + failure.message)
            }
        }
    }

    private func retryInstant(after failure: FetchFailure, now: Date, memory: inout JobMemory, random: inout SplitMix64) -> Date {
        func jittered(_ duration: Duration) -> Double {
            duration.seconds * (0.5 + 0.5 * Double.random(in: 0...1, using: &random))
        }
        switch failure.retryClass {
        case .notReady:
            memory.failures = 0
            return now.addingTimeInterval(policy.notReadyRetry.seconds)
        case .backoff:
            memory.failures += 1
            return now.addingTimeInterval(jittered(policy.backoff(failures: memory.failures)))
        case .rateLimited:
            memory.failures += 1
            return now.addingTimeInterval(max(policy.rateLimitWait.seconds, jittered(policy.backoff(failures: memory.failures))))
        case .nextChinaDay:
            memory.failures = 0
            let midnight = ChinaDate(containing: now).adding(days: 1).midnight
            return midnight.addingTimeInterval(Double.random(in: 0..<300, using: &random))
        case .slow:
            memory.failures = 0
            return now.addingTimeInterval(policy.configRetry.seconds)
        }
    }
}

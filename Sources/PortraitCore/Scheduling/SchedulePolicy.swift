import Foundation

/// When the scheduler fetches and how it retries. Defaults suit the real upstream.
public struct SchedulePolicy: Sendable, Equatable {
    /// China time of day after which yesterday's (T-1) data is normally ready. Before it, the
    /// scheduler serves (and on a cold start fetches) T-2.
    public var readyTime = TimeOfDay(hour: 10)
    /// How long to wait after a not-ready answer (61503, or empty data before `emptyFinalTime`).
    public var notReadyRetry: Duration = .seconds(1800)
    /// Until this China time, an all-empty answer for T-1 is taken as "not ready yet" when the
    /// previous snapshot had data; after it, empty data is accepted as real.
    public var emptyFinalTime = TimeOfDay(hour: 18)
    /// First delay of the capped exponential backoff for transient failures.
    public var backoffInitial: Duration = .seconds(30)
    /// Longest delay of that backoff.
    public var backoffMax: Duration = .seconds(1800)
    /// Delay after configuration failures (bad secret, IP not whitelisted, not authorised).
    public var configRetry: Duration = .seconds(3600)
    /// Shortest wait after 45011 (per-minute limit).
    public var rateLimitWait: Duration = .seconds(60)
    /// Most portrait calls in flight at once, over all apps.
    public var maxConcurrentFetches = 4
    /// Delay between the first fetches of consecutive jobs at start, and the spread of daily
    /// fetches after the ready time (job i starts i × stagger later).
    public var stagger: Duration = .milliseconds(200)
    /// Longest spread added by `stagger` (so 1,000 apps do not spread over hours).
    public var maxStagger: Duration = .seconds(300)

    public init() {}

    /// The backoff delay after `failures` consecutive failures, before jitter.
    public func backoff(failures: Int) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let seconds = min(backoffMax.seconds, backoffInitial.seconds * pow(2, Double(exponent)))
        return .milliseconds(Int64(seconds * 1000))
    }

    /// The start offset of the job at `index`.
    public func offset(index: Int) -> Duration {
        let seconds = min(maxStagger.seconds, stagger.seconds * Double(index))
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// Decides, for one app and window, what to do next. Pure: a function of the time and the job's state.
public struct FetchPlan: Sendable, Equatable {
    public enum Action: Sendable, Equatable {
        /// Fetch the window ending on this date now.
        case fetch(ChinaDate)
        /// Nothing to do before this instant.
        case wait(until: Date)
    }

    /// Last day of the newest data the job holds.
    public var lastGoodEnd: ChinaDate?
    /// Do not fetch the target before this instant (set after a failure).
    public var retryAt: Date?
    /// A date to fetch at once regardless of `retryAt` (T-2 after T-1 was not ready on a cold start).
    public var fallback: ChinaDate?

    public init(lastGoodEnd: ChinaDate? = nil, retryAt: Date? = nil, fallback: ChinaDate? = nil) {
        self.lastGoodEnd = lastGoodEnd
        self.retryAt = retryAt
        self.fallback = fallback
    }

    /// The end date the job should hold at `now`: T-1 from the ready time on, T-2 before it.
    public static func target(at now: Date, policy: SchedulePolicy) -> ChinaDate {
        let yesterday = ChinaDate(containing: now).adding(days: -1)
        return TimeOfDay(of: now) >= policy.readyTime ? yesterday : yesterday.adding(days: -1)
    }

    /// The next instant at which `target` changes (the next ready time).
    public static func nextTargetChange(after now: Date, policy: SchedulePolicy) -> Date {
        let today = ChinaDate(containing: now)
        let readyToday = today.at(policy.readyTime)
        return now < readyToday ? readyToday : today.adding(days: 1).at(policy.readyTime)
    }

    public func action(at now: Date, policy: SchedulePolicy, offset: Duration = .zero) -> Action {
        if let fallback, lastGoodEnd.map({ $0 < fallback }) ?? true { return .fetch(fallback) }
        if let retryAt, retryAt > now { return .wait(until: retryAt) }
        let target = Self.target(at: now, policy: policy)
        if lastGoodEnd.map({ $0 < target }) ?? true { return .fetch(target) }
        return .wait(until: Self.nextTargetChange(after: now, policy: policy).addingTimeInterval(offset.seconds))
    }
}

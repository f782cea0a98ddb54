import Foundation
import Synchronization

/// The fetch state of one app and window, as the exporter's own metrics report it.
public struct JobStatus: Sendable, Equatable {
    public var app: AppIdentity
    public var window: Window
    /// Fetch attempts started (one per portrait call, token retries included).
    public var attempts: UInt64 = 0
    /// Failed attempts by reason, indexed like `FailureReason.allCases`.
    public var errors: [UInt64] = Array(repeating: 0, count: FailureReason.allCases.count)
    public var lastAttemptAt: Date?
    public var lastSuccessAt: Date?
    /// Wall time of the last finished attempt, in seconds.
    public var lastDurationSeconds: Double?
    /// Reason of the last attempt if it failed; `nil` after a success.
    public var lastFailure: FailureReason?
    /// The upstream `errcode` of the last attempt if it failed with one (from getUserPortrait or
    /// the token endpoint); `nil` after a success and after a failure without one.
    public var lastFailureErrcode: Int?
    /// Last day of the data currently served; `nil` before the first success.
    public var dataEndDate: ChinaDate?
    /// When the scheduler next calls the upstream for this job: the end of its current wait (the
    /// daily ready time, a not-ready retry, a backoff, the next China day after 45009). While a
    /// call is due — waiting for one of `max_concurrent_fetches` or in flight — the instant it
    /// became due, so a time in the past means "calling now (or stuck)". `nil` before the job runs.
    public var nextAttemptAt: Date?

    public init(app: AppIdentity, window: Window) {
        self.app = app
        self.window = window
    }

    /// 1 when the last attempt succeeded or only found the data not ready yet; 0 after any other failure
    /// and before the first attempt finished with data.
    public var isUp: Bool {
        if let lastFailure { return lastFailure == .notReady && dataEndDate != nil }
        return lastSuccessAt != nil
    }

    /// The value of `wechat_portrait_last_errcode`: the errcode of the last attempt if it failed,
    /// ``noErrcode`` if it failed without one, 0 if it succeeded; `nil` before an attempt finished.
    public var lastErrcode: Int? {
        if lastFailure != nil { return lastFailureErrcode ?? Self.noErrcode }
        return lastSuccessAt != nil ? 0 : nil
    }

    /// `lastErrcode` of a failure that carried no upstream errcode (timeout, HTTP status, network,
    /// undecodable answer, an empty answer taken as not ready). Not -1: WeChat uses -1 for "system busy".
    public static let noErrcode = -2

    public func errorCount(_ reason: FailureReason) -> UInt64 {
        errors[FailureReason.allCases.firstIndex(of: reason)!]
    }

    public var key: SnapshotKey { SnapshotKey(app: app.name, window: window) }
}

/// The outcome of a token refresh, the `result` label of `wechat_portrait_token_refreshes_total`.
public enum TokenRefreshResult: String, CaseIterable, Sendable {
    case success
    case failure
}

/// A consistent copy of everything the `StatusBoard` knows.
public struct StatusReport: Sendable {
    /// Changes whenever anything in the report changes, so renderers can cache.
    public var version: UInt64
    public var startedAt: Date
    public var apps: [AppIdentity]
    public var windows: [Window]
    /// One entry per app and window, in config order of apps, then window order.
    public var jobs: [JobStatus]
    /// Token refreshes by app name and result.
    public var tokenRefreshes: [String: [TokenRefreshResult: UInt64]]
    /// When each app's cached access token expires, by app name; absent while no token is cached
    /// and for tokens read from a file (their expiry is unknown). Never the token itself.
    public var tokenExpiry: [String: Date]

    /// True once every configured app has a good snapshot for every configured window (`/readyz`).
    public var isReady: Bool { !jobs.isEmpty && jobs.allSatisfy { $0.dataEndDate != nil } }
}

/// The shared, thread-safe record of fetch outcomes that the exporter's own metrics, the landing
/// page and `/readyz` read. Written by the scheduler and the token cache.
public final class StatusBoard: Sendable {
    private struct State {
        var version: UInt64 = 0
        var apps: [AppIdentity]
        var windows: [Window]
        var jobs: [JobStatus]
        var index: [SnapshotKey: Int]
        var tokenRefreshes: [String: [TokenRefreshResult: UInt64]]
        /// Expiry of the cached token by appid (the token cache's key), for every appid ever seen.
        var tokenExpiry: [String: Date] = [:]

        /// `tokenExpiry` of the configured apps, by app name.
        var tokenExpiryByApp: [String: Date] {
            var byApp: [String: Date] = [:]
            for app in apps { if let expiry = tokenExpiry[app.appid] { byApp[app.name] = expiry } }
            return byApp
        }
    }
    private let state: Mutex<State>
    public let startedAt: Date

    public init(apps: [AppIdentity], windows: [Window], startedAt: Date) {
        self.startedAt = startedAt
        var jobs: [JobStatus] = []
        var index: [SnapshotKey: Int] = [:]
        for app in apps {
            for window in windows {
                index[SnapshotKey(app: app.name, window: window)] = jobs.count
                jobs.append(JobStatus(app: app, window: window))
            }
        }
        var refreshes: [String: [TokenRefreshResult: UInt64]] = [:]
        for app in apps { refreshes[app.name] = [.success: 0, .failure: 0] }
        state = Mutex(State(apps: apps, windows: windows, jobs: jobs, index: index, tokenRefreshes: refreshes))
    }

    /// Switches to a new set of apps and windows (config reload): jobs that stay keep their
    /// counters and state, new ones start empty, removed ones disappear.
    public func reconfigure(apps: [AppIdentity], windows: [Window]) {
        state.withLock { state in
            var jobs: [JobStatus] = []
            var index: [SnapshotKey: Int] = [:]
            for app in apps {
                for window in windows {
                    let key = SnapshotKey(app: app.name, window: window)
                    var job = state.index[key].map { state.jobs[$0] } ?? JobStatus(app: app, window: window)
                    if job.app != app { job = JobStatus(app: app, window: window) }
                    index[key] = jobs.count
                    jobs.append(job)
                }
            }
            var refreshes: [String: [TokenRefreshResult: UInt64]] = [:]
            for app in apps { refreshes[app.name] = state.tokenRefreshes[app.name] ?? [.success: 0, .failure: 0] }
            state.apps = apps
            state.windows = windows
            state.jobs = jobs
            state.index = index
            state.tokenRefreshes = refreshes
            state.version &+= 1
        }
    }

    /// Applies `change` to the job of `key` (ignored for unknown keys) and bumps the version.
    public func update(_ key: SnapshotKey, _ change: (inout JobStatus) -> Void) {
        state.withLock { state in
            guard let i = state.index[key] else { return }
            change(&state.jobs[i])
            state.version &+= 1
        }
    }

    public func recordAttemptStarted(_ key: SnapshotKey, at time: Date) {
        update(key) { job in
            job.attempts += 1
            job.lastAttemptAt = time
        }
    }

    public func recordSuccess(_ key: SnapshotKey, dataEnd: ChinaDate, duration: Double, at time: Date) {
        update(key) { job in
            job.lastSuccessAt = time
            job.lastDurationSeconds = duration
            job.lastFailure = nil
            job.lastFailureErrcode = nil
            job.dataEndDate = dataEnd
        }
    }

    /// Records a failed attempt; `errcode` is the upstream's, when it sent one.
    public func recordFailure(_ key: SnapshotKey, reason: FailureReason, errcode: Int? = nil, duration: Double) {
        update(key) { job in
            job.errors[FailureReason.allCases.firstIndex(of: reason)!] += 1
            job.lastDurationSeconds = duration
            job.lastFailure = reason
            job.lastFailureErrcode = errcode
        }
    }

    /// Records when the scheduler next calls the upstream for `key` (see `JobStatus.nextAttemptAt`);
    /// bumps the version only when the value changes.
    public func recordNextAttempt(_ key: SnapshotKey, at time: Date?) {
        state.withLock { state in
            guard let i = state.index[key], state.jobs[i].nextAttemptAt != time else { return }
            state.jobs[i].nextAttemptAt = time
            state.version &+= 1
        }
    }

    /// Records when the access token cached for `appid` expires (`nil`: none cached, or its expiry
    /// is unknown). Bumps the version only when the value changes, so callers may record on every use.
    public func recordTokenExpiry(appid: String, at expiry: Date?) {
        state.withLock { state in
            guard state.tokenExpiry[appid] != expiry else { return }
            state.tokenExpiry[appid] = expiry
            state.version &+= 1
        }
    }

    public func recordTokenRefresh(app: String, result: TokenRefreshResult) {
        state.withLock { state in
            state.tokenRefreshes[app, default: [:]][result, default: 0] += 1
            state.version &+= 1
        }
    }

    /// A consistent copy of the board.
    public func report() -> StatusReport {
        state.withLock { state in
            StatusReport(version: state.version, startedAt: startedAt, apps: state.apps, windows: state.windows, jobs: state.jobs,
                         tokenRefreshes: state.tokenRefreshes, tokenExpiry: state.tokenExpiryByApp)
        }
    }

    /// The version alone, for cheap change checks.
    public var version: UInt64 { state.withLock { $0.version } }
}

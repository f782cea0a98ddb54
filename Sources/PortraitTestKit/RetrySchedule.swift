import Foundation
import PortraitCore

/// How many upstream calls a failing job may make under the scheduler's retry policy, computed
/// from the policy alone: the bounds a test holds the exporter to ("no hammering").
///
/// Delays after the k-th consecutive failure (`b_k = min(backoffMax, backoffInitial × 2^(k-1))`,
/// jittered to 50–100 %):
/// - `backoff`: `[b_k / 2, b_k]`;
/// - `rateLimited`: `[max(rateLimitWait, b_k / 2), max(rateLimitWait, b_k)]`;
/// - `notReady`: exactly `notReadyRetry`; `slow` (configuration): exactly `configRetry`;
/// - `nextChinaDay` (quota): the next China midnight plus 0–300 s.
///
/// Every delay grows with the time it starts from, so the fewest calls come from the longest
/// delays and the most from the shortest.
public enum RetrySchedule {
    /// Jitter-free bounds of the delay after the `failures`-th consecutive failure at `now`, in seconds.
    public static func delayBounds(_ retryClass: RetryClass, failures: Int, at now: Date, policy: SchedulePolicy) -> ClosedRange<Double> {
        let full = policy.backoff(failures: failures).seconds
        switch retryClass {
        case .backoff:
            return full / 2...full
        case .rateLimited:
            let wait = policy.rateLimitWait.seconds
            return max(wait, full / 2)...max(wait, full)
        case .notReady:
            return policy.notReadyRetry.seconds...policy.notReadyRetry.seconds
        case .slow:
            return policy.configRetry.seconds...policy.configRetry.seconds
        case .nextChinaDay:
            let untilMidnight = ChinaDate(containing: now).adding(days: 1).midnight.timeIntervalSince(now)
            return untilMidnight...untilMidnight + 300
        }
    }

    /// Calls a job makes in `[start, start + period]` (both ends included) when its call at
    /// `start` and every later one fail with `retryClass`: the fewest and the most over all jitter.
    public static func callBounds(_ retryClass: RetryClass, from start: Date, over period: Duration, policy: SchedulePolicy) -> ClosedRange<Int> {
        let end = start.addingTimeInterval(period.seconds)
        func calls(_ pick: (ClosedRange<Double>) -> Double) -> Int {
            var time = start, count = 0, failures = 0
            while time <= end {
                count += 1
                failures += 1
                time = time.addingTimeInterval(max(0.001, pick(delayBounds(retryClass, failures: failures, at: time, policy: policy))))
            }
            return count
        }
        return calls(\.upperBound)...calls(\.lowerBound)
    }

    /// The latest instant at which a job that failed with `retryClass` at or before `now` tries
    /// again: after it, a cleared fault must have been recovered from.
    public static func latestRetry(_ retryClass: RetryClass, after now: Date, policy: SchedulePolicy) -> Date {
        switch retryClass {
        case .backoff: now.addingTimeInterval(policy.backoffMax.seconds)
        case .rateLimited: now.addingTimeInterval(max(policy.rateLimitWait.seconds, policy.backoffMax.seconds))
        case .notReady: now.addingTimeInterval(policy.notReadyRetry.seconds)
        case .slow: now.addingTimeInterval(policy.configRetry.seconds)
        case .nextChinaDay: ChinaDate(containing: now).adding(days: 1).midnight.addingTimeInterval(300)
        }
    }
}

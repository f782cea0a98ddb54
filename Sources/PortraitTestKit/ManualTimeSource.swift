import Foundation
import PortraitCore
import Synchronization
import Testing

/// A `TimeSource` whose time moves only when a test says so. Sleepers are resumed in deadline
/// order as the clock passes their deadlines, so a day of scheduling runs in milliseconds.
public final class ManualTimeSource: TimeSource {
    private struct Sleeper {
        var id: UInt64
        var deadline: Date
        var continuation: CheckedContinuation<Void, any Error>
    }
    private struct State {
        var now: Date
        var sleepers: [Sleeper] = []
        var nextID: UInt64 = 0
        var cancelledBeforeSuspending: Set<UInt64> = []
    }
    private let state: Mutex<State>

    public init(now: Date) { state = Mutex(State(now: now)) }

    /// Starts at a China wall-clock time, e.g. `ManualTimeSource(china: "2026-03-01 00:30")`.
    public convenience init(china text: String) {
        self.init(now: ManualTimeSource.chinaInstant(text))
    }

    public func now() -> Date { state.withLock { $0.now } }

    public func sleep(for duration: Duration) async throws {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let resumeNow: (any Error)?? = state.withLock { state in
                    if state.cancelledBeforeSuspending.remove(id) != nil { return .some(CancellationError()) }
                    let deadline = state.now.addingTimeInterval(max(0, duration.seconds))
                    if deadline <= state.now { return .some(nil) }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return nil
                }
                if let resumeNow {
                    if let error = resumeNow { continuation.resume(throwing: error) } else { continuation.resume() }
                }
            }
        } onCancel: {
            let sleeper = state.withLock { state -> Sleeper? in
                if let index = state.sleepers.firstIndex(where: { $0.id == id }) { return state.sleepers.remove(at: index) }
                state.cancelledBeforeSuspending.insert(id)
                return nil
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Number of tasks currently sleeping.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// The earliest deadline of a sleeping task.
    public var nextDeadline: Date? { state.withLock { $0.sleepers.map(\.deadline).min() } }

    /// Waits (in real time, up to `timeout`) until at least `count` tasks sleep. Returns whether they do.
    @discardableResult
    public func waitForSleepers(_ count: Int, timeout: Duration = .seconds(60)) async -> Bool {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: timeout)
        while clock.now < end {
            if sleeperCount >= count { return true }
            try? await Task.sleep(for: .milliseconds(1))
        }
        return sleeperCount >= count
    }

    /// Moves the clock forward by `duration`, step by step: at each sleeper deadline on the way the
    /// clock stops, wakes that sleeper and waits until `sleepers` tasks sleep again before going on,
    /// so woken tasks compute their next deadline from the right time.
    public func advance(by duration: Duration, sleepers: Int) async {
        let target = now().addingTimeInterval(duration.seconds)
        await advance(to: target, sleepers: sleepers)
    }

    /// Like `advance(by:sleepers:)`, to an absolute instant.
    public func advance(to target: Date, sleepers: Int) async {
        while true {
            let due = state.withLock { state -> [Sleeper] in
                guard let next = state.sleepers.map(\.deadline).min(), next <= target else {
                    if state.now < target { state.now = target }
                    return []
                }
                if state.now < next { state.now = next }
                let ready = state.sleepers.filter { $0.deadline <= next }
                state.sleepers.removeAll { $0.deadline <= next }
                return ready
            }
            if due.isEmpty { return }
            for sleeper in due { sleeper.continuation.resume() }
            // Generous: on a shared 2-core machine a woken job's real network round trip can take seconds.
            if !(await waitForSleepers(sleepers, timeout: .seconds(60))) {
                Issue.record("advancing the manual clock: \(sleeperCount) of \(sleepers) tasks went back to sleep within 60 s")
            }
        }
    }

    /// Sets the clock without waking anyone (for tests of pure time logic).
    public func set(_ instant: Date) { state.withLock { $0.now = instant } }

    /// The instant of a China wall-clock time written `yyyy-mm-dd HH:MM[:SS]`.
    public static func chinaInstant(_ text: String) -> Date {
        let parts = text.split(separator: " ")
        guard parts.count == 2, let day = ChinaDate(iso: parts[0]), let time = TimeOfDay(parsing: String(parts[1])) else {
            preconditionFailure("bad China time literal \(text)")
        }
        return day.at(time)
    }
}

/// A `LogSink` that keeps every line, for assertions (and for checking that no secret is logged).
public final class RecordingLogSink: LogSink {
    private let storage = Mutex<[String]>([])
    /// Also print lines (set `PORTRAIT_TEST_LOGS=1`).
    private let echo = ProcessInfo.processInfo.environment["PORTRAIT_TEST_LOGS"] == "1"

    public init() {}

    public func write(_ line: String) {
        storage.withLock { $0.append(line) }
        if echo { print(line) }
    }

    public var lines: [String] { storage.withLock { $0 } }

    /// Lines containing `text`.
    public func lines(containing text: String) -> [String] { lines.filter { $0.contains(text) } }
}

import Foundation
import PortraitCore
import Synchronization

/// A wall clock the test sets by hand. `sleep` advances it instead of waiting.
final class TestClock: TimeSource {
    private let current: Mutex<Date>

    init(_ start: Date) { current = Mutex(start) }

    /// A clock at `hour:minute` China time on the given China day.
    convenience init(china year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int = 0, _ second: Int = 0) {
        self.init(chinaTime(year, month, day, hour, minute, second))
    }

    func now() -> Date { current.withLock { $0 } }

    func sleep(for duration: Duration) async throws { advance(by: duration) }

    func advance(by duration: Duration) { current.withLock { $0 = $0.addingTimeInterval(duration.seconds) } }

    func set(_ date: Date) { current.withLock { $0 = date } }
}

/// The instant of a China wall-clock time.
func chinaTime(_ year: Int, _ month: Int, _ day: Int, _ hour: Int, _ minute: Int = 0, _ second: Int = 0) -> Date {
    chinaDay(year, month, day).at(TimeOfDay(hour: hour, minute: minute, second: second))
}

/// A China day from fixed test constants.
func chinaDay(_ year: Int, _ month: Int, _ day: Int) -> ChinaDate {
    guard let date = ChinaDate(year: year, month: month, day: day) else { preconditionFailure("bad test date") }
    return date
}

@preconcurrency import Glibc
import Foundation

/// Small POSIX helpers shared by the outputs.
enum Posix {
    /// `strerror` text of `code`.
    static func message(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "error \(code)" }
        return String(cString: text)
    }

    /// Monotonic time in nanoseconds.
    static func monotonicNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }

    /// Polls one descriptor for `events`, retrying on EINTR with the remaining time.
    /// Returns `revents`, 0 on timeout, or -1 with errno set.
    static func poll(_ fd: Int32, events: Int16, timeoutMilliseconds: Int) -> Int32 {
        let deadline = monotonicNanoseconds() &+ UInt64(max(0, timeoutMilliseconds)) &* 1_000_000
        var remaining = Int32(clamping: max(0, timeoutMilliseconds))
        while true {
            var descriptor = pollfd(fd: fd, events: events, revents: 0)
            let result = Glibc.poll(&descriptor, 1, remaining)
            if result > 0 { return Int32(descriptor.revents) }
            if result == 0 { return 0 }
            guard errno == EINTR else { return -1 }
            let now = monotonicNanoseconds()
            remaining = now >= deadline ? 0 : Int32(clamping: (deadline - now) / 1_000_000)
        }
    }

    /// `POLLRDHUP` (not exported by the Glibc module): the peer shut down its writing half.
    static let pollReadHangUp: Int16 = 0x2000
}

extension Duration {
    /// The duration in whole milliseconds, clamped to 0 … Int32.max.
    var clampedMilliseconds: Int {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        if seconds >= Int64(Int32.max / 1000) { return Int(Int32.max) }
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

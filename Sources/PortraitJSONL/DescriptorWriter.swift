@preconcurrency import Glibc
import Foundation

/// The write loop shared by the outputs: writes whole lines to a descriptor with one system call
/// per chunk, retrying EINTR and short writes, waiting (with `poll`) while a non-blocking
/// descriptor is full, and returning early only at a line boundary.
struct DescriptorWriter {
    /// How the bytes go out: `write(2)` or `send(2)` with `MSG_NOSIGNAL`.
    enum Call {
        case write
        case send
    }

    /// How far a call got.
    struct Outcome {
        /// Complete lines written.
        var lines: Int
        /// Bytes of those complete lines.
        var lineBytes: Int
        /// Bytes written in total (more than `lineBytes` when a line was cut short by a failure).
        var position: Int
        /// The failure, if any.
        var error: Int32?
        /// True when the failure is "no byte accepted for `stallTimeout`" (error is ETIMEDOUT).
        var stalled = false
    }

    var fd: Int32
    var call: Call
    /// A descriptor that accepts no byte for this long is treated as failed.
    var stallTimeout: Duration

    /// Writes `bytes` (lines ending at `ends`) until done, a failure, or — at a line boundary —
    /// after `budget` of real time.
    func write(_ bytes: [UInt8], ends: [Int], budget: Duration) -> Outcome {
        let start = Posix.monotonicNanoseconds()
        let budgetNanoseconds = UInt64(budget.clampedMilliseconds) &* 1_000_000
        let stallNanoseconds = UInt64(stallTimeout.clampedMilliseconds) &* 1_000_000
        var position = 0
        var completed = 0
        var lastProgress = start
        var failure: Int32?
        var stalled = false
        bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return }
            while position < raw.count {
                while completed < ends.count && ends[completed] <= position { completed += 1 }
                let atBoundary = completed > 0 && ends[completed - 1] == position
                if atBoundary && Posix.monotonicNanoseconds() &- start >= budgetNanoseconds { return }
                let n: Int
                switch call {
                case .write: n = Glibc.write(fd, base + position, raw.count - position)
                case .send: n = Glibc.send(fd, base + position, raw.count - position, Int32(MSG_NOSIGNAL))
                }
                if n > 0 {
                    position += n
                    lastProgress = Posix.monotonicNanoseconds()
                    continue
                }
                let code = n == 0 ? EAGAIN : errno
                if code == EINTR { continue }
                guard code == EAGAIN || code == EWOULDBLOCK else {
                    failure = code
                    return
                }
                let waited = Posix.monotonicNanoseconds() &- lastProgress
                if waited >= stallNanoseconds {
                    failure = ETIMEDOUT
                    stalled = true
                    return
                }
                let slice = min((stallNanoseconds - waited) / 1_000_000 + 1, 100)
                if Posix.poll(fd, events: Int16(POLLOUT), timeoutMilliseconds: Int(slice)) < 0 {
                    failure = errno
                    return
                }
            }
        }
        while completed < ends.count && ends[completed] <= position { completed += 1 }
        return Outcome(lines: completed, lineBytes: completed > 0 ? ends[completed - 1] : 0,
                       position: position, error: failure, stalled: stalled)
    }
}

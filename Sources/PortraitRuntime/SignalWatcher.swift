@preconcurrency import Glibc
import Dispatch
import Synchronization

/// Turns SIGTERM/SIGINT (stop) and SIGHUP (reopen/reload) into callbacks on a dispatch queue.
/// The first SIGTERM/SIGINT asks for a graceful stop; a second one exits at once.
final class SignalWatcher: @unchecked Sendable {
    /// `SIGTERM`, `SIGINT` or `SIGHUP`, for log lines.
    static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: "SIGTERM"
        case SIGINT: "SIGINT"
        case SIGHUP: "SIGHUP"
        default: "signal \(signal)"
        }
    }

    // Touched only on `queue` after `install`; kept so the sources stay alive.
    private var sources: [any DispatchSourceSignal] = []
    private let stops = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "wechat-portrait-exporter.signals")

    /// Installs the handlers and returns once every source is registered with the kernel
    /// (DispatchSource registers asynchronously; a signal before that would kill the process).
    /// - Parameters:
    ///   - onStop: the first SIGTERM/SIGINT.
    ///   - onRepeatedStop: a further SIGTERM/SIGINT, just before the process exits with 128 + its number.
    ///   - onHangup: SIGHUP; without it SIGHUP keeps its default action.
    func install(onStop: @escaping @Sendable (Int32) -> Void, onRepeatedStop: (@Sendable (Int32) -> Void)? = nil,
                 onHangup: (@Sendable () -> Void)? = nil) async {
        signal(SIGPIPE, SIG_IGN)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            queue.async {
                let group = DispatchGroup()
                var numbers = [SIGTERM, SIGINT]
                if onHangup != nil { numbers.append(SIGHUP) }
                for number in numbers {
                    signal(number, SIG_IGN)
                    let source = DispatchSource.makeSignalSource(signal: number, queue: self.queue)
                    group.enter()
                    source.setRegistrationHandler { group.leave() }
                    source.setEventHandler {
                        if number == SIGHUP {
                            onHangup?()
                            return
                        }
                        if self.stops.add(1, ordering: .relaxed).newValue > 1 {
                            onRepeatedStop?(number)
                            _exit(128 + number)
                        }
                        onStop(number)
                    }
                    source.resume()
                    self.sources.append(source)
                }
                group.notify(queue: self.queue) { continuation.resume() }
            }
        }
    }
}

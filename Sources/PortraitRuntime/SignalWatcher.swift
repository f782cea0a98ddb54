@preconcurrency import Glibc
import Dispatch
import Synchronization

/// Turns SIGTERM and SIGINT (and SIGHUP, for later use) into a callback on a dispatch queue.
/// The first SIGTERM/SIGINT asks for a graceful stop; a second one exits at once.
final class SignalWatcher: Sendable {
    private let sources: Mutex<[any DispatchSourceSignal]> = Mutex([])
    private let count = Atomic<Int>(0)
    private let queue = DispatchQueue(label: "wechat-portrait-exporter.signals")

    /// Installs the handlers and returns once every source is registered with the kernel
    /// (DispatchSource registers asynchronously; a signal before that would kill the process).
    func install(onStop: @escaping @Sendable (Int32) -> Void) async {
        signal(SIGPIPE, SIG_IGN)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let group = DispatchGroup()
            var made: [any DispatchSourceSignal] = []
            for number in [SIGTERM, SIGINT] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
                group.enter()
                source.setRegistrationHandler { group.leave() }
                source.setEventHandler { [count] in
                    if count.add(1, ordering: .relaxed).newValue > 1 {
                        _exit(128 + number)
                    }
                    onStop(number)
                }
                source.resume()
                made.append(source)
            }
            sources.withLock { $0 = made }
            group.notify(queue: queue) { continuation.resume() }
        }
    }
}

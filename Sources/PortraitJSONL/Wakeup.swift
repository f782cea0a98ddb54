import PortraitCore
import Synchronization

/// A doorbell for one waiting task: `ring()` wakes the waiter, or the next one if nobody waits
/// (rings do not accumulate). Waits are bounded by a timeout on the plugin's `TimeSource`.
final class Wakeup: Sendable {
    private struct State {
        var pending = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var nextID: UInt64 = 0
        var cancelledID: UInt64?
    }
    private let state = Mutex(State())

    /// Wakes the waiting task, or lets the next `wait` return at once.
    func ring() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter.continuation
        }
        waiter?.resume()
    }

    /// Returns when rung or after `timeout` of `time`, whichever comes first.
    func wait(timeout: Duration, time: any TimeSource) async {
        if state.withLock({ state in
            defer { state.pending = false }
            return state.pending
        }) { return }
        guard timeout > .zero else { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask { try? await time.sleep(for: timeout) }
            _ = await group.next()
            group.cancelAll()
        }
    }

    /// Waits until rung or cancelled.
    private func waitForRing() async {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.pending || state.cancelledID == id {
                        state.pending = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
                if let waiter = state.waiter, waiter.id == id {
                    state.waiter = nil
                    return waiter.continuation
                }
                state.cancelledID = id
                return nil
            }
            waiter?.resume()
        }
    }
}

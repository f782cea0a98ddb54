import Synchronization

/// Counters written by one event loop (relaxed atomics; summed by `HTTPServer.stats()`).
final class LoopCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsRejected = Atomic<Int>(0)
    let connectionsEvicted = Atomic<Int>(0)
    let responses1xx = Atomic<Int>(0)
    let responses2xx = Atomic<Int>(0)
    let responses3xx = Atomic<Int>(0)
    let responses4xx = Atomic<Int>(0)
    let responses5xx = Atomic<Int>(0)
    let badRequests = Atomic<Int>(0)
    let bytesWritten = Atomic<Int>(0)
    let bytesRead = Atomic<Int>(0)
    let headerReadTimeouts = Atomic<Int>(0)
    let idleTimeouts = Atomic<Int>(0)
    let acceptErrors = Atomic<Int>(0)

    func countResponse(status: Int) {
        switch status {
        case ..<200: responses1xx.add(1, ordering: .relaxed)
        case ..<300: responses2xx.add(1, ordering: .relaxed)
        case ..<400: responses3xx.add(1, ordering: .relaxed)
        case ..<500: responses4xx.add(1, ordering: .relaxed)
        default: responses5xx.add(1, ordering: .relaxed)
        }
    }

    /// Adds this loop's counters into `stats`.
    func accumulate(into stats: inout HTTPServerStats) {
        stats.connectionsAccepted += connectionsAccepted.load(ordering: .relaxed)
        stats.connectionsRejected += connectionsRejected.load(ordering: .relaxed)
        stats.connectionsEvicted += connectionsEvicted.load(ordering: .relaxed)
        stats.responsesByClass[1] += responses1xx.load(ordering: .relaxed)
        stats.responsesByClass[2] += responses2xx.load(ordering: .relaxed)
        stats.responsesByClass[3] += responses3xx.load(ordering: .relaxed)
        stats.responsesByClass[4] += responses4xx.load(ordering: .relaxed)
        stats.responsesByClass[5] += responses5xx.load(ordering: .relaxed)
        stats.badRequests += badRequests.load(ordering: .relaxed)
        stats.bytesWritten += bytesWritten.load(ordering: .relaxed)
        stats.bytesRead += bytesRead.load(ordering: .relaxed)
        stats.headerReadTimeouts += headerReadTimeouts.load(ordering: .relaxed)
        stats.idleTimeouts += idleTimeouts.load(ordering: .relaxed)
        stats.acceptErrors += acceptErrors.load(ordering: .relaxed)
    }
}

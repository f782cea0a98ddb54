import Synchronization

/// A snapshot of the server's counters since `start()`, for self-metrics. Counts are totals
/// except ``connectionsOpen``.
public struct HTTPServerStats: Sendable, Hashable {
    /// Connections admitted (rejected ones not included).
    public var connectionsAccepted: Int = 0
    /// Connections closed at once because ``HTTPServerConfiguration/maxConnections`` were open.
    public var connectionsRejected: Int = 0
    /// Connections open now.
    public var connectionsOpen: Int = 0
    /// Responses started (counted before their first byte is written), by status class: index 1 is 1xx … index 5 is 5xx (index 0 unused).
    public var responsesByClass: [Int] = [0, 0, 0, 0, 0, 0]
    /// Responses sent, every status class.
    public var responses: Int { responsesByClass.reduce(0, +) }
    /// Error responses the server produced itself for bad requests (400, 408, 411, 413, 414, 431,
    /// 505), included in ``responsesByClass``.
    public var badRequests: Int = 0
    /// Bytes written to sockets (headers and bodies).
    public var bytesWritten: Int = 0
    /// Bytes read from sockets.
    public var bytesRead: Int = 0
    /// Connections cut because a request took longer than ``HTTPServerConfiguration/headerReadTimeout``.
    public var headerReadTimeouts: Int = 0
    /// Connections closed by ``HTTPServerConfiguration/idleTimeout``.
    public var idleTimeouts: Int = 0
    /// Failed `accept` calls (e.g. EMFILE); accepting pauses 100 ms after a resource error.
    public var acceptErrors: Int = 0

    /// Responses with status `100 * statusClass ..< 100 * (statusClass + 1)`; 0 out of range.
    public func responses(statusClass: Int) -> Int {
        responsesByClass.indices.contains(statusClass) ? responsesByClass[statusClass] : 0
    }
}

/// Counters written by one event loop (relaxed atomics; summed by `HTTPServer.stats()`).
final class LoopCounters: Sendable {
    let connectionsAccepted = Atomic<Int>(0)
    let connectionsRejected = Atomic<Int>(0)
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

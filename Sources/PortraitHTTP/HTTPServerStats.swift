/// A snapshot of the server's counters since `start()`, for self-metrics. Counts are totals
/// except ``connectionsOpen``.
public struct HTTPServerStats: Sendable, Hashable {
    /// Connections admitted (rejected ones not included).
    public var connectionsAccepted: Int = 0
    /// Connections closed at once because ``HTTPServerConfiguration/maxConnections`` were open
    /// and none of them was idle (so none could be evicted).
    public var connectionsRejected: Int = 0
    /// Idle connections closed to make room for a new one at
    /// ``HTTPServerConfiguration/maxConnections``.
    public var connectionsEvicted: Int = 0
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

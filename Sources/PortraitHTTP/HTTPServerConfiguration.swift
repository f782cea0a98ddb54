/// Listen addresses, limits and timeouts of an ``HTTPServer``.
///
/// Every limit answers with a clear status and then closes the connection:
/// a request line longer than ``maxHeaderBytes`` → 414; a header block over ``maxHeaderBytes`` or
/// with more than ``maxHeaderCount`` fields → 431; a body over ``maxBodyBytes`` → 413;
/// a `Transfer-Encoding` request body (chunked) → 411; malformed input → 400.
public struct HTTPServerConfiguration: Sendable {
    /// Addresses to listen on; at least one.
    public var listen: [ListenAddress]
    /// Maximum size in bytes of the request line plus header fields plus the blank line.
    public var maxHeaderBytes: Int = 8192
    /// Maximum number of header fields in one request.
    public var maxHeaderCount: Int = 100
    /// Maximum request body in bytes (`Content-Length`).
    public var maxBodyBytes: Int = 65536
    /// Time allowed to receive one whole request (head and body), measured from its first byte;
    /// a slow (slowloris) client is cut after it with a best-effort 408. Also the time a new
    /// connection may stay silent before its first byte, when shorter than ``idleTimeout``.
    public var headerReadTimeout: Duration = .seconds(10)
    /// Time a keep-alive connection may stay silent between requests, and the longest wait for a
    /// client to take response bytes; also how long a `hang` response keeps its connection.
    public var idleTimeout: Duration = .seconds(60)
    /// Maximum concurrently open connections across all loops. A connection accepted at the cap
    /// makes room by closing the longest-idle connection that has no request in progress
    /// (one that is only draining after its last response first, then one that never sent a
    /// byte, then a keep-alive connection between requests; counted as evicted), so idle
    /// connections can never lock a scraper out. Only when every open connection is busy
    /// (receiving a request or sending a response) is the new one sent a best-effort `503` and
    /// closed at once (counted as rejected). The same policy as nginx's reuse of idle connections.
    public var maxConnections: Int = 512
    /// Number of event-loop threads (at least 1). Each has its own epoll instance; all accept from
    /// the shared listening sockets, registered with `EPOLLEXCLUSIVE`.
    public var eventLoopThreads: Int = 1
    /// How long `stop()` lets in-flight responses finish before closing every connection.
    public var shutdownGrace: Duration = .seconds(2)
    /// Value of a `Server:` header on every response; nil sends none.
    public var serverName: String? = nil

    /// A configuration with the default limits.
    public init(listen: [ListenAddress]) {
        self.listen = listen
    }
}

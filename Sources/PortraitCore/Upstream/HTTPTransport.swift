/// One HTTP request to the upstream.
public struct TransportRequest: Sendable {
    public enum Method: String, Sendable { case get = "GET", post = "POST" }

    public var method: Method
    /// Absolute URL. May carry an access token in its query: never log it unredacted.
    public var url: String
    public var body: [UInt8]
    public var contentType: String?
    /// The caller's deadline for the whole exchange.
    public var timeout: Duration

    public init(method: Method, url: String, body: [UInt8] = [], contentType: String? = nil, timeout: Duration) {
        self.method = method
        self.url = url
        self.body = body
        self.contentType = contentType
        self.timeout = timeout
    }
}

/// The upstream's answer at the HTTP level.
public struct TransportResponse: Sendable {
    public var status: Int
    public var body: [UInt8]

    public init(status: Int, body: [UInt8]) {
        self.status = status
        self.body = body
    }
}

/// Why an exchange produced no HTTP answer. Messages never contain the URL (it holds the token).
public enum TransportError: Error, Sendable, Equatable {
    /// No complete answer within the deadline.
    case timeout
    /// Connecting, TLS, DNS or reading failed; the text says which.
    case network(String)
}

/// Sends HTTP requests to the upstream. Kept behind a protocol so tests and the simulator's
/// in-process use can swap it, and so the URLSession transport can be replaced (e.g. by libcurl)
/// without touching the client.
public protocol HTTPTransport: Sendable {
    /// Performs the exchange. Must return (or throw `TransportError.timeout`) by the request's
    /// deadline, and throw `CancellationError` promptly when the calling task is cancelled.
    func send(_ request: TransportRequest) async throws -> TransportResponse
}

/// A response from an ``HTTPHandler``.
///
/// The server adds `Content-Length` (replacing any the handler set), `Server` when configured,
/// and `Connection: close` when it closes the connection after this response. `Transfer-Encoding`
/// and `Connection` set by the handler are not sent; `Connection: close` from the handler is
/// honoured like ``closeConnection``. Header names and values containing CR, LF or NUL are
/// sanitised (those bytes become spaces) so a handler cannot split the response.
public struct HTTPResponse: Sendable {
    /// The status code, 200...999. Codes below 200 (interim responses) and out-of-range codes are
    /// sent as 500.
    public var status: Int
    /// The handler's header fields.
    public var headers: HTTPHeaders
    /// The body. It is written straight from this array (no copy per request: a cached 2 MB
    /// body shares its storage). Not sent for `HEAD` requests and for 204 and 304 responses.
    public var body: [UInt8]
    /// More body bytes, sent right after `body` in the same vectored write; `Content-Length`
    /// counts both. Lets a handler serve a cached body kept in two parts — a large one that rarely
    /// changes and a small one that changes often — without joining them. Empty by default.
    public var bodyTail: [UInt8] = []
    /// Write the response only after this delay (fault injection); nil writes at once. The
    /// delay runs on the event loop's timers and holds up only this connection.
    public var delay: Duration?
    /// Never answer: the connection stays open until the idle timeout, the client or `stop()`
    /// closes it (fault injection).
    public var hang: Bool
    /// Close the connection after writing this response.
    public var closeConnection: Bool

    /// Creates a response; no delay, no hang, keep-alive as the request allows.
    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
        self.delay = nil
        self.hang = false
        self.closeConnection = false
    }

    /// A text response with `Content-Type: text/plain; charset=utf-8` (or `contentType`).
    public static func text(_ status: Int, _ text: String, contentType: String = "text/plain; charset=utf-8") -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": contentType], body: Array(text.utf8))
    }

    /// A response with `Content-Type: application/json` and the given encoded body.
    public static func json(_ status: Int, _ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: status, headers: ["Content-Type": "application/json"], body: body)
    }
}

extension HTTPResponse {
    /// The standard reason phrase of `status`, or the empty string (allowed by RFC 9112).
    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 422: "Unprocessable Content"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: ""
        }
    }
}

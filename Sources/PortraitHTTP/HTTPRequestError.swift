/// Why a request was refused, and the status the server answers with before closing.
public struct HTTPRequestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// 400, 411, 413, 414, 431 or 505.
    public var status: Int
    /// A short human-readable reason, sent as the response body.
    public var reason: String

    public init(status: Int, reason: String) {
        self.status = status
        self.reason = reason
    }

    public var description: String { "\(status) \(reason)" }
}

/// Answers requests. Called on an event-loop thread: it must return quickly and never block
/// (no locks held for long, no I/O, no waiting on async work). Use ``HTTPResponse/delay`` for a
/// slow answer instead of sleeping.
public protocol HTTPHandler: Sendable {
    /// Returns the response to `request`.
    func handle(_ request: HTTPRequest) -> HTTPResponse
}

/// An ``HTTPHandler`` made from a closure.
public struct HTTPHandlerFunction: HTTPHandler {
    private let body: @Sendable (HTTPRequest) -> HTTPResponse

    /// Wraps `body`, which follows the rules of ``HTTPHandler/handle(_:)``.
    public init(_ body: @escaping @Sendable (HTTPRequest) -> HTTPResponse) {
        self.body = body
    }

    public func handle(_ request: HTTPRequest) -> HTTPResponse {
        body(request)
    }
}

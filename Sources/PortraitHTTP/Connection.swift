/// One accepted client connection. Owned and touched only by its event loop's thread.
final class Connection {
    /// What the connection is doing; decides its epoll interest and its deadline.
    enum State {
        /// Waiting for (more of) a request; parses and answers requests in order.
        case reading
        /// A response is partly written; waits for EPOLLOUT. Reading is paused (back-pressure).
        case writing
        /// A response is ready but held until `deadline` (``HTTPResponse/delay``).
        case delayed
        /// A `hang` response: nothing is written; closed by the idle timeout.
        case hanging
        /// The last response is written and our side is shut down; discarding input until the
        /// peer closes (so unread input does not turn our close into a reset that loses the response).
        case draining
        /// Closed; the descriptor may already belong to another connection.
        case closed
    }

    /// A response waiting for its delay.
    struct HeldResponse {
        var response: HTTPResponse
        var isHead: Bool
        var close: Bool
    }

    let fd: Int32
    /// The epoll token: generation in the high 32 bits, descriptor in the low 32.
    let token: UInt64
    let remoteAddress: String?
    let isLoopback: Bool

    var state: State = .reading
    var parser: RequestParser
    /// Events registered with epoll.
    var interest: UInt32
    /// When the current state times out (monotonic ns).
    var deadline: UInt64 = .max
    /// Last time the connection made progress (accepted, answered, wrote bytes), monotonic ns.
    var lastActivity: UInt64
    /// When the first byte of the request being received arrived; 0 when none is partial.
    var requestStartedAt: UInt64 = 0
    /// Requests answered so far.
    var requestsServed = 0
    /// The peer shut down its sending side (read returned 0).
    var peerClosed = false

    // Output in progress: `outHead`, `outBody`, then `outTail`; `outOffset` bytes of them already written.
    var outHead: [UInt8] = []
    var outBody: [UInt8] = []
    var outTail: [UInt8] = []
    var outOffset = 0
    var outStatus = 0
    var closeAfterWrite = false
    var held: HeldResponse?
    /// Bytes thrown away while draining.
    var drainedBytes = 0

    init(fd: Int32, token: UInt64, remoteAddress: String?, isLoopback: Bool, parser: RequestParser, interest: UInt32, now: UInt64) {
        self.fd = fd
        self.token = token
        self.remoteAddress = remoteAddress
        self.isLoopback = isLoopback
        self.parser = parser
        self.interest = interest
        self.lastActivity = now
    }

    /// Bytes of the current response not yet written.
    var outRemaining: Int { outHead.count + outBody.count + outTail.count - outOffset }
}

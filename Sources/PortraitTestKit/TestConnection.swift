import Glibc

/// One blocking TCP connection to an HTTP/1.1 server, for tests: the kit's only raw HTTP client.
/// It sends raw text or bytes (pipelined requests, malformed ones, a byte at a time), reads
/// responses one by one on a kept-alive connection, waits for the server to close, resets the
/// connection, and connects to IPv4 or IPv6 literals. Every socket call is bounded by the
/// connection's timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO`, 5 s unless given), so no test hangs on it.
///
/// - Important: Its calls block the calling thread (`connect`, `send`, `recv`, `poll`). Use it
///   only from a thread that may block:
///   - a `@MainActor` suite: its tests run on the main thread, not on the cooperative pool; or
///   - a thread of its own: `OffPool.run { … }`, as `TestHTTPClient.request` and `exchange` do
///     for async tests.
///
///   Never call it from a task on Swift's cooperative pool (a nonisolated `async` test, a `Task`,
///   a task-group child). The pool has one thread per core — two on CI — and the suites run in
///   parallel on it: a pool thread blocked in `recv` here stalls every other suite's tasks, and
///   their timeouts fire for no fault of the code under test.
public final class TestConnection {
    /// How a wait for the server to close ended.
    public enum CloseOutcome: Equatable, Sendable {
        /// End of stream (FIN) or reset, after `data` bytes arrived first.
        case closed(data: Int)
        /// Still open when the wait ended.
        case stillOpen
    }

    /// The socket (for socket options a test sets itself, e.g. a small `SO_RCVBUF`).
    public let fd: Int32
    /// Bytes received and not yet consumed by `readResponse`.
    public private(set) var buffer: [UInt8] = []

    /// Connects to `host:port` (an IPv4 or IPv6 literal) with `timeout` on every socket call.
    public init(host: String = "127.0.0.1", port: UInt16, timeout: Duration = .seconds(5)) throws {
        // The descriptor is stored only once it is connected. A class initializer that throws after
        // every stored property is set still runs `deinit`, which closes `fd`: closing it on the
        // failure path as well closed the number twice — the second time someone else's descriptor
        // (another test's server connection, which then reached its client as an empty answer or a
        // reset).
        fd = try Self.connectedSocket(host: host, port: port, timeout: timeout)
    }

    /// A socket connected to `host:port`, or an error (the socket closed, exactly once).
    private static func connectedSocket(host: String, port: UInt16, timeout: Duration) throws -> Int32 {
        let isV6 = host.contains(":")
        // Close-on-exec, so a child process a test spawns never holds our end open.
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPError.system("socket", errno) }
        Self.setTimeout(fd, timeout)
        let parsed: Int32
        let result: Int32
        if isV6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            parsed = inet_pton(AF_INET6, host, &address.sin6_addr)
            result = parsed == 1 ? Self.connect(fd, to: address) : -1
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            parsed = inet_pton(AF_INET, host, &address.sin_addr)
            result = parsed == 1 ? Self.connect(fd, to: address) : -1
        }
        guard parsed == 1 else {
            Glibc.close(fd)
            throw TestHTTPError.malformed("not an IP address: \(host)")
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestHTTPError.system("connect to \(isV6 ? "[\(host)]" : host):\(port)", code)
        }
        return fd
    }

    deinit {
        Glibc.close(fd)
    }

    /// `connect` to a `sockaddr_in` or `sockaddr_in6`.
    private static func connect<Address>(_ fd: Int32, to address: Address) -> Int32 {
        var address = address
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<Address>.size)) }
        }
    }

    /// Sets the bound of every later socket call (at least 1 µs: zero would mean "no limit").
    public func setTimeout(_ timeout: Duration) { Self.setTimeout(fd, timeout) }

    private static func setTimeout(_ fd: Int32, _ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Sets the socket's receive buffer (`SO_RCVBUF`; the kernel doubles it): a small one leaves
    /// the server's write of a large response part way through when this client reads nothing.
    public func setReceiveBufferSize(_ bytes: Int32) {
        var size = bytes
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
    }

    /// Sends `text` (UTF-8) as it is.
    public func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    /// Sends `bytes` as they are.
    public func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw TestHTTPError.system("send", errno)
            }
            offset += sent
        }
    }

    /// Reads more bytes into the buffer; returns 0 at end of stream. A reset counts as the end
    /// of the stream unless `resetIsEndOfStream` is false, when it throws.
    @discardableResult
    private func fill(resetIsEndOfStream: Bool = true) throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return count
            }
            if count == 0 { return 0 }
            let code = errno
            switch code {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw TestHTTPError.timedOut(received: buffer.count)
            case ECONNRESET where resetIsEndOfStream: return 0
            default: throw TestHTTPError.system("recv", code)
            }
        }
    }

    /// Reads one response (by Content-Length; no body for HEAD, 1xx, 204, 304; to end of stream
    /// when there is no Content-Length). Strict: the status line must say HTTP/1.1 and every
    /// header line must have a colon.
    public func readResponse(head: Bool = false) throws -> TestHTTPResponse {
        var headEnd: Int?
        while headEnd == nil {
            headEnd = TestHTTPResponse.headEnd(in: buffer)
            if headEnd == nil, try fill() == 0 { throw TestHTTPError.closed(received: buffer.count) }
        }
        guard let headEnd else { throw TestHTTPError.malformed("no head") }
        var response = try TestHTTPResponse(head: buffer[0..<headEnd], versions: ["HTTP/1.1"])
        buffer.removeFirst(headEnd + 4)
        if head || response.status < 200 || response.status == 204 || response.status == 304 { return response }
        if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText) else { throw TestHTTPError.malformed("Content-Length \(lengthText)") }
            while buffer.count < length {
                if try fill() == 0 { throw TestHTTPError.closed(received: buffer.count) }
            }
            response.body = Array(buffer[0..<length])
            buffer.removeFirst(length)
        } else {
            while try fill() > 0 {}
            response.body = buffer
            buffer.removeAll()
        }
        return response
    }

    /// Reads until the server closes the connection and returns every byte not yet consumed.
    /// Throws when the wait times out or the connection is reset first.
    public func readToEnd() throws -> [UInt8] {
        while try fill(resetIsEndOfStream: false) > 0 {}
        defer { buffer.removeAll() }
        return buffer
    }

    /// Waits up to `timeout` for end of stream (or reset), discarding any data; the timeout
    /// stays in force for later calls.
    public func waitForClose(timeout: Duration) throws -> CloseOutcome {
        setTimeout(timeout)
        var received = 0
        while true {
            do {
                let before = buffer.count
                let count = try fill()
                if count == 0 { return .closed(data: received + buffer.count - before) }
                received += count
                buffer.removeAll()
            } catch TestHTTPError.timedOut {
                return .stillOpen
            }
        }
    }

    /// Whether at least one byte is ready to read right now (without consuming it).
    public func hasDataReady() -> Bool {
        if !buffer.isEmpty { return true }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    public func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Half-closes the sending side.
    public func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }
}

import Glibc
import PortraitHTTP
import Testing

/// Errors of the raw test client.
enum TestClientError: Error, CustomStringConvertible {
    case system(String, Int32)
    case timedOut
    case closed(received: Int)
    case malformed(String)

    var description: String {
        switch self {
        case let .system(call, code): "\(call): errno \(code)"
        case .timedOut: "timed out"
        case let .closed(received): "connection closed after \(received) bytes"
        case let .malformed(why): "malformed response: \(why)"
        }
    }
}

/// A parsed response as the raw client saw it.
struct TestResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// How a wait for the server to close ended.
enum CloseOutcome: Equatable {
    /// End of stream (FIN) or reset, after `data` bytes arrived first.
    case closed(data: Int)
    /// Still open when the wait ended.
    case stillOpen
}

/// A blocking TCP client with a receive timeout (SO_RCVTIMEO), so no test can hang.
final class TestClient {
    let fd: Int32
    private(set) var buffer: [UInt8] = []

    /// Connects to `host:port` (IPv4 or IPv6 literal).
    init(host: String = "127.0.0.1", port: UInt16, timeout: Duration = .seconds(5)) throws {
        let isV6 = host.contains(":")
        // Close-on-exec, so a child process a test spawns never holds our end open.
        let fd = socket(isV6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw TestClientError.system("socket", errno) }
        self.fd = fd
        setTimeout(timeout)
        var result: Int32
        if isV6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size))
                }
            }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            result = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
                }
            }
        }
        guard result == 0 else {
            let code = errno
            Glibc.close(fd)
            throw TestClientError.system("connect", code)
        }
    }

    deinit {
        Glibc.close(fd)
    }

    func setTimeout(_ timeout: Duration) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 }
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) throws {
        try send(Array(text.utf8))
    }

    func send(_ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent < 0 {
                if errno == EINTR { continue }
                throw TestClientError.system("send", errno)
            }
            offset += sent
        }
    }

    /// Reads more bytes into the buffer; returns 0 at end of stream.
    @discardableResult
    private func fill() throws -> Int {
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count > 0 {
                buffer.append(contentsOf: chunk[0..<count])
                return count
            }
            if count == 0 { return 0 }
            switch errno {
            case EINTR: continue
            case EAGAIN, EWOULDBLOCK: throw TestClientError.timedOut
            case ECONNRESET: return 0
            default: throw TestClientError.system("recv", errno)
            }
        }
    }

    /// Reads one response (by Content-Length; no body for HEAD, 204, 304; to end of stream when
    /// there is no Content-Length).
    func readResponse(head: Bool = false) throws -> TestResponse {
        let separator = Array("\r\n\r\n".utf8)
        var headEnd: Int?
        while headEnd == nil {
            if let found = Self.find(separator, in: buffer) {
                headEnd = found
                break
            }
            if try fill() == 0 { throw TestClientError.closed(received: buffer.count) }
        }
        guard let headEnd else { throw TestClientError.malformed("no head") }
        let headText = String(decoding: buffer[0..<headEnd], as: UTF8.self)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, parts[0] == "HTTP/1.1", let status = Int(parts[1]) else {
            throw TestClientError.malformed(statusLine)
        }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw TestClientError.malformed(line) }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: " ")))
        }
        buffer.removeFirst(headEnd + 4)
        var response = TestResponse(status: status, headers: headers, body: [])
        if head || status < 200 || status == 204 || status == 304 { return response }
        if let lengthText = response.header("Content-Length") {
            guard let length = Int(lengthText) else { throw TestClientError.malformed("Content-Length \(lengthText)") }
            while buffer.count < length {
                if try fill() == 0 { throw TestClientError.closed(received: buffer.count) }
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

    /// Waits up to `timeout` for end of stream (or reset), discarding any data.
    func waitForClose(timeout: Duration) throws -> CloseOutcome {
        setTimeout(timeout)
        var received = 0
        while true {
            do {
                let before = buffer.count
                let count = try fill()
                if count == 0 { return .closed(data: received + buffer.count - before) }
                received += count
                buffer.removeAll()
            } catch TestClientError.timedOut {
                return .stillOpen
            }
        }
    }

    /// Whether at least one byte is ready to read right now (without consuming it).
    func hasDataReady() -> Bool {
        if !buffer.isEmpty { return true }
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&poller, 1, 0) > 0
    }

    /// Closes with a reset (SO_LINGER 0) instead of a FIN.
    func reset() {
        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Half-closes the sending side.
    func shutdownWrite() {
        shutdown(fd, Int32(SHUT_WR))
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for start in 0...(haystack.count - needle.count) where haystack[start] == needle[0] {
            if Array(haystack[start..<(start + needle.count)]) == needle { return start }
        }
        return nil
    }
}

extension String {
    func trimmingCharacters(in set: String) -> String {
        var text = Substring(self)
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return String(text)
    }
}

/// Monotonic "now" for elapsed-time assertions.
func elapsed(since start: ContinuousClock.Instant) -> Duration {
    ContinuousClock.now - start
}

/// Polls `condition` every 10 ms for up to `timeout` (generous: it only ends a hang); true as soon as it holds. For counters
/// that the server thread updates just after the client saw the bytes.
func eventually(timeout: Duration = .seconds(30), _ condition: () -> Bool) -> Bool {
    let start = ContinuousClock.now
    while !condition() {
        if elapsed(since: start) > timeout { return false }
        usleep(10_000)
    }
    return true
}

/// A 2 MiB body with a recognisable pattern. Filled through a buffer pointer: `map` over 2 M
/// elements takes seconds in a debug build under ThreadSanitizer, and the first request for
/// `/big` (on a server loop thread) would pay for it.
let bigBody: [UInt8] = [UInt8](unsafeUninitializedCapacity: 2 * 1024 * 1024) { buffer, count in
    for index in buffer.indices {
        buffer[index] = UInt8(truncatingIfNeeded: index &* 31 &+ index >> 11)
    }
    count = buffer.count
}

/// The handler used by most socket tests.
let testHandler = HTTPHandlerFunction { request in
    switch (request.method, request.path) {
    case ("GET", "/"):
        return .text(200, "hello")
    case ("GET", "/path"):
        return .text(200, request.target)
    case ("POST", "/echo"):
        var response = HTTPResponse(status: 200, body: request.body)
        response.headers.add("Content-Type", "application/octet-stream")
        return response
    case ("GET", "/big"):
        return HTTPResponse(status: 200, body: bigBody)
    case ("GET", "/delay"):
        var response = HTTPResponse.text(200, "late")
        response.delay = .milliseconds(Int(request.queryItems["ms"] ?? "") ?? 500)
        return response
    case ("GET", "/hang"):
        var response = HTTPResponse.text(200, "never")
        response.hang = true
        return response
    case ("GET", "/close"):
        var response = HTTPResponse.text(200, "bye")
        response.closeConnection = true
        return response
    case ("GET", "/inject"):
        return HTTPResponse(status: 200, headers: ["X-Evil": "a\r\nSet-Cookie: b"], body: [])
    case ("GET", "/peer"):
        return .text(200, "\(request.remoteAddress ?? "nil") \(request.isLoopback)")
    case ("GET", _), ("POST", _):
        return .text(404, "not found")
    default:
        return HTTPResponse(status: 405, headers: ["Allow": "GET, HEAD, POST"], body: Array("method not allowed".utf8))
    }
}

/// Starts a server on 127.0.0.1:0 with `configure` applied, runs `body`, always stops it.
func withServer<T>(
    host: String = "127.0.0.1",
    handler: any HTTPHandler = testHandler,
    configure: (inout HTTPServerConfiguration) -> Void = { _ in },
    _ body: (HTTPServer, UInt16) throws -> T
) throws -> T {
    var configuration = HTTPServerConfiguration(listen: [try ListenAddress(host: host, port: 0)])
    configure(&configuration)
    let server = HTTPServer(configuration: configuration, handler: handler)
    try server.start()
    defer { server.stop() }
    let port = try #require(server.boundAddresses.first?.port)
    return try body(server, port)
}

/// Runs a closure on a new POSIX thread (not Swift's cooperative pool); `join()` waits for it.
final class TestThread {
    private final class Work {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }

    private var thread = pthread_t()

    init(_ body: @escaping @Sendable () -> Void) {
        let work = Unmanaged.passRetained(Work(body)).toOpaque()
        let result = pthread_create(&thread, nil, { raw in
            Unmanaged<Work>.fromOpaque(raw!).takeRetainedValue().body()
            return nil
        }, work)
        precondition(result == 0, "pthread_create: \(result)")
    }

    func join() {
        pthread_join(thread, nil)
    }
}

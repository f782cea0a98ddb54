import Glibc
import PortraitHTTP
import Testing

// What the socket suites (HTTPServerTests, HostileClientTests, BodyTailTests) share: a server on
// loopback with the test handler, its big body, polling and timing helpers and a POSIX thread.
// The client they talk through is PortraitTestKit's `TestConnection`.

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

import Glibc
import PortraitHTTP
import PortraitTestKit
import Testing

// What the socket suites (HTTPServerTests, HostileClientTests, BodyTailTests) share: a server on
// loopback with the test handler, its big body, polling and timing helpers, a POSIX thread, and
// the checks they repeat: a last answer before the server closes, a slow client dripping bytes,
// a connection turned away at the cap. The client they talk through is PortraitTestKit's
// `TestConnection`.

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

// MARK: Checks the socket suites share

extension TestConnection {
    /// Reads the response the server ends this connection with: it says `Connection: close`, and
    /// the server then closes without another byte (waited for up to a generous 5 s). Returns it
    /// for the test's own checks.
    @discardableResult
    func readLastResponse(head: Bool = false, sourceLocation: SourceLocation = #_sourceLocation) throws -> TestHTTPResponse {
        let response = try readResponse(head: head)
        #expect(response.header("Connection") == "close", sourceLocation: sourceLocation)
        #expect(try waitForClose(timeout: .seconds(30)) == .closed(data: 0), sourceLocation: sourceLocation)
        return response
    }
}

/// Sends `request` to 127.0.0.1:`port` on a connection of its own and reads the last response
/// (`TestConnection.readLastResponse`): the answer, then the server closes.
@discardableResult
func lastResponse(port: UInt16, to request: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> TestHTTPResponse {
    let client = try TestConnection(port: port)
    try client.send(request)
    return try client.readLastResponse(sourceLocation: sourceLocation)
}

/// How a slow client's drip of bytes ended.
struct Drip {
    /// How long after the start the server closed the connection; nil if it never did.
    var cutAfter: Duration?
    /// Bytes the server sent before it closed (its 408, say).
    var received = 0
    /// Bytes after which the connection was seen still open.
    var openRounds = 0
}

/// Sends `bytes` one at a time on `client`, as a slowloris does: after each byte `meanwhile` runs,
/// then the client waits up to 100 ms for the server to close the connection. Ends when the
/// server closes it, a send fails, the bytes run out, or (a guard against a hang, not a bound
/// under test) `giveUpAfter` has passed since `start`.
func drip(_ bytes: some Sequence<UInt8>, on client: TestConnection, since start: ContinuousClock.Instant,
          giveUpAfter limit: Duration = .seconds(30), meanwhile: () throws -> Void = {}) throws -> Drip {
    var drip = Drip()
    for byte in bytes {
        if (try? client.send([byte])) == nil { break }
        try meanwhile()
        if case let .closed(data) = try client.waitForClose(timeout: .milliseconds(100)) {
            drip.cutAfter = elapsed(since: start)
            drip.received = data
            break
        }
        drip.openRounds += 1
        if elapsed(since: start) > limit { break }
    }
    return drip
}

/// A new connection while all of the server's `maxConnections` are busy: its request is answered
/// 503 "too many connections" (when the answer beats the close; the server may close first),
/// the connection is closed, and the server counts it as the `rejected`th rejection.
func expectTurnedAwayAtTheCap(_ server: HTTPServer, port: UInt16, rejected: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) throws {
    let newcomer = try TestConnection(port: port)
    try? newcomer.send("GET / HTTP/1.1\r\n\r\n")
    if let response = try? newcomer.readResponse() {
        #expect(response.status == 503, sourceLocation: sourceLocation)
        #expect(response.text == "too many connections\n", sourceLocation: sourceLocation)
    }
    #expect(try newcomer.waitForClose(timeout: .seconds(30)) == .closed(data: 0), sourceLocation: sourceLocation)
    #expect(eventually { server.stats().connectionsRejected == rejected }, sourceLocation: sourceLocation)
}

import Glibc
import PortraitHTTP
import PortraitTestKit
import Synchronization
import Testing

/// Lets a handler reach the server it belongs to.
final class ServerHolder: Sendable {
    let server = Mutex<HTTPServer?>(nil)
}

/// On the main actor, like `HostileClientTests`: the tests block in socket calls, which on the
/// cooperative pool (a thread per core) would starve other suites' async tests.
@Suite("HTTPServer over loopback sockets", .timeLimit(.minutes(5)))
@MainActor
struct HTTPServerTests {
    @Test func getReturnsBodyWithContentLength() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.text == "hello")
            #expect(response.header("Content-Length") == "5")
            #expect(response.header("Content-Type") == "text/plain; charset=utf-8")
            #expect(response.header("Connection") == nil)
        }
    }

    @Test func keepAliveServesThreeRequestsOnOneConnection() throws {
        try withServer { server, port in
            let client = try TestConnection(port: port)
            for index in 1...3 {
                try client.send("GET /path?n=\(index) HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.text == "/path?n=\(index)")
            }
            #expect(server.stats().connectionsAccepted == 1)
            #expect(server.stats().responsesByClass[2] == 3)
        }
    }

    @Test func pipelinedRequestsAreAnsweredInOrder() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send(
                "GET /path?first HTTP/1.1\r\nHost: x\r\n\r\nPOST /echo HTTP/1.1\r\nContent-Length: 6\r\n\r\nsecondGET /path?third HTTP/1.1\r\n\r\n"
            )
            #expect(try client.readResponse().text == "/path?first")
            #expect(try client.readResponse().text == "second")
            #expect(try client.readResponse().text == "/path?third")
        }
    }

    @Test func headSendsGetHeadersWithoutBody() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.readResponse(head: true)
            #expect(head.status == 200)
            #expect(head.header("Content-Length") == "5")
            // No body bytes follow: the next response starts right away.
            try client.send("GET /path?after HTTP/1.1\r\n\r\n")
            let next = try client.readResponse()
            #expect(next.status == 200)
            #expect(next.text == "/path?after")
        }
    }

    @Test func unknownMethodIsLeftToTheHandler() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 405)
            #expect(response.header("Allow") == "GET, HEAD, POST")
            #expect(response.text == "method not allowed")
        }
    }

    @Test func handlerNotFound() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET /nope HTTP/1.1\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.status == 404)
            #expect(response.text == "not found")
            // The connection stays usable after a handler's 404.
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().status == 200)
        }
    }

    @Test func postBodyReachesTheHandler() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            let body = (0..<3000).map { UInt8(truncatingIfNeeded: $0) }
            try client.send(Array("POST /echo HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            let response = try client.readResponse()
            #expect(response.status == 200)
            #expect(response.body == body)
        }
    }

    @Test func expectContinueGetsAnInterimResponse() throws {
        try withServer { server, port in
            let client = try TestConnection(port: port)
            try client.send("POST /echo HTTP/1.1\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
            let interim = try client.readResponse()
            #expect(interim.status == 100)
            try client.send("hello")
            let final = try client.readResponse()
            #expect(final.status == 200)
            #expect(final.text == "hello")
            #expect(server.stats().responsesByClass[1] == 0)
            // A body sent right away gets no interim response.
            try client.send("POST /echo HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\nok")
            #expect(try client.readResponse().text == "ok")
        }
    }

    @Test func bodySentInPiecesIsAssembled() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("POST /echo HTTP/1.1\r\nContent-Length: 10\r\n\r\n01234")
            usleep(50_000)
            try client.send("56789")
            #expect(try client.readResponse().text == "0123456789")
        }
    }

    @Test func oversizedHeaderBlockIs431() throws {
        try withServer { server, port in
            let filler = String(repeating: "a", count: 9 * 1024)
            let response = try lastResponse(port: port, to: "GET / HTTP/1.1\r\nHost: x\r\nX-Filler: \(filler)\r\n\r\n")
            #expect(response.status == 431)
            #expect(server.stats().badRequests == 1)
        }
    }

    @Test func hugeRequestLineIs414() throws {
        try withServer { _, port in
            let path = "/" + String(repeating: "p", count: 10 * 1024)
            let response = try lastResponse(port: port, to: "GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(response.status == 414)
        }
    }

    @Test(arguments: [
        "garbage\r\n\r\n",
        "GET / HTTP/1.1\nHost: x\n\n",
        "GET / HTTP/1.1\r\nHost: x\0y\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        "GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "\u{16}\u{03}\u{01}\u{02}\u{00}\u{01}\u{00}\u{01}\u{fc}\u{03}\u{03}",
    ])
    func malformedRequestIs400(_ request: String) throws {
        try withServer { _, port in
            let response = try lastResponse(port: port, to: request)
            #expect(response.status == 400)
        }
    }

    @Test func chunkedRequestBodyIs411() throws {
        try withServer { _, port in
            let response = try lastResponse(port: port, to: "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
            #expect(response.status == 411)
        }
    }

    @Test func unsupportedVersionIs505() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET / HTTP/2.0\r\n\r\n")
            #expect(try client.readResponse().status == 505)
        }
    }

    @Test func bodyOverLimitIs413AndTheResponseSurvivesUnreadInput() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            let body = [UInt8](repeating: 0x41, count: 100_000)
            try client.send(Array("POST /echo HTTP/1.1\r\nContent-Length: \(body.count)\r\n\r\n".utf8) + body)
            #expect(try client.readLastResponse().status == 413)
        }
    }

    @Test func http10ClosesAfterTheResponse() throws {
        try withServer { _, port in
            let response = try lastResponse(port: port, to: "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            #expect(response.status == 200)
            #expect(response.text == "hello")
        }
    }

    @Test func connectionCloseIsHonoured() throws {
        try withServer { _, port in
            // The pipelined second request is not answered.
            _ = try lastResponse(port: port, to: "GET / HTTP/1.1\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        }
    }

    @Test func handlerCanCloseTheConnection() throws {
        try withServer { _, port in
            let response = try lastResponse(port: port, to: "GET /close HTTP/1.1\r\n\r\n")
            #expect(response.text == "bye")
        }
    }

    @Test func twoMebibyteBodyArrivesIntact() throws {
        try withServer { server, port in
            let client = try TestConnection(port: port)
            for _ in 0..<2 {
                try client.send("GET /big HTTP/1.1\r\n\r\n")
                let response = try client.readResponse()
                #expect(response.status == 200)
                #expect(response.body.count == bigBody.count)
                #expect(response.body == bigBody)
            }
            #expect(eventually { server.stats().bytesWritten > 2 * bigBody.count })
        }
    }

    @Test func responseHeadersCannotBeSplit() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET /inject HTTP/1.1\r\n\r\n")
            let response = try client.readResponse()
            #expect(response.header("X-Evil") == "a  Set-Cookie: b")
            #expect(response.header("Set-Cookie") == nil)
        }
    }

    @Test func requestCarriesThePeerAddress() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET /peer HTTP/1.1\r\n\r\n")
            let text = try client.readResponse().text
            #expect(text.hasPrefix("127.0.0.1:"))
            #expect(text.hasSuffix(" true"))
        }
    }

    @Test func idleTimeoutClosesASilentKeepAliveConnection() throws {
        try withServer(configure: { $0.idleTimeout = .milliseconds(200) }) { server, port in
            let client = try TestConnection(port: port)
            // Measured from before the request: the idle timer starts after the response is
            // written, so the close cannot come sooner than the timeout after `start`, however
            // late this thread runs (a bound from after the read would be a timed assertion).
            let start = ContinuousClock.now
            try client.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().status == 200)
            #expect(try client.waitForClose(timeout: .seconds(30)) == .closed(data: 0))
            #expect(elapsed(since: start) >= .milliseconds(190))
            #expect(eventually { server.stats().idleTimeouts == 1 })
        }
    }

    @Test func headerReadTimeoutCutsASlowloris() throws {
        try withServer(configure: { $0.headerReadTimeout = .milliseconds(300) }) { server, port in
            let client = try TestConnection(port: port)
            let start = ContinuousClock.now
            let slow = try drip("GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8, on: client, since: start)
            let cutAfter = try #require(slow.cutAfter)
            #expect(cutAfter >= .milliseconds(250))
            #expect(eventually { server.stats().headerReadTimeouts == 1 })
        }
    }

    @Test func connectionCapRejectsTheFifthWhileAllAreBusyAndRecovers() throws {
        try withServer(configure: { $0.maxConnections = 4 }) { server, port in
            var clients: [TestConnection] = []
            let hang = "GET /hang HTTP/1.1\r\n\r\n"
            for _ in 0..<4 {
                // A `hang` response keeps the connection busy: it is never evicted.
                let client = try TestConnection(port: port)
                try client.send(hang)
                clients.append(client)
            }
            #expect(eventually { server.stats().connectionsOpen == 4 && server.stats().bytesRead == 4 * hang.utf8.count })
            try expectTurnedAwayAtTheCap(server, port: port)
            #expect(server.stats().connectionsOpen == 4)
            #expect(server.stats().connectionsEvicted == 0)

            clients.removeAll()  // closes all four
            var served = false
            let start = ContinuousClock.now
            while !served && elapsed(since: start) < .seconds(30) {
                let client = try TestConnection(port: port)
                try? client.send("GET / HTTP/1.1\r\n\r\n")
                served = (try? client.readResponse().status) == 200
                if !served { usleep(20_000) }
            }
            #expect(served)
        }
    }

    @Test func delayedResponseDoesNotHoldUpOtherConnections() throws {
        try withServer { _, port in
            let slow = try TestConnection(port: port)
            let fast = try TestConnection(port: port)
            let start = ContinuousClock.now
            try slow.send("GET /delay?ms=3000 HTTP/1.1\r\n\r\n")
            try fast.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try fast.readResponse().text == "hello")
            #expect(!slow.hasDataReady())
            let late = try slow.readResponse()
            #expect(late.text == "late")
            #expect(elapsed(since: start) >= .milliseconds(2900))
            // The delayed connection stays usable.
            try slow.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try slow.readResponse().text == "hello")
        }
    }

    @Test func hangingResponseIsClosedByTheIdleTimeout() throws {
        try withServer(configure: { $0.idleTimeout = .milliseconds(300) }) { server, port in
            let client = try TestConnection(port: port)
            let start = ContinuousClock.now
            try client.send("GET /hang HTTP/1.1\r\n\r\n")
            #expect(try client.waitForClose(timeout: .seconds(30)) == .closed(data: 0))
            #expect(elapsed(since: start) >= .milliseconds(290), "closed before the idle timeout")
            #expect(eventually { server.stats().idleTimeouts == 1 })
        }
    }

    @Test func hangingConnectionIsReleasedWhenTheClientLeaves() throws {
        try withServer { server, port in
            do {
                let client = try TestConnection(port: port)
                try client.send("GET /hang HTTP/1.1\r\n\r\n")
                #expect(eventually { server.stats().responses == 0 && server.stats().connectionsOpen == 1 })
                #expect(try client.waitForClose(timeout: .milliseconds(100)) == .stillOpen)
            }  // the client closes here
            #expect(eventually { server.stats().connectionsOpen == 0 })
            #expect(server.stats().idleTimeouts == 0)
        }
    }

    @Test func clientResetMidResponseDoesNotDisturbOthers() throws {
        try withServer { server, port in
            let other = try TestConnection(port: port)
            for _ in 0..<3 {
                let rude = try TestConnection(port: port)
                rude.setReceiveBufferSize(4096)
                try rude.send("GET /big HTTP/1.1\r\n\r\n")
                usleep(20_000)
                rude.reset()
                try other.send("GET /big HTTP/1.1\r\n\r\n")
                #expect(try other.readResponse().body == bigBody)
            }
            try other.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try other.readResponse().text == "hello")
            #expect(eventually { server.stats().connectionsOpen == 1 })
        }
    }

    @Test func ipv6LoopbackWorks() throws {
        guard Self.hasIPv6Loopback() else {
            print("skipped: this machine has no IPv6 loopback")
            return
        }
        try withServer(host: "::1") { server, port in
            #expect(server.boundAddresses.first?.description == "[::1]:\(port)")
            let client = try TestConnection(host: "::1", port: port)
            try client.send("GET /peer HTTP/1.1\r\n\r\n")
            let text = try client.readResponse().text
            #expect(text.hasPrefix("[::1]:"))
            #expect(text.hasSuffix(" true"))
        }
    }

    @Test func portInUseThrowsBindFailedNamingTheAddress() throws {
        try withServer { _, port in
            let address = try ListenAddress(parsing: "127.0.0.1:\(port)")
            let second = HTTPServer(configuration: HTTPServerConfiguration(listen: [address]), handler: testHandler)
            do throws(HTTPServerError) {
                try second.start()
                second.stop()
                Issue.record("second bind on port \(port) succeeded")
            } catch {
                guard case let .bindFailed(name, code, _) = error else {
                    Issue.record("unexpected error \(error)")
                    return
                }
                #expect(name == "127.0.0.1:\(port)")
                #expect(code == EADDRINUSE)
                #expect(error.description == "127.0.0.1:\(port): address already in use")
            }
        }
    }

    @Test func wildcardPortListensOnEveryFamily() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: ":0")]), handler: testHandler)
        try server.start()
        defer { server.stop() }
        let bound = server.boundAddresses
        #expect(bound.first?.host == "0.0.0.0")
        let port = try #require(bound.first?.port)
        #expect(port != 0)
        #expect(bound.allSatisfy { $0.port == port })
        let client = try TestConnection(port: port)
        try client.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try client.readResponse().status == 200)
    }

    @Test func stopReturnsPromptlyWithIdleConnections() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]), handler: testHandler)
        try server.start()
        let port = try #require(server.boundAddresses.first?.port)
        var clients: [TestConnection] = []
        for _ in 0..<3 {
            let client = try TestConnection(port: port)
            try client.send("GET / HTTP/1.1\r\n\r\n")
            _ = try client.readResponse()
            clients.append(client)
        }
        let silent = try TestConnection(port: port)  // never sends anything
        let start = ContinuousClock.now
        server.stop()
        // Generous for a shared machine; a stop that waited for the idle connections would take
        // the 60 s idle timeout.
        #expect(elapsed(since: start) < .seconds(30))
        for client in clients + [silent] {
            #expect(try client.waitForClose(timeout: .seconds(30)) == .closed(data: 0))
        }
        server.stop()  // idempotent
        #expect(throws: HTTPServerError.self) { try server.start() }
        #expect((try? TestConnection(port: port)) == nil)
    }

    @Test func stopLetsAResponseInFlightFinish() throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]), handler: testHandler)
        try server.start()
        let port = try #require(server.boundAddresses.first?.port)
        let client = try TestConnection(port: port)
        try client.send("GET /delay?ms=300 HTTP/1.1\r\n\r\n")
        usleep(50_000)
        // stop() on a thread of its own, so it begins now: `await shutdown()` first needs a
        // cooperative thread, which on a loaded 2-core machine can take longer than the delay.
        let stopper = TestThread { server.stop() }
        let response = try client.readResponse()
        stopper.join()
        #expect(response.text == "late")
        #expect(response.header("Connection") == "close")
    }

    @Test func stopCalledFromAHandlerDoesNotDeadlock() throws {
        let holder = ServerHolder()
        let server = HTTPServer(
            configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]),
            handler: HTTPHandlerFunction { _ in
                holder.server.withLock { $0 }?.stop()
                return .text(200, "stopping")
            }
        )
        holder.server.withLock { $0 = server }
        try server.start()
        let port = try #require(server.boundAddresses.first?.port)
        let client = try TestConnection(port: port)
        try client.send("GET / HTTP/1.1\r\n\r\n")
        let response = try client.readResponse()
        #expect(response.text == "stopping")
        #expect(try client.waitForClose(timeout: .seconds(30)) == .closed(data: 0))
        #expect(eventually { (try? TestConnection(port: port)) == nil })
        server.stop()
        holder.server.withLock { $0 = nil }
    }

    @Test func runReturnsWhenItsTaskIsCancelled() async throws {
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]), handler: testHandler)
        let task = Task { try await server.run() }
        var port: UInt16?
        let start = ContinuousClock.now
        // Generous: the task may wait for a cooperative thread while other tests block theirs
        // (seen under ThreadSanitizer on 2 cores).
        while port == nil && elapsed(since: start) < .seconds(30) {
            port = server.boundAddresses.first?.port
            try await Task.sleep(for: .milliseconds(10))
        }
        let bound = try #require(port)
        let client = try TestConnection(port: bound)
        try client.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try client.readResponse().text == "hello")
        task.cancel()
        try await task.value
        #expect((try? TestConnection(port: bound)) == nil)
        // run() on a stopped server returns at once.
        try await server.run()
    }

    @Test func twoLoopsServeManyConnections() throws {
        try withServer(configure: { $0.eventLoopThreads = 2 }) { server, port in
            let clients = try (0..<16).map { _ in try TestConnection(port: port) }
            for round in 0..<5 {
                for (index, client) in clients.enumerated() {
                    try client.send("GET /path?\(index)-\(round) HTTP/1.1\r\n\r\n")
                }
                for (index, client) in clients.enumerated() {
                    #expect(try client.readResponse().text == "/path?\(index)-\(round)")
                }
            }
            let stats = server.stats()
            #expect(stats.connectionsAccepted == 16)
            #expect(stats.responsesByClass[2] == 80)
        }
    }

    static func hasIPv6Loopback() -> Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        inet_pton(AF_INET6, "::1", &address.sin6_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
    }
}

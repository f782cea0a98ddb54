import Glibc
import PortraitHTTP
import PortraitTestKit
import Testing

/// Clients that try to hurt the server: slowloris, connection floods, oversized and malformed
/// requests, rude resets, file-descriptor exhaustion. Each test asserts what the client sees
/// and the server's counters; `HTTPServerTests` covers the well-behaved protocol.
///
/// On the main actor: these tests block their thread in socket calls and sleeps, and Swift's
/// cooperative pool has only one thread per core (two here), so run there they would starve the
/// async tests of other suites running in parallel. The main thread is free for it.
@Suite("HTTPServer against hostile clients", .timeLimit(.minutes(5)))
@MainActor
struct HostileClientTests {
    // MARK: Slowloris

    /// No timing is asserted beyond "not before the header timeout": the proof that the slow
    /// client holds nobody up is that polite requests are answered while it is still connected.
    @Test func slowlorisIsCutWith408WhileOthersAreServed() throws {
        try withServer(configure: { $0.headerReadTimeout = .seconds(1) }) { server, port in
            // Before connecting: the server's timer cannot start earlier, so the lower bound on the
            // cut holds however late this thread runs.
            let start = ContinuousClock.now
            let slow = try TestConnection(port: port)
            let polite = try TestConnection(port: port)
            let dripped = try drip("GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".utf8,
                                   on: slow, since: start) {
                // Between the slow client's bytes, a normal request is answered.
                try polite.send("GET / HTTP/1.1\r\n\r\n")
                #expect(try polite.readResponse().text == "hello")
            }
            let cutAfter = try #require(dripped.cutAfter, "the slow client was never cut")
            #expect(cutAfter >= .milliseconds(950), "cut before the header timeout: \(cutAfter)")
            // Each open round came after a polite answer.
            #expect(dripped.openRounds >= 1, "the polite client was only answered once the slow one was gone")
            #expect(dripped.received == "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8.count)
            #expect(eventually { server.stats().headerReadTimeouts == 1 })
            #expect(server.stats().connectionsOpen == 1)
        }
    }

    @Test func slowBodyIsCutByTheSameTimeout() throws {
        try withServer(configure: { $0.headerReadTimeout = .milliseconds(300) }) { server, port in
            let start = ContinuousClock.now
            let slow = try TestConnection(port: port)
            try slow.send("POST /echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n")
            // Bounded by the 100 bytes the body needs (a server that never cuts lets them all in).
            let dripped = try drip(repeatElement(UInt8(ascii: "x"), count: 100), on: slow, since: start)
            let cutAfter = try #require(dripped.cutAfter, "the slow body was never cut")
            #expect(cutAfter >= .milliseconds(250), "cut before the timeout: \(cutAfter)")
            #expect(eventually { server.stats().headerReadTimeouts == 1 })
            #expect(server.stats().responsesByClass[2] == 0)
        }
    }

    @Test func fiftySlowlorisClientsAreAllCut() throws {
        try withServer(configure: { $0.headerReadTimeout = .milliseconds(300) }) { server, port in
            let clients = try (0..<50).map { _ in try TestConnection(port: port) }
            for client in clients { try client.send("GET / HTTP/1.1\r\nX-Slow: ") }
            #expect(eventually { server.stats().connectionsAccepted == 50 })
            for _ in 0..<2 {
                usleep(100_000)
                for client in clients { try? client.send("a") }
            }
            for client in clients {
                guard case .closed = try client.waitForClose(timeout: .seconds(30)) else {
                    Issue.record("a slowloris client was not cut")
                    return
                }
            }
            #expect(eventually { server.stats().connectionsOpen == 0 })
            #expect(server.stats().headerReadTimeouts == 50)
        }
    }

    // MARK: Connection floods and the cap

    /// 1,000 connections that never send a byte, on a server capped at 512: each one over the cap
    /// evicts the longest-idle silent connection, so the cap holds, nothing is rejected, a fresh
    /// scrape is answered, and a scraper's kept-alive connection (it has been served) survives
    /// the flood because silent connections go first.
    @Test(arguments: [1, 2])
    func thousandIdleConnectionsDoNotLockOutAScrape(loops: Int) throws {
        let limit = raiseOpenFileLimit(to: 8192)
        try #require(limit >= 2700, "RLIMIT_NOFILE \(limit) is too low for 1,000 clients and their server sockets")
        try withServer(configure: {
            $0.maxConnections = 512
            $0.eventLoopThreads = loops
        }) { server, port in
            let scraper = try TestConnection(port: port)
            try scraper.send("GET /path?scrape=1 HTTP/1.1\r\n\r\n")
            #expect(try scraper.readResponse().text == "/path?scrape=1")

            var idle: [TestConnection] = []
            for _ in 0..<1000 { idle.append(try TestConnection(port: port)) }
            #expect(eventually { server.stats().connectionsAccepted == 1001 })
            #expect(eventually { server.stats().connectionsEvicted == 489 })
            var stats = server.stats()
            #expect(stats.connectionsOpen == 512)
            #expect(stats.connectionsRejected == 0)

            let fresh = try TestConnection(port: port)
            try fresh.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try fresh.readResponse().text == "hello")
            try scraper.send("GET /path?scrape=2 HTTP/1.1\r\n\r\n")
            #expect(try scraper.readResponse().text == "/path?scrape=2")

            stats = server.stats()
            #expect(stats.connectionsEvicted == 490)
            #expect(stats.connectionsRejected == 0)
            #expect(stats.connectionsOpen == 512)
            // The newest silent connections are the ones still open.
            #expect(try idle[999].waitForClose(timeout: .milliseconds(20)) == .stillOpen)
            if loops == 1 {
                #expect(try idle[0].waitForClose(timeout: .seconds(30)) == .closed(data: 0))
                #expect(try idle[488].waitForClose(timeout: .seconds(30)) == .closed(data: 0))
                #expect(try idle[490].waitForClose(timeout: .milliseconds(20)) == .stillOpen)
            }
        }
    }

    @Test func atTheCapTheLongestIdleConnectionIsEvictedSilentOnesFirst() throws {
        try withServer(configure: { $0.maxConnections = 4 }) { server, port in
            // Served keep-alive connections, oldest first, then a silent one.
            var served: [TestConnection] = []
            for index in 0..<3 {
                let client = try TestConnection(port: port)
                try client.send("GET /path?\(index) HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().text == "/path?\(index)")
                served.append(client)
                usleep(5_000)
            }
            let silent = try TestConnection(port: port)
            #expect(eventually { server.stats().connectionsOpen == 4 })

            // A fifth connection evicts the silent one, although it is the newest.
            let fifth = try TestConnection(port: port)
            try fifth.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try fifth.readResponse().text == "hello")
            #expect(try silent.waitForClose(timeout: .seconds(30)) == .closed(data: 0))

            // A sixth evicts the served connection idle the longest (served[0]).
            let sixth = try TestConnection(port: port)
            try sixth.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try sixth.readResponse().text == "hello")
            #expect(try served[0].waitForClose(timeout: .seconds(30)) == .closed(data: 0))
            for (index, client) in served.enumerated().dropFirst() {
                try client.send("GET /path?again\(index) HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().text == "/path?again\(index)")
            }
            let stats = server.stats()
            #expect(stats.connectionsEvicted == 2)
            #expect(stats.connectionsRejected == 0)
            #expect(stats.connectionsOpen == 4)
        }
    }

    /// When every connection is busy (a request in progress), none may be cut: the new one gets
    /// a 503 and is closed, and is counted; the busy ones finish normally.
    @Test(arguments: [1, 2])
    func atTheCapWithEveryConnectionBusyTheNewOneIsRejected(loops: Int) throws {
        try withServer(configure: {
            $0.maxConnections = 4
            $0.eventLoopThreads = loops
        }) { server, port in
            var busy: [TestConnection] = []
            for _ in 0..<4 {
                let client = try TestConnection(port: port)
                try client.send("GET /path?busy HTTP/1.1\r\nHost: x\r\n")  // head not finished
                busy.append(client)
            }
            #expect(eventually { server.stats().connectionsOpen == 4 && server.stats().bytesRead >= 4 * 33 })
            try expectTurnedAwayAtTheCap(server, port: port)
            #expect(server.stats().connectionsEvicted == 0)
            for client in busy {
                try client.send("\r\n")
                #expect(try client.readResponse().text == "/path?busy")
            }
            // Now idle, they make room for the next newcomer.
            let sixth = try TestConnection(port: port)
            try sixth.send("GET / HTTP/1.1\r\n\r\n")
            #expect(try sixth.readResponse().text == "hello")
            #expect(server.stats().connectionsEvicted == 1)
        }
    }

    // MARK: Limits

    @Test func tooManyHeaderFieldsIs431AndCloses() throws {
        try withServer(configure: { $0.maxHeaderCount = 20 }) { server, port in
            let fields = (0..<21).map { "X-F\($0): v\r\n" }.joined()
            let response = try lastResponse(port: port, to: "GET / HTTP/1.1\r\n\(fields)\r\n")
            #expect(response.status == 431)
            #expect(server.stats().badRequests == 1)
        }
    }

    /// A request line that never ends: answered 414 once the limit is reached, although the
    /// client keeps sending; the response arrives intact and the connection closes.
    @Test func endlessRequestLineIs414() throws {
        try withServer { server, port in
            let client = try TestConnection(port: port)
            try client.send("GET /")
            for _ in 0..<8 {
                try? client.send([UInt8](repeating: UInt8(ascii: "a"), count: 4096))
            }
            #expect(try client.readLastResponse().status == 414)
            #expect(server.stats().badRequests == 1)
        }
    }

    @Test func headerBlockJustUnderTheLimitIsServedAndJustOverIs431() throws {
        try withServer(configure: { $0.maxHeaderBytes = 1024 }) { _, port in
            let requestLine = "GET / HTTP/1.1\r\n"
            let fixed = requestLine.utf8.count + "X-Pad: \r\n\r\n".utf8.count
            let fits = try TestConnection(port: port)
            try fits.send(requestLine + "X-Pad: \(String(repeating: "p", count: 1024 - fixed))\r\n\r\n")
            #expect(try fits.readResponse().status == 200)
            let response = try lastResponse(port: port, to: requestLine + "X-Pad: \(String(repeating: "p", count: 1025 - fixed))\r\n\r\n")
            #expect(response.status == 431)
        }
    }

    @Test func oversizedBodyAnnouncedWithExpectContinueIs413WithoutAnInterimResponse() throws {
        try withServer(configure: { $0.maxBodyBytes = 1000 }) { _, port in
            let response = try lastResponse(port: port, to: "POST /echo HTTP/1.1\r\nContent-Length: 1001\r\nExpect: 100-continue\r\n\r\n")
            #expect(response.status == 413)
        }
    }

    @Test(arguments: [
        "GET / HTTP/1.1\r\nHost: x\ry\r\n\r\n",                                   // bare CR
        "GET / HTTP/1.1\r\nX-A: one\r\n two\r\n\r\n",                             // obs-fold
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",    // conflicting lengths
        "POST / HTTP/1.1\r\nContent-Length: 1, 1\r\n\r\na",                       // list in Content-Length
        "POST / HTTP/1.1\r\nContent-Length: +5\r\n\r\nhello",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", // TE before CL
        "GET /\0 HTTP/1.1\r\n\r\n",                                               // NUL in the request line
        "GET /\r\n\r\n",                                                          // no version
        "GET / http/1.1\r\n\r\n",                                                 // lowercase version
        "GET / HTTP/1.1\r\n: empty-name\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",                                                 // separator in the method
        "GET /a b HTTP/1.1\r\n\r\n",                                              // space in the target
        "\u{7F}\u{7F}\u{7F}\r\n\r\n",
    ])
    func moreMalformedRequestsAre400AndClose(_ request: String) throws {
        try withServer { server, port in
            let response = try lastResponse(port: port, to: request)
            #expect(response.status == 400)
            #expect(server.stats().badRequests == 1)
            #expect(server.stats().responsesByClass[2] == 0)
        }
    }

    @Test func chunkedBodyWithExpectContinueIs411() throws {
        try withServer { _, port in
            let response = try lastResponse(port: port, to: "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n")
            #expect(response.status == 411)
        }
    }

    // MARK: Pipelining and HTTP/1.0

    @Test func hundredPipelinedRequestsWithABigOneInTheMiddleAreAnsweredInOrder() throws {
        try withServer { server, port in
            let client = try TestConnection(port: port)
            var requests = ""
            for index in 0..<100 {
                requests += index == 50 ? "GET /big HTTP/1.1\r\n\r\n" : "GET /path?n=\(index) HTTP/1.1\r\nHost: x\r\n\r\n"
            }
            try client.send(requests)
            for index in 0..<100 {
                let response = try client.readResponse()
                if index == 50 {
                    #expect(response.body == bigBody)
                } else {
                    #expect(response.text == "/path?n=\(index)")
                }
            }
            #expect(server.stats().connectionsAccepted == 1)
            #expect(server.stats().responsesByClass[2] == 100)
        }
    }

    @Test func aMalformedRequestEndsAPipelineAfterTheGoodOnesAreAnswered() throws {
        try withServer { _, port in
            let client = try TestConnection(port: port)
            try client.send("GET /path?1 HTTP/1.1\r\n\r\nGET /path?2 HTTP/1.1\r\n\r\nGET / HTTP/1.1\nHost: x\n\nGET /path?4 HTTP/1.1\r\n\r\n")
            #expect(try client.readResponse().text == "/path?1")
            #expect(try client.readResponse().text == "/path?2")
            #expect(try client.readLastResponse().status == 400)
        }
    }

    @Test func http10PipelineGetsOnlyTheFirstAnswer() throws {
        try withServer { server, port in
            let response = try lastResponse(port: port, to: "POST /echo HTTP/1.0\r\nContent-Length: 5\r\n\r\nfirstGET /path?second HTTP/1.0\r\n\r\n")
            #expect(response.text == "first")
            #expect(server.stats().responses == 1)
        }
    }

    // MARK: Resets

    /// Twenty clients reset their connections while 2 MiB answers are being written to them, on
    /// two loops; two well-behaved clients download the same body meanwhile, intact, and every
    /// reset connection is released.
    @Test func resetStormDuringLargeResponsesDoesNotDisturbOthers() throws {
        try withServer(configure: { $0.eventLoopThreads = 2 }) { server, port in
            let downloaders = try (0..<2).map { _ in try TestConnection(port: port) }
            for round in 0..<5 {
                var rude: [TestConnection] = []
                for _ in 0..<4 {
                    let client = try TestConnection(port: port)
                    client.setReceiveBufferSize(4096)
                    try client.send("GET /big HTTP/1.1\r\n\r\nGET /big HTTP/1.1\r\n\r\n")
                    rude.append(client)
                }
                for client in downloaders { try client.send("GET /big HTTP/1.1\r\n\r\n") }
                usleep(UInt32(5_000 * (round + 1)))
                for client in rude { client.reset() }
                for client in downloaders {
                    #expect(try client.readResponse().body == bigBody)
                }
            }
            #expect(eventually { server.stats().connectionsOpen == 2 })
            for client in downloaders {
                try client.send("GET / HTTP/1.1\r\n\r\n")
                #expect(try client.readResponse().text == "hello")
            }
        }
    }

    // MARK: Out of file descriptors

    /// The server runs in a child process limited to 64 descriptors. 100 clients connect: the
    /// server accepts until `accept` fails with EMFILE, then pauses accepting (100 ms at a time,
    /// counted, no busy loop) while it keeps serving the connections it has; the rest wait in the
    /// listen backlog. Once clients leave, it accepts again and serves the ones that waited.
    @Test func runningOutOfFileDescriptorsPausesAcceptingAndRecovers() throws {
        let probe = try ProbeProcess(arguments: ["--max-fds", "64"])
        var clients = try (0..<100).map { _ in try TestConnection(port: probe.port) }
        #expect(eventually { ((try? probe.stats())?["acceptErrors"] ?? 0) > 0 })
        let full = try probe.stats()
        let accepted = try #require(full["accepted"])
        #expect(accepted > 20 && accepted < 64)
        #expect(full["open"] == accepted)

        // Accepting is paused, not spinning: at most a few failed attempts per 100 ms pause.
        usleep(500_000)
        let later = try probe.stats()
        #expect(later["accepted"] == accepted)
        let errorsWhilePaused = (later["acceptErrors"] ?? 0) - (full["acceptErrors"] ?? 0)
        #expect(errorsWhilePaused >= 1 && errorsWhilePaused <= 15, "\(errorsWhilePaused) accept errors in 500 ms")

        // Connections already accepted are still served.
        try clients[0].send("GET / HTTP/1.1\r\n\r\n")
        #expect(try clients[0].readResponse().text == "hello")
        // One waiting in the backlog is not (yet).
        let waiting = clients[99]
        try waiting.send("GET / HTTP/1.1\r\n\r\n")
        waiting.setTimeout(.milliseconds(300))
        #expect(throws: TestHTTPError.self) { try waiting.readResponse() }

        // Free descriptors: the server resumes accepting and the waiting clients are served.
        clients.removeFirst(60)
        waiting.setTimeout(.seconds(10))
        #expect(try waiting.readResponse().text == "hello")
        let fresh = try TestConnection(port: probe.port)
        try fresh.send("GET / HTTP/1.1\r\n\r\n")
        #expect(try fresh.readResponse().text == "hello")
        let recovered = try probe.stats()
        #expect((recovered["accepted"] ?? 0) == 101)
        #expect(recovered["rejected"] == 0)
        #expect(probe.stop() == 0)
    }
}

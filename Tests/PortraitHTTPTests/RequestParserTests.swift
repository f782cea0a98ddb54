import PortraitHTTP
import Testing

@Suite("RequestParser")
struct RequestParserTests {
    private func parseAll(_ text: String, parser: RequestParser = RequestParser()) -> (requests: [HTTPRequest], error: HTTPRequestError?, needsMore: Bool) {
        var parser = parser
        parser.append(contentsOf: Array(text.utf8))
        var requests: [HTTPRequest] = []
        while true {
            switch parser.next() {
            case let .request(request): requests.append(request)
            case let .failure(error): return (requests, error, false)
            case .needMoreData: return (requests, nil, true)
            }
        }
    }

    @Test func parsesRequestLineHeadersAndBody() throws {
        let result = parseAll("POST /api/x?a=1&b=two HTTP/1.1\r\nHost: example\r\nContent-Length: 4\r\nX-Multi: one\r\nx-multi: two\r\n\r\nbody")
        let request = try #require(result.requests.first)
        #expect(result.error == nil)
        #expect(request.method == "POST")
        #expect(request.target == "/api/x?a=1&b=two")
        #expect(request.path == "/api/x")
        #expect(request.query == "a=1&b=two")
        #expect(request.version == .http1_1)
        #expect(request.headers["host"] == "example")
        #expect(request.headers.values(for: "X-MULTI") == ["one", "two"])
        #expect(request.body == Array("body".utf8))
    }

    @Test func trimsOptionalWhitespaceAroundValues() throws {
        let request = try #require(parseAll("GET / HTTP/1.0\r\nA:  \t spaced \t \r\nB:\r\n\r\n").requests.first)
        #expect(request.headers["A"] == "spaced")
        #expect(request.headers["B"] == "")
        #expect(request.version == .http1_0)
    }

    @Test func skipsEmptyLinesBeforeTheRequestLine() throws {
        let result = parseAll("\r\n\r\nGET / HTTP/1.1\r\n\r\n")
        #expect(result.requests.count == 1)
    }

    @Test func byteAtATimeGivesTheSameRequests() throws {
        let text = "GET /a HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyzGET /c HTTP/1.1\r\n\r\n"
        var parser = RequestParser()
        var targets: [String] = []
        for byte in text.utf8 {
            parser.append(contentsOf: [byte])
            while case let .request(request) = parser.next() {
                targets.append(request.target)
            }
        }
        #expect(targets == ["/a", "/b", "/c"])
        #expect(!parser.hasPartialRequest)
    }

    @Test func incompleteInputAsksForMore() {
        for text in ["", "GET", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost: x\r\n\r", "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nabc"] {
            let result = parseAll(text)
            #expect(result.needsMore, "\(text.debugDescription)")
            #expect(result.requests.isEmpty)
        }
    }

    @Test(arguments: [
        ("garbage\r\n\r\n", 400),
        ("GET / HTTP/1.1\nHost: x\n\n", 400),
        ("GET / HTTP/1.1\rHost: x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nHost: a\0b\r\n\r\n", 400),
        ("GE\0T / HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 411),
        ("GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n folded\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\n: empty-name\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nX: a\u{7F}b\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nContent-Length: \r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n", 413),
        ("GET / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n", 413),
        ("GET / HTTP/3.0\r\n\r\n", 505),
        ("GET / HTTP/1.10\r\n\r\n", 400),
        ("GET / http/1.1\r\n\r\n", 400),
        ("GET /\u{1}x HTTP/1.1\r\n\r\n", 400),
        ("GET / HTTP/1.1 \r\n\r\n", 400),
        ("GET /\r\n\r\n", 400),
        ("G(T / HTTP/1.1\r\n\r\n", 400),
        (" GET / HTTP/1.1\r\n\r\n", 400),
    ] as [(String, Int)])
    func rejects(_ text: String, status: Int) {
        let result = parseAll(text)
        #expect(result.error?.status == status, "\(text.debugDescription)")
        #expect(result.requests.isEmpty)
    }

    @Test func acceptsRepeatedIdenticalContentLength() throws {
        let result = parseAll("POST / HTTP/1.1\r\nContent-Length: 2\r\ncontent-length: 2\r\n\r\nok")
        #expect(result.requests.first?.body == Array("ok".utf8))
    }

    @Test func headLimitGives431AndRequestLineLimitGives414() {
        let small = RequestParser(maxHeaderBytes: 64, maxBodyBytes: 10)
        #expect(parseAll("GET /\(String(repeating: "a", count: 100)) HTTP/1.1\r\n\r\n", parser: small).error?.status == 414)
        #expect(parseAll("GET / HTTP/1.1\r\nX: \(String(repeating: "a", count: 100))\r\n\r\n", parser: small).error?.status == 431)
        // Exactly at the limit is fine: 62 bytes of head.
        let exact = "GET / HTTP/1.1\r\nX: \(String(repeating: "a", count: 64 - 16 - 3 - 4))\r\n\r\n"
        #expect(exact.utf8.count == 64)
        #expect(parseAll(exact, parser: small).requests.count == 1)
        #expect(parseAll(exact.replacingFirstA(), parser: small).error?.status == 431)
        // Endless empty lines count toward the head.
        #expect(parseAll(String(repeating: "\r\n", count: 40), parser: small).error?.status == 414)
    }

    @Test func headerCountLimitGives431() {
        let parser = RequestParser(maxHeaderCount: 3)
        let fields = (0..<4).map { "X-\($0): v\r\n" }.joined()
        #expect(parseAll("GET / HTTP/1.1\r\n\(fields)\r\n", parser: parser).error?.status == 431)
    }

    @Test func staysFailedAfterAnError() {
        var parser = RequestParser()
        parser.append(contentsOf: Array("BAD\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8))
        guard case .failure = parser.next() else {
            Issue.record("expected a failure")
            return
        }
        guard case .failure = parser.next() else {
            Issue.record("expected the failure to stick")
            return
        }
    }

    @Test func absoluteFormTargetGivesThePath() throws {
        let request = try #require(parseAll("GET http://example.com:80/metrics?x=1 HTTP/1.1\r\n\r\n").requests.first)
        #expect(request.path == "/metrics")
        #expect(request.query == "x=1")
    }

    @Test func randomInputNeverTraps() {
        var generator = SplitMix64(seed: 42)
        let alphabet = Array("GET /HTTP1.0\r\n: \0\tContent-Length: 5Transfer-Encodingx\u{7F}".utf8) + [0x80, 0xFF]
        for _ in 0..<2000 {
            var parser = RequestParser(maxHeaderBytes: 256, maxBodyBytes: 64, maxHeaderCount: 8)
            let count = Int(generator.next() % 600)
            var bytes: [UInt8] = Array("GET / HTTP/1.1\r\n".utf8)
            for _ in 0..<count {
                let pick = generator.next()
                bytes.append(pick % 3 == 0 ? UInt8(truncatingIfNeeded: pick >> 8) : alphabet[Int(pick >> 8) % alphabet.count])
            }
            var offset = 0
            outer: while offset < bytes.count {
                let step = 1 + Int(generator.next() % 40)
                parser.append(contentsOf: bytes[offset..<min(bytes.count, offset + step)])
                offset += step
                for _ in 0..<50 {
                    switch parser.next() {
                    case .request: continue
                    case .needMoreData: continue outer
                    case let .failure(error):
                        #expect([400, 411, 413, 414, 431, 505].contains(error.status))
                        break outer
                    }
                }
            }
        }
    }
}

/// A tiny deterministic random generator for the fuzz-style test.
struct SplitMix64 {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private extension String {
    /// Inserts one more "a" into the X field (one byte over the limit).
    func replacingFirstA() -> String {
        guard let index = firstIndex(of: "a") else { return self }
        var copy = self
        copy.insert("a", at: index)
        return copy
    }
}

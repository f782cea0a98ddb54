import PortraitHTTP
import Testing

@Suite("HTTP value types")
struct HTTPTypesTests {
    @Test func headersLookUpCaseInsensitivelyAndKeepOrder() {
        var headers = HTTPHeaders([("Content-Type", "a"), ("X-One", "1")])
        #expect(headers["content-type"] == "a")
        #expect(headers["CONTENT-TYPE"] == "a")
        #expect(headers["missing"] == nil)
        headers.add("x-one", "2")
        #expect(headers.values(for: "X-ONE") == ["1", "2"])
        headers.replaceOrAdd("X-One", "3")
        #expect(headers.values(for: "x-one") == ["3"])
        headers.replaceOrAdd("New", "n")
        #expect(headers.map(\.name) == ["Content-Type", "X-One", "New"])
        headers.remove("content-type")
        #expect(headers.count == 2)
    }

    @Test func queryItemsArePercentAndPlusDecodedLastWins() {
        let request = HTTPRequest(method: "GET", target: "/p?a=1&b=hello+world&c=%E4%BD%A0%21&a=2&flag&bad=%zz&=x")
        #expect(request.path == "/p")
        #expect(request.queryItems["a"] == "2")
        #expect(request.queryItems["b"] == "hello world")
        #expect(request.queryItems["c"] == "你!")
        #expect(request.queryItems["flag"] == "")
        #expect(request.queryItems["bad"] == "%zz")
        #expect(HTTPRequest(method: "GET", target: "/p").query == nil)
        #expect(HTTPRequest(method: "GET", target: "/p?").query == "")
        #expect(HTTPRequest(method: "GET", target: "/p").queryItems.isEmpty)
    }

    @Test(arguments: [
        ("127.0.0.1:5", true), ("127.9.8.7:5", true), ("[::1]:5", true), ("[::ffff:127.0.0.1]:5", true),
        ("10.0.0.1:5", false), ("[::2]:5", false), ("[2001:db8::1]:80", false), ("128.0.0.1:1", false),
    ] as [(String, Bool)])
    func loopbackIsDerivedFromTheRemoteAddress(_ address: String, loopback: Bool) {
        #expect(HTTPRequest(method: "GET", target: "/", remoteAddress: address).isLoopback == loopback)
    }

    @Test func responseFactoriesSetContentType() {
        let text = HTTPResponse.text(201, "hi")
        #expect(text.status == 201)
        #expect(text.headers["content-type"] == "text/plain; charset=utf-8")
        #expect(text.body == Array("hi".utf8))
        #expect(HTTPResponse.json(200, Array("{}".utf8)).headers["Content-Type"] == "application/json")
        #expect(text.delay == nil && !text.hang && !text.closeConnection)
    }

    @Test(arguments: [
        ("127.0.0.1:8080", "127.0.0.1", 8080, "127.0.0.1:8080"),
        ("0.0.0.0:10054", "0.0.0.0", 10054, "0.0.0.0:10054"),
        ("[::1]:0", "::1", 0, "[::1]:0"),
        ("[::]:10054", "::", 10054, "[::]:10054"),
        (":9000", "", 9000, ":9000"),
        ("localhost:80", "127.0.0.1", 80, "127.0.0.1:80"),
    ] as [(String, String, UInt16, String)])
    func listenAddressParses(_ text: String, host: String, port: UInt16, description: String) throws {
        let address = try ListenAddress(parsing: text)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == description)
    }

    @Test(arguments: ["", "8080", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:8o",
                      "::1:80", "[::1]80", "[::1", "[1.2.3.4]:80", "example.com:80", "256.0.0.1:80", "[::1]:123456"])
    func listenAddressRejects(_ text: String) {
        #expect(throws: HTTPServerError.self) { try ListenAddress(parsing: text) }
        do {
            _ = try ListenAddress(parsing: text)
        } catch {
            guard case let .invalidAddress(quoted, reason) = error else {
                Issue.record("unexpected \(error)")
                return
            }
            #expect(quoted == text)
            #expect(!reason.isEmpty)
            #expect(error.description.contains("'\(text)'"))
        }
    }

    @Test func invalidAddressInConfigurationFailsStart() {
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: []), handler: testHandler)
        #expect(throws: HTTPServerError.self) { try server.start() }
    }

    @Test func bindToAnAddressNotOnThisMachineFails() throws {
        let address = try ListenAddress(parsing: "192.0.2.1:0")  // TEST-NET-1, never local
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [address]), handler: testHandler)
        do throws(HTTPServerError) {
            try server.start()
            server.stop()
            Issue.record("bound to 192.0.2.1")
        } catch {
            #expect(error.description.hasPrefix("192.0.2.1:0: "))
        }
    }
}

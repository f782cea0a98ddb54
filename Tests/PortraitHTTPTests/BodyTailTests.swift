import PortraitHTTP
import PortraitTestKit
import Testing

/// A response whose body comes in two parts (`body` then `bodyTail`, one vectored write).
/// On the main actor: the test client blocks its thread in socket calls, which must not be one
/// of the cooperative pool's few threads (other suites' tasks run there in parallel).
@Suite("HTTPResponse.bodyTail over loopback", .timeLimit(.minutes(5)))
@MainActor
struct BodyTailTests {
    nonisolated static let tail: [UInt8] = Array("# the tail\nup 1\n".utf8)

    nonisolated static let handler = HTTPHandlerFunction { request in
        var response = HTTPResponse(status: 200, headers: ["Content-Type": "text/plain"],
                                    body: request.path == "/big" ? bigBody : Array("head part\n".utf8))
        response.bodyTail = request.path == "/empty" ? [] : tail
        if request.path == "/empty" { response.body = [] }
        if request.path == "/tail-only" { response.body = [] }
        return response
    }

    @Test("body and tail arrive joined, Content-Length counts both, keep-alive continues")
    func joined() throws {
        try withServer(handler: Self.handler) { _, port in
            let client = try TestConnection(port: port)
            for path in ["/small", "/big", "/tail-only", "/empty", "/small"] {
                try client.send("GET \(path) HTTP/1.1\r\nHost: x\r\n\r\n")
                let response = try client.readResponse()
                let expected: [UInt8]
                switch path {
                case "/big": expected = bigBody + Self.tail
                case "/tail-only": expected = Self.tail
                case "/empty": expected = []
                default: expected = Array("head part\n".utf8) + Self.tail
                }
                #expect(response.status == 200)
                #expect(response.header("Content-Length") == String(expected.count), "\(path)")
                #expect(response.body == expected, "\(path)")
            }
        }
    }

    @Test("HEAD announces the joined length and sends neither part")
    func head() throws {
        try withServer(handler: Self.handler) { _, port in
            let client = try TestConnection(port: port)
            try client.send("HEAD /big HTTP/1.1\r\nHost: x\r\n\r\n")
            let head = try client.readResponse(head: true)
            #expect(head.header("Content-Length") == String(bigBody.count + Self.tail.count))
            try client.send("GET /small HTTP/1.1\r\nHost: x\r\n\r\n")
            #expect(try client.readResponse().body == Array("head part\n".utf8) + Self.tail)
        }
    }
}

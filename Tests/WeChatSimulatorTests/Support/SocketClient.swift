import Glibc
import Foundation
import PortraitTestKit

/// A minimal blocking HTTP/1.1 client for loopback tests: one request per connection, a receive
/// timeout on the socket (SO_RCVTIMEO) so that nothing can hang a test.
struct SocketClient {
    struct Response {
        var status: Int
        var headers: [(String, String)]
        var body: [UInt8]
        /// True when the server closed the connection before the whole announced body arrived.
        var truncated: Bool
        /// True when the read timed out before any response arrived.
        var timedOut: Bool

        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    enum Failure: Error { case send(Int32) }

    var port: UInt16
    /// Receive timeout in seconds.
    var timeout: Double = 5

    /// Sends one request with `Connection: close` and reads the answer.
    func send(method: String, target: String, body: [UInt8] = []) throws -> Response {
        let fd = try TestHTTPClient.blockingConnect(port: port, timeout: .milliseconds(Int64(timeout * 1000)))
        defer { close(fd) }

        var request = Array("\(method) \(target) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n".utf8)
        if !body.isEmpty || method == "POST" {
            request += Array("Content-Type: application/json\r\nContent-Length: \(body.count)\r\n".utf8)
        }
        request += Array("\r\n".utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw Failure.send(errno) }
            sent += n
        }

        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        var timedOut = false
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { received += buffer[0..<n]; continue }
            if n < 0, errno == EINTR { continue }
            if n < 0, errno == EAGAIN || errno == EWOULDBLOCK { timedOut = true }
            break
        }
        return Self.parse(received, timedOut: timedOut)
    }

    static func parse(_ bytes: [UInt8], timedOut: Bool) -> Response {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let split = (0..<max(0, bytes.count - 3)).first(where: { Array(bytes[$0..<$0 + 4]) == separator }) else {
            return Response(status: 0, headers: [], body: [], truncated: !bytes.isEmpty, timedOut: timedOut && bytes.isEmpty)
        }
        let head = String(decoding: bytes[..<split], as: UTF8.self).components(separatedBy: "\r\n")
        let statusParts = head.first?.split(separator: " ") ?? []
        let status = statusParts.count > 1 ? Int(statusParts[1]) ?? 0 : 0
        let headers = head.dropFirst().compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), String(line[line.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
        }
        let body = Array(bytes[(split + 4)...])
        let announced = headers.first { $0.0.lowercased() == "content-length" }.flatMap { Int($0.1) }
        return Response(status: status, headers: headers, body: body, truncated: announced.map { body.count < $0 } ?? false, timedOut: false)
    }
}

@preconcurrency import Glibc
import Foundation

/// A minimal HTTP/1.1 client over a loopback TCP socket, for tests: one request per connection
/// (`Connection: close`), reads until the server closes, every read bounded by `SO_RCVTIMEO`.
/// The socket calls block, so they run on a thread of their own (`OffPool`), never on a thread
/// of the cooperative pool.
public struct TestHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct TestHTTPError: Error, CustomStringConvertible {
    public var description: String
    public init(description: String) { self.description = description }
}

public enum TestHTTPClient {
    /// Sends `method path` to 127.0.0.1:`port` and returns the parsed response.
    public static func request(port: UInt16, method: String = "GET", path: String, timeoutSeconds: Int = 20) async throws -> TestHTTPResponse {
        let raw = try await exchange(port: port, request: "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n", timeoutSeconds: timeoutSeconds)
        return try parse(raw, isHead: method == "HEAD")
    }

    /// Writes `request` and reads until the peer closes the connection (on a thread of its own).
    public static func exchange(port: UInt16, request: String, timeoutSeconds: Int) async throws -> [UInt8] {
        try await OffPool.run { try blockingExchange(port: port, request: request, timeoutSeconds: timeoutSeconds) }
    }

    /// Opens a connection to 127.0.0.1:`port` that sends nothing (a silent client, e.g. to fill
    /// the server's connection cap) and returns its descriptor; close it with `close(_:)`.
    public static func openSilentConnection(port: UInt16, timeoutSeconds: Int = 20) async throws -> Int32 {
        try await OffPool.run { try blockingConnect(port: port, timeout: .seconds(timeoutSeconds)) }
    }

    /// `exchange` on the calling thread: only for threads that may block (never from a task).
    public static func blockingExchange(port: UInt16, request: String, timeoutSeconds: Int) throws -> [UInt8] {
        let fd = try blockingConnect(port: port, timeout: .seconds(timeoutSeconds))
        defer { close(fd) }
        let bytes = Array(request.utf8)
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestHTTPError(description: "send: errno \(errno)")
            }
            sent += n
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 {
                if errno == EINTR { continue }
                throw TestHTTPError(description: "recv: errno \(errno) (timeout or reset) after \(received.count) bytes")
            }
            if n == 0 { break }
            received.append(contentsOf: buffer[0..<n])
        }
        return received
    }

    /// A TCP socket connected to `host` (an IPv4 address, loopback by default) and `port`, whose
    /// reads and writes time out after `timeout`. Blocking: only for threads that may block (never
    /// from a task). The caller closes it.
    public static func blockingConnect(host: String = "127.0.0.1", port: UInt16, timeout: Duration) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPError(description: "socket: errno \(errno)") }
        let (seconds, attoseconds) = timeout.components
        var limit = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        _ = setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr(host)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let code = errno
            close(fd)
            throw TestHTTPError(description: "connect to \(host):\(port): errno \(code)")
        }
        return fd
    }

    public static func parse(_ raw: [UInt8], isHead: Bool) throws -> TestHTTPResponse {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let end = (0..<max(0, raw.count - 3)).first(where: { Array(raw[$0..<($0 + 4)]) == separator }) else {
            throw TestHTTPError(description: "no header end in \(raw.count) bytes")
        }
        let head = String(decoding: raw[0..<end], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst().split(separator: " ")
        guard statusLine.count >= 2, let status = Int(statusLine[1]) else {
            throw TestHTTPError(description: "bad status line")
        }
        let headers = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let body = Array(raw[(end + 4)...])
        let response = TestHTTPResponse(status: status, headers: headers, body: body)
        if !isHead, let length = response.header("Content-Length").flatMap(Int.init), length != body.count {
            throw TestHTTPError(description: "Content-Length \(length) but \(body.count) body bytes")
        }
        return response
    }
}

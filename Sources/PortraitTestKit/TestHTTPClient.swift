/// One-shot HTTP/1.1 exchanges for tests, over a `TestConnection`: one request per connection
/// (`Connection: close`), read until the server closes, every socket call bounded by the
/// timeout. The async functions run the blocking socket calls on a thread of their own
/// (`OffPool`), never on a thread of the cooperative pool; the `blocking…` ones are for threads
/// that may block (a `@MainActor` suite, or inside `OffPool.run`).
public enum TestHTTPClient {
    /// Sends `method path` (with `headers`, and `body` with its Content-Length when there is one)
    /// to `127.0.0.1:port` and returns the parsed response.
    public static func request(port: UInt16, method: String = "GET", path: String, headers: [(String, String)] = [], body: [UInt8]? = nil,
                               timeoutSeconds: Int = 20) async throws -> TestHTTPResponse {
        try await OffPool.run {
            try blockingRequest(port: port, method: method, path: path, headers: headers, body: body, timeoutSeconds: timeoutSeconds)
        }
    }

    /// `request` on the calling thread: only for threads that may block (never from a task on
    /// the cooperative pool).
    public static func blockingRequest(host: String = "127.0.0.1", port: UInt16, method: String = "GET", path: String,
                                       headers: [(String, String)] = [], body: [UInt8]? = nil, timeoutSeconds: Int = 20) throws -> TestHTTPResponse {
        let request = requestBytes(host: host, port: port, method: method, path: path, headers: headers, body: body)
        return try parse(try blockingExchange(host: host, port: port, request: request, timeoutSeconds: timeoutSeconds), isHead: method == "HEAD")
    }

    /// Writes `request` and reads until the peer closes the connection (on a thread of its own).
    public static func exchange(port: UInt16, request: String, timeoutSeconds: Int) async throws -> [UInt8] {
        try await OffPool.run { try blockingExchange(port: port, request: request, timeoutSeconds: timeoutSeconds) }
    }

    /// `exchange` on the calling thread: only for threads that may block (never from a task).
    public static func blockingExchange(host: String = "127.0.0.1", port: UInt16, request: String, timeoutSeconds: Int) throws -> [UInt8] {
        try blockingExchange(host: host, port: port, request: Array(request.utf8), timeoutSeconds: timeoutSeconds)
    }

    /// `blockingExchange` with the request as bytes.
    public static func blockingExchange(host: String = "127.0.0.1", port: UInt16, request: [UInt8], timeoutSeconds: Int) throws -> [UInt8] {
        let connection = try TestConnection(host: host, port: port, timeout: .seconds(timeoutSeconds))
        try connection.send(request)
        return try connection.readToEnd()
    }

    /// The bytes of a one-shot request: the request line, `Host`, `Connection: close`, `headers`,
    /// and when `body` is given its `Content-Length` and the body itself (so an empty body is sent
    /// as `Content-Length: 0`, and `nil` sends no length at all).
    public static func requestBytes(host: String = "127.0.0.1", port: UInt16, method: String, path: String,
                                    headers: [(String, String)] = [], body: [UInt8]? = nil) -> [UInt8] {
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host.contains(":") ? "[\(host)]" : host):\(port)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        if let body { head += "Content-Length: \(body.count)\r\n" }
        return Array((head + "\r\n").utf8) + (body ?? [])
    }

    /// Parses everything a one-shot exchange received: a head (any HTTP/1.x version) and the rest
    /// as the body, which must be as long as its Content-Length says (unless `isHead`).
    public static func parse(_ raw: [UInt8], isHead: Bool) throws -> TestHTTPResponse {
        guard let end = TestHTTPResponse.headEnd(in: raw) else {
            throw TestHTTPError.malformed("no header end in \(raw.count) bytes")
        }
        var response = try TestHTTPResponse(head: raw[0..<end], versions: nil)
        response.body = Array(raw[(end + 4)...])
        if !isHead, let length = response.header("Content-Length").flatMap(Int.init), length != response.body.count {
            throw TestHTTPError.malformed("Content-Length \(length) but \(response.body.count) body bytes")
        }
        return response
    }
}

/// A response as a test client saw it.
public struct TestHTTPResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name` (any case).
    public func header(_ name: String) -> String? {
        headers.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The body as UTF-8 text.
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// Parses a head (status line and fields, without the blank line that ends it), with an
    /// empty body. `versions`: the protocol versions accepted in the status line (nil: any
    /// `HTTP/1.x`). Every field line must have a colon; values lose their leading and trailing
    /// spaces and tabs.
    init(head: ArraySlice<UInt8>, versions: Set<String>?) throws {
        var lines = String(decoding: head, as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let status = Int(parts[1]),
              versions.map({ $0.contains(String(parts[0])) }) ?? parts[0].hasPrefix("HTTP/1.") else {
            throw TestHTTPError.malformed("status line \(statusLine)")
        }
        var headers: [(String, String)] = []
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { throw TestHTTPError.malformed("header line \(line)") }
            var value = line[line.index(after: colon)...]
            while let first = value.first, first == " " || first == "\t" { value = value.dropFirst() }
            while let last = value.last, last == " " || last == "\t" { value = value.dropLast() }
            headers.append((String(line[..<colon]), String(value)))
        }
        self.init(status: status, headers: headers, body: [])
    }

    /// Where the blank line that ends a head starts in `bytes` (the index of its `\r\n\r\n`).
    static func headEnd(in bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for start in 0...(bytes.count - 4) where bytes[start] == 13 {
            if bytes[start + 1] == 10 && bytes[start + 2] == 13 && bytes[start + 3] == 10 { return start }
        }
        return nil
    }
}

/// Why a test client's exchange failed.
public enum TestHTTPError: Error, Equatable, CustomStringConvertible {
    /// A system call failed with `errno`.
    case system(String, Int32)
    /// A read waited for the timeout; `received` bytes had arrived unconsumed.
    case timedOut(received: Int)
    /// The server closed the connection in the middle of a response.
    case closed(received: Int)
    /// The response (or a helper's answer) was not what the protocol allows.
    case malformed(String)
    /// Any other failure a test reports with this type.
    case failed(String)

    /// A failure described by `description`.
    public init(description: String) { self = .failed(description) }

    public var description: String {
        switch self {
        case let .system(call, code): "\(call): errno \(code)"
        case let .timedOut(received): "timed out after \(received) bytes"
        case let .closed(received): "connection closed after \(received) bytes"
        case let .malformed(why): "malformed: \(why)"
        case let .failed(why): why
        }
    }
}

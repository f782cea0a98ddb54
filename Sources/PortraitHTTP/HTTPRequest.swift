/// The HTTP protocol version of a request.
public enum HTTPVersion: Sendable, Hashable, CustomStringConvertible {
    /// HTTP/1.0: the server closes the connection after every response.
    case http1_0
    /// HTTP/1.1: persistent connections unless `Connection: close`.
    case http1_1

    public var description: String {
        switch self {
        case .http1_0: "HTTP/1.0"
        case .http1_1: "HTTP/1.1"
        }
    }
}

/// A complete HTTP request as received: request line, header fields and the whole body.
public struct HTTPRequest: Sendable {
    /// The method token exactly as sent (case-sensitive), e.g. `"GET"`. A `HEAD` request reaches
    /// the handler as `"GET"`; the server then drops the body.
    public var method: String
    /// The raw request-target, e.g. `"/metrics?x=1"`.
    public var target: String
    /// The target's path, up to `?`, not percent-decoded, e.g. `"/metrics"`. For an absolute-form
    /// target (`http://host/p?q`) the path after the authority (`"/p"`).
    public var path: String
    /// The raw query after `?` (not decoded), or nil when the target has no `?`.
    public var query: String?
    /// The request's protocol version.
    public var version: HTTPVersion
    /// The header fields in the order received.
    public var headers: HTTPHeaders
    /// The body (at most `HTTPServerConfiguration.maxBodyBytes` bytes; empty when none).
    public var body: [UInt8]
    /// The peer as `"127.0.0.1:54321"` or `"[::1]:54321"`; nil when unknown.
    public var remoteAddress: String?
    /// Whether the peer is a loopback address: 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104.
    public var isLoopback: Bool

    /// Creates a request; `path` and `query` are split from `target`, and `isLoopback` is
    /// derived from `remoteAddress`.
    public init(
        method: String,
        target: String,
        version: HTTPVersion = .http1_1,
        headers: HTTPHeaders = HTTPHeaders(),
        body: [UInt8] = [],
        remoteAddress: String? = nil
    ) {
        self.method = method
        self.target = target
        (self.path, self.query) = Self.split(target: target)
        self.version = version
        self.headers = headers
        self.body = body
        self.remoteAddress = remoteAddress
        self.isLoopback = remoteAddress.map(Self.isLoopback(address:)) ?? false
    }

    /// Decoded query parameters (percent-decoding and `+` as space); when a name repeats, the
    /// last value wins. A parameter without `=` has the empty value.
    public var queryItems: [String: String] {
        guard let query, !query.isEmpty else { return [:] }
        var items: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = Self.formDecode(parts[0])
            let value = parts.count > 1 ? Self.formDecode(parts[1]) : ""
            items[name] = value
        }
        return items
    }

    /// Whether the client asked to close the connection after this request's response.
    var wantsClose: Bool {
        version == .http1_0 || headers.containsToken("close", inField: "Connection")
    }
}

extension HTTPRequest {
    /// Splits a request-target into path and query.
    static func split(target: String) -> (path: String, query: String?) {
        var rest = Substring(target)
        if let colon = rest.firstIndex(of: ":"), rest[colon...].hasPrefix("://"),
           !rest[..<colon].isEmpty, rest[..<colon].allSatisfy({ $0.isLetter }) {
            // absolute-form: drop scheme and authority
            let afterScheme = rest[rest.index(colon, offsetBy: 3)...]
            if let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" }) {
                rest = afterScheme[slash...]
            } else {
                rest = "/"
            }
            if rest.first == "?" { rest = "/" + rest }
        }
        guard let mark = rest.firstIndex(of: "?") else { return (String(rest), nil) }
        return (String(rest[..<mark]), String(rest[rest.index(after: mark)...]))
    }

    /// Percent-decodes `text` and turns `+` into space; malformed escapes are kept literally.
    static func formDecode(_ text: Substring) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.count,
                      let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// Whether a textual peer address (`"127.0.0.1:1"`, `"[::1]:1"`, `"[::ffff:127.0.0.1]:1"`,
    /// or a bare host) is a loopback address.
    static func isLoopback(address: String) -> Bool {
        var host = Substring(address)
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return false }
            host = host[host.index(after: host.startIndex)..<close]
        } else if host.filter({ $0 == ":" }).count == 1, let colon = host.firstIndex(of: ":") {
            host = host[..<colon]
        }
        let lower = host.lowercased()
        if lower == "::1" || lower == "0:0:0:0:0:0:0:1" { return true }
        if lower.hasPrefix("::ffff:") { return lower.dropFirst(7).hasPrefix("127.") }
        return lower.hasPrefix("127.") && !lower.contains(":")
    }
}

import Glibc

/// Where a StatsD server listens: a host name or IP address and a UDP port, written `host:port`,
/// `192.0.2.1:8125` or `[2001:db8::1]:8125` (IPv6 addresses in brackets).
public struct StatsDAddress: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP literal, without brackets.
    public var host: String
    /// UDP port, 1…65535.
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// Why an address text was rejected.
    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// Longest host name accepted, in bytes (DNS limit).
    public static let maxHostBytes = 253

    /// Parses `host:port` or `[ipv6]:port`.
    public init(parsing text: String) throws(ParseError) {
        func fail(_ message: String) -> ParseError { ParseError(description: message) }
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw fail("\"\(text)\" has no closing \"]\"") }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw fail("\"\(text)\" needs a port after \"]\", as in \"[::1]:8125\"") }
            portPart = rest.dropFirst()
            guard Self.isIPv6(String(hostPart)) else { throw fail("\"\(hostPart)\" in brackets is not an IPv6 address") }
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw fail("\"\(text)\" needs a port, as in \"127.0.0.1:8125\"") }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") { throw fail("write IPv6 addresses in brackets, as in \"[::1]:8125\"; found \"\(text)\"") }
            if hostPart.isEmpty { throw fail("\"\(text)\" needs a host before the port, as in \"127.0.0.1:8125\"") }
            if hostPart.utf8.count > Self.maxHostBytes { throw fail("host name is longer than \(Self.maxHostBytes) bytes") }
            let valid = hostPart.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                     UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "-"), UInt8(ascii: "_"):
                    true
                default: false
                }
            }
            if !valid { throw fail("\"\(hostPart)\" is not a host name or IPv4 address") }
        }
        guard !portPart.isEmpty, portPart.utf8.count <= 5, portPart.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
              let port = Int(portPart), (1...65535).contains(port) else {
            throw fail("port must be a number from 1 to 65535, found \"\(portPart)\"")
        }
        self.init(host: String(hostPart), port: UInt16(port))
    }

    /// `host:port`, with brackets around an IPv6 host.
    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// Whether `host` is an IPv4 or IPv6 literal (needs no name resolution).
    public var isNumeric: Bool { Self.isIPv6(host) || Self.isIPv4(host) }

    static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }

    static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }
}

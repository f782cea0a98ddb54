import Glibc

/// An address to listen on: an IP literal and a TCP port.
///
/// Text forms: `"127.0.0.1:8080"`, `"0.0.0.0:10054"`, `"[::1]:0"`, `"[::]:10054"`,
/// `"localhost:8080"` (taken as 127.0.0.1) and `":10054"` (every interface: one IPv4 socket on
/// 0.0.0.0 and, when the machine has IPv6, one IPv6-only socket on `::`). An IPv6 address
/// listens on IPv6 only (`IPV6_V6ONLY`), so `[::]:p` and `0.0.0.0:p` can be listed together.
/// Port 0 asks the kernel for a free port; ``HTTPServer/boundAddresses`` tells which.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The IP literal without brackets (`"127.0.0.1"`, `"::1"`), or `""` for every interface.
    public var host: String
    /// The TCP port; 0 picks a free port when binding.
    public var port: UInt16

    /// Parses `"host:port"`, `"[v6]:port"` or `":port"`.
    /// - Throws: ``HTTPServerError/invalidAddress(_:reason:)`` with the text and why.
    public init(parsing text: String) throws(HTTPServerError) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw .invalidAddress(text, reason: "missing ']' after the IPv6 address")
            }
            hostPart = text[text.index(after: text.startIndex)..<close]
            let afterClose = text[text.index(after: close)...]
            guard afterClose.first == ":" else {
                throw .invalidAddress(text, reason: "expected ':port' after ']'")
            }
            portPart = afterClose.dropFirst()
            guard Self.family(of: String(hostPart)) == AF_INET6 else {
                throw .invalidAddress(text, reason: "'\(hostPart)' is not an IPv6 address")
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw .invalidAddress(text, reason: "expected host:port, [ipv6]:port or :port")
            }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
            if hostPart.contains(":") {
                throw .invalidAddress(text, reason: "an IPv6 address needs brackets, e.g. [::1]:8080")
            }
        }
        guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy(\.isASCIIDigitCharacter),
              let port = UInt16(portPart) else {
            throw .invalidAddress(text, reason: "port must be a number from 0 to 65535")
        }
        var host = String(hostPart)
        if host.asciiCaseInsensitiveEquals("localhost") { host = "127.0.0.1" }
        if !host.isEmpty, Self.family(of: host) == nil {
            throw .invalidAddress(text, reason: "'\(host)' is not an IP address (names other than localhost are not resolved)")
        }
        self.host = host
        self.port = port
    }

    /// An address from an IP literal (no brackets) or `""` for every interface, and a port.
    /// - Throws: ``HTTPServerError/invalidAddress(_:reason:)`` when `host` is not an IP literal.
    public init(host: String, port: UInt16) throws(HTTPServerError) {
        guard host.isEmpty || Self.family(of: host) != nil else {
            throw .invalidAddress(host, reason: "'\(host)' is not an IP address")
        }
        self.host = host
        self.port = port
    }

    /// An address whose host is already known to be valid.
    init(unchecked host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    /// `"127.0.0.1:8080"`, `"[::1]:8080"` or `":8080"`.
    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// AF_INET or AF_INET6 for an IP literal, nil otherwise.
    static func family(of host: String) -> Int32? {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return AF_INET }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 { return AF_INET6 }
        return nil
    }
}

extension Character {
    var isASCIIDigitCharacter: Bool { ("0"..."9").contains(self) }
}

import Glibc

/// An IPv4 or IPv6 socket address as the kernel takes it.
struct SocketAddress: Sendable, Equatable, CustomStringConvertible {
    private(set) var storage = sockaddr_storage()
    private(set) var length: socklen_t = 0

    /// Copies `length` bytes of `address`.
    init(_ address: UnsafePointer<sockaddr>, length: socklen_t) {
        let count = min(Int(length), MemoryLayout<sockaddr_storage>.size)
        withUnsafeMutableBytes(of: &storage) { target in
            target.copyMemory(from: UnsafeRawBufferPointer(start: UnsafeRawPointer(address), count: count))
        }
        self.length = socklen_t(count)
    }

    /// `AF_INET` or `AF_INET6`.
    var family: Int32 { Int32(storage.ss_family) }

    /// Calls `body` with the address as a `sockaddr` pointer and its length.
    func withSockaddr<R>(_ body: (UnsafePointer<sockaddr>, socklen_t) -> R) -> R {
        withUnsafeBytes(of: storage) { raw in
            body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), length)
        }
    }

    /// The IP address alone: `192.0.2.1` or `2001:db8::1`.
    var host: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafeBytes(of: storage) { raw -> String in
            if family == AF_INET6 {
                var ip = raw.load(as: sockaddr_in6.self).sin6_addr
                _ = inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
            } else {
                var ip = raw.load(as: sockaddr_in.self).sin_addr
                _ = inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
            }
            return Self.string(text)
        }
    }

    /// The port.
    var port: UInt16 {
        withUnsafeBytes(of: storage) { raw in
            family == AF_INET6 ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
                               : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
    }

    /// `192.0.2.1:8125` or `[2001:db8::1]:8125`.
    var description: String { family == AF_INET6 ? "[\(host)]:\(port)" : "\(host):\(port)" }

    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.length == rhs.length else { return false }
        return withUnsafeBytes(of: lhs.storage) { l in
            withUnsafeBytes(of: rhs.storage) { r in memcmp(l.baseAddress!, r.baseAddress!, Int(lhs.length)) == 0 }
        }
    }

    /// The socket addresses of `host` and `port` from `getaddrinfo` (IPv4 and IPv6, in the system's
    /// preference order). With `numericOnly` the host must be an IP literal and nothing blocks;
    /// otherwise this may **block** on DNS: call it only from the sender's own queue.
    static func lookup(host: String, port: UInt16, numericOnly: Bool) -> Result<[SocketAddress], StatsDResolver.Failure> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_UDP)
        // No AI_ADDRCONFIG: with only a loopback interface (a container without network) it makes
        // glibc drop 127.0.0.1/::1 and `localhost` fails. An unusable family fails at connect()
        // instead, and the sender moves on to the next address.
        hints.ai_flags = AI_NUMERICSERV | (numericOnly ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        var status: Int32
        repeat {
            status = getaddrinfo(host, String(port), &hints, &list)
        } while status == EAI_SYSTEM && errno == EINTR
        guard status == 0 else {
            let message = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            return .failure(StatsDResolver.Failure(message))
        }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var entry = list
        while let current = entry {
            let info = current.pointee
            if let sockaddr = info.ai_addr, info.ai_family == AF_INET || info.ai_family == AF_INET6 {
                let resolved = SocketAddress(sockaddr, length: info.ai_addrlen)
                if !result.contains(resolved) { result.append(resolved) }
            }
            entry = info.ai_next
        }
        if result.isEmpty { return .failure(StatsDResolver.Failure("no IPv4 or IPv6 address")) }
        return .success(result)
    }
}

/// Turns the StatsD host name into IP addresses. The sender calls it only on its own queue, so it
/// may block (DNS); injectable so that tests can resolve slowly or not at all.
public struct StatsDResolver: Sendable {
    /// Why a host name did not resolve.
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }

    /// Returns the IP literals (`192.0.2.1`, `2001:db8::1`) of a host name, preferred first.
    public let resolve: @Sendable (_ host: String) throws(Failure) -> [String]

    public init(resolve: @escaping @Sendable (_ host: String) throws(Failure) -> [String]) {
        self.resolve = resolve
    }

    /// The system's resolver (`getaddrinfo`: /etc/hosts, DNS), IPv4 and IPv6 in the system's
    /// preference order (RFC 6724, gai.conf).
    public static let system = StatsDResolver { (host: String) throws(Failure) -> [String] in
        switch SocketAddress.lookup(host: host, port: 1, numericOnly: false) {
        case .success(let addresses): return addresses.map(\.host)
        case .failure(let failure): throw failure
        }
    }
}

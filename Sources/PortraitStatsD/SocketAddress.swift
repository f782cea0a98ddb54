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

    /// `192.0.2.1:8125` or `[2001:db8::1]:8125`.
    var description: String {
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        return withUnsafeBytes(of: storage) { raw -> String in
            if family == AF_INET6 {
                let address = raw.load(as: sockaddr_in6.self)
                var ip = address.sin6_addr
                _ = inet_ntop(AF_INET6, &ip, &text, socklen_t(text.count))
                return "[\(Self.string(text))]:\(UInt16(bigEndian: address.sin6_port))"
            }
            let address = raw.load(as: sockaddr_in.self)
            var ip = address.sin_addr
            _ = inet_ntop(AF_INET, &ip, &text, socklen_t(text.count))
            return "\(Self.string(text)):\(UInt16(bigEndian: address.sin_port))"
        }
    }

    private static func string(_ characters: [CChar]) -> String {
        String(decoding: characters.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        guard lhs.length == rhs.length else { return false }
        return withUnsafeBytes(of: lhs.storage) { l in
            withUnsafeBytes(of: rhs.storage) { r in memcmp(l.baseAddress!, r.baseAddress!, Int(lhs.length)) == 0 }
        }
    }

    /// Resolves `address` to UDP socket addresses with `getaddrinfo` (IPv4 and IPv6, in the
    /// system's preference order). **Blocks** (DNS): call only from the sender's own queue.
    static func resolve(_ address: StatsDAddress) -> Result<[SocketAddress], ResolveError> {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_DGRAM.rawValue)
        hints.ai_protocol = Int32(IPPROTO_UDP)
        // No AI_ADDRCONFIG: with only a loopback interface (a container without network) it makes
        // glibc drop 127.0.0.1/::1 and `localhost` fails. An unusable family fails at connect()
        // instead, and the sender moves on to the next address.
        hints.ai_flags = AI_NUMERICSERV | (address.isNumeric ? AI_NUMERICHOST : 0)
        var list: UnsafeMutablePointer<addrinfo>?
        var status: Int32
        repeat {
            status = getaddrinfo(address.host, String(address.port), &hints, &list)
        } while status == EAI_SYSTEM && errno == EINTR
        guard status == 0 else {
            let message = status == EAI_SYSTEM ? String(cString: strerror(errno)) : String(cString: gai_strerror(status))
            return .failure(ResolveError(description: message))
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
        if result.isEmpty { return .failure(ResolveError(description: "no IPv4 or IPv6 address")) }
        return .success(result)
    }
}

/// A failed name resolution.
struct ResolveError: Error, Sendable, Equatable, CustomStringConvertible {
    var description: String
}

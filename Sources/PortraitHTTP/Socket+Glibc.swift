import CLinuxShims
import Glibc

/// Thin wrappers over the socket calls the server makes; all sockets are close-on-exec and
/// non-blocking, and every call retries on EINTR.
enum Socket {
    /// Creates a listening socket bound to `host`:`port` (IPv6 sockets are IPv6-only) with
    /// SO_REUSEADDR, and returns it with the bound port.
    /// - Parameter label: the address as the user wrote it, for errors.
    static func listen(host: String, port: UInt16, label: String) throws(HTTPServerError) -> (fd: Int32, port: UInt16) {
        guard let family = ListenAddress.family(of: host) else {
            throw .invalidAddress(label, reason: "'\(host)' is not an IP address")
        }
        let fd = shim_socket_nonblocking(family, Int32(SOCK_STREAM.rawValue))
        guard fd >= 0 else { throw bindError(label, errno) }
        var ok = false
        defer { if !ok { _ = Glibc.close(fd) } }

        guard setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1) else { throw bindError(label, errno) }
        if family == AF_INET6 {
            guard setOption(fd, Int32(IPPROTO_IPV6), IPV6_V6ONLY, 1) else { throw bindError(label, errno) }
        }
        var storage = sockaddr_storage()
        let length = makeSocketAddress(host: host, family: family, port: port, into: &storage)
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.bind(fd, $0, length) }
        }
        guard bound == 0 else { throw bindError(label, errno) }
        guard Glibc.listen(fd, SOMAXCONN) == 0 else { throw bindError(label, errno) }
        guard let actual = localPort(fd) else { throw bindError(label, errno) }
        ok = true
        return (fd, actual)
    }

    private static func bindError(_ label: String, _ code: Int32) -> HTTPServerError {
        .bindFailed(address: label, errno: code, message: HTTPServerError.message(for: code))
    }

    /// Sets an integer socket option; false on failure (errno set).
    @discardableResult
    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32) -> Bool {
        var value = value
        return setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0
    }

    /// Disables Nagle's algorithm so a response goes out at once.
    static func setNoDelay(_ fd: Int32) {
        setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1)
    }

    /// Fills `storage` with the address of `host` (a literal of `family`) and `port`.
    static func makeSocketAddress(host: String, family: Int32, port: UInt16, into storage: inout sockaddr_storage) -> socklen_t {
        storage = sockaddr_storage()
        if family == AF_INET6 {
            return withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    address.pointee.sin6_family = sa_family_t(AF_INET6)
                    address.pointee.sin6_port = port.bigEndian
                    _ = inet_pton(AF_INET6, host, &address.pointee.sin6_addr)
                    return socklen_t(MemoryLayout<sockaddr_in6>.size)
                }
            }
        }
        return withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                address.pointee.sin_family = sa_family_t(AF_INET)
                address.pointee.sin_port = port.bigEndian
                _ = inet_pton(AF_INET, host, &address.pointee.sin_addr)
                return socklen_t(MemoryLayout<sockaddr_in>.size)
            }
        }
    }

    /// The local port of a bound socket.
    static func localPort(_ fd: Int32) -> UInt16? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        return describe(storage)?.port
    }

    /// The textual host (no brackets), port and loopback-ness of an IPv4 or IPv6 address.
    static func describe(_ storage: sockaddr_storage) -> (host: String, port: UInt16, isLoopback: Bool)? {
        var storage = storage
        return withUnsafePointer(to: &storage) { pointer -> (String, UInt16, Bool)? in
            switch Int32(pointer.pointee.ss_family) {
            case AF_INET:
                return pointer.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var sin = address.pointee.sin_addr
                    let host = ntop(AF_INET, &sin, capacity: Int(INET_ADDRSTRLEN))
                    let firstByte = UInt8(truncatingIfNeeded: UInt32(bigEndian: sin.s_addr) >> 24)
                    return (host, UInt16(bigEndian: address.pointee.sin_port), firstByte == 127)
                }
            case AF_INET6:
                return pointer.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var sin6 = address.pointee.sin6_addr
                    let host = ntop(AF_INET6, &sin6, capacity: Int(INET6_ADDRSTRLEN))
                    let bytes = withUnsafeBytes(of: &sin6) { Array($0) }
                    let isV6Loopback = bytes[0..<15].allSatisfy { $0 == 0 } && bytes[15] == 1
                    let isMappedLoopback = bytes[0..<10].allSatisfy { $0 == 0 }
                        && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
                    return (host, UInt16(bigEndian: address.pointee.sin6_port), isV6Loopback || isMappedLoopback)
                }
            default:
                return nil
            }
        }
    }

    private static func ntop(_ family: Int32, _ address: UnsafeRawPointer, capacity: Int) -> String {
        var text = [CChar](repeating: 0, count: capacity + 1)
        guard inet_ntop(family, address, &text, socklen_t(capacity)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `"1.2.3.4:5"` or `"[::1]:5"`.
    static func format(host: String, port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Closes a descriptor (EINTR is not retried: on Linux the descriptor is already gone).
    static func close(_ fd: Int32) {
        _ = Glibc.close(fd)
    }
}

/// Monotonic time in nanoseconds (CLOCK_MONOTONIC).
func monotonicNanoseconds() -> UInt64 {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
}

extension Duration {
    /// The duration in whole nanoseconds, clamped to 0 ... ~100 years.
    var clampedNanoseconds: UInt64 {
        let (seconds, attoseconds) = components
        if seconds < 0 || (seconds == 0 && attoseconds <= 0) { return 0 }
        if seconds >= 3_153_600_000 { return 3_153_600_000 * 1_000_000_000 }
        return UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000)
    }
}

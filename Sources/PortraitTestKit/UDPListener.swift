import Foundation
import Glibc
import Synchronization

/// A real UDP socket on loopback that collects datagrams on its own thread.
public final class UDPListener: Sendable {
    public let port: UInt16
    public let host: String
    private let fd: Int32
    private let received = Mutex<[[UInt8]]>([])
    private let stopped = Atomic<Bool>(false)
    private let finished = Mutex<Bool>(false)

    public struct SetupError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Binds `host` (`127.0.0.1` or `::1`) at `port` (0: any free port).
    public init(host: String = "127.0.0.1", port: UInt16 = 0) throws {
        let v6 = host.contains(":")
        let fd = socket(v6 ? AF_INET6 : AF_INET, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw SetupError(description: "socket: \(errno)") }
        var size: Int32 = 8 << 20
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        var status: Int32
        if v6 {
            var address = sockaddr_in6()
            address.sin6_family = sa_family_t(AF_INET6)
            address.sin6_port = port.bigEndian
            inet_pton(AF_INET6, host, &address.sin6_addr)
            status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) } }
        } else {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            inet_pton(AF_INET, host, &address.sin_addr)
            status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        }
        guard status == 0 else {
            let code = errno
            Glibc.close(fd)
            throw SetupError(description: "bind \(host):\(port): errno \(code)")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        let boundPort: UInt16 = withUnsafeBytes(of: storage) { raw in
            v6 ? UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port) : UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
        }
        self.fd = fd
        self.port = boundPort
        self.host = host
        let thread = Thread { [self] in self.receiveLoop() }
        thread.start()
    }

    /// Whether `::1` can be bound here.
    public static var ipv6Available: Bool {
        guard let listener = try? UDPListener(host: "::1") else { return false }
        listener.close()
        return true
    }

    /// `127.0.0.1:port` or `[::1]:port`.
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    private func receiveLoop() {
        var buffer = [UInt8](repeating: 0, count: 70_000)
        while !stopped.load(ordering: .relaxed) {
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 20)
            if ready <= 0 { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
            if n > 0 {
                let datagram = Array(buffer[..<n])
                received.withLock { $0.append(datagram) }
            }
        }
        Glibc.close(fd)
        finished.withLock { $0 = true }
    }

    /// Every datagram received so far.
    public var datagrams: [[UInt8]] { received.withLock { $0 } }

    /// Forgets what was received.
    public func reset() { received.withLock { $0.removeAll() } }

    /// Waits (real time) until at least `count` datagrams arrived; returns them.
    @discardableResult
    public func waitForDatagrams(_ count: Int, timeout: Duration = .seconds(30)) async -> [[UInt8]] {
        let clock = ContinuousClock()
        let end = clock.now.advanced(by: timeout)
        while clock.now < end {
            let current = datagrams
            if current.count >= count { return current }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return datagrams
    }

    /// Waits a little and returns whatever arrived (to check that nothing more comes).
    public func settle(_ duration: Duration = .milliseconds(150)) async -> [[UInt8]] {
        try? await Task.sleep(for: duration)
        return datagrams
    }

    /// Tells the receive thread to stop and close the socket, without waiting for it: for async
    /// code and `deinit`, which must not block a thread.
    public func stopReceiving() { stopped.store(true, ordering: .relaxed) }

    /// Stops the receive thread and closes the socket (waits briefly for the thread).
    public func close() {
        stopped.store(true, ordering: .relaxed)
        let end = Date().addingTimeInterval(2)
        while !finished.withLock({ $0 }), Date() < end { usleep(1000) }
    }

    deinit { stopped.store(true, ordering: .relaxed) }
}

import Glibc

/// A TCP socket (close-on-exec) bound to 127.0.0.1 on a port the kernel chose, and that port: for
/// a test's own listener (it calls `listen`), or to learn a free port (`freeLoopbackPort`).
public func boundLoopbackSocket() throws -> (fd: Int32, port: UInt16) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue | SOCK_CLOEXEC.rawValue), 0)
    guard fd >= 0 else { throw TestHTTPError.system("socket", errno) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = 0
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
        let code = errno
        close(fd)
        throw TestHTTPError.system("bind 127.0.0.1:0", code)
    }
    return (fd, UInt16(bigEndian: address.sin_port))
}

/// A TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released), for a
/// program a test starts that must be told its port up front (Prometheus's
/// `--web.listen-address`). Another process may take it in between: a server of this package
/// binds port 0 itself and reports what it got.
public func freeLoopbackPort() throws -> UInt16 {
    let (fd, port) = try boundLoopbackSocket()
    close(fd)
    return port
}

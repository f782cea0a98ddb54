@preconcurrency import Glibc
import Foundation
import PortraitCore

/// Streams lines to a TCP peer (Vector `socket` source in `tcp` mode with newline framing,
/// Fluent Bit `tcp` input with `format json`, Logstash `tcp` input with the `json_lines` codec).
///
/// Delivery rules (see `JSONLPlugin` for the guarantee as a whole):
/// - Before each batch (and on the idle check) the socket is polled: a peer that closed or
///   reset the connection is noticed before anything is written to it, and the sink reconnects.
/// - Sends use `MSG_NOSIGNAL`; EPIPE, ECONNRESET and every other send error close the
///   connection. A line cut short by a failure is written again, whole, on the next connection
///   (the fragment left on the dead connection has no newline, so collectors discard it).
/// - Lines written on a connection are kept until the peer's TCP has acknowledged them
///   (`SIOCOUTQ`); when the connection fails they are written again on the next one, and the
///   old connection is reset so that it does not deliver them late as well. A peer that read
///   everything before closing (a clean restart) therefore gets every line exactly once; a
///   connection that fails abruptly may leave some lines delivered twice (at least once).
/// - A peer that accepts no byte for `stallTimeout` is treated as dead (the connection is
///   reset; lines it had not acknowledged are written again on the next connection).
final class TCPSink: OutputSink, @unchecked Sendable {
    let host: String
    let port: UInt16
    let description: String
    private let logger: Logger
    private let connectTimeout: Duration
    private let stallTimeout: Duration

    private var fd: Int32 = -1
    /// Bytes handed to the kernel on the current connection.
    private var sent: UInt64 = 0
    /// Lines written on this connection that the peer had not acknowledged at the last check,
    /// oldest first, each with the connection offset just past it.
    private var unacknowledged: [(line: [UInt8], end: UInt64)] = []
    private var unacknowledgedHead = 0

    init(host: String, port: UInt16, logger: Logger, connectTimeout: Duration, stallTimeout: Duration) {
        self.host = host
        self.port = port
        self.description = "tcp \(TCPSink.format(host: host, port: port))"
        self.logger = logger
        self.connectTimeout = connectTimeout
        self.stallTimeout = stallTimeout
    }

    var isConnectionOriented: Bool { true }
    var isOpen: Bool { fd >= 0 }

    /// Lines kept for a possible resend.
    var unacknowledgedCount: Int { unacknowledged.count - unacknowledgedHead }

    func prepare(idle: Bool) -> OutputProgress {
        var progress = OutputProgress()
        if fd >= 0 {
            switch checkPeer() {
            case .alive:
                releaseAcknowledged()
                return progress
            case .closed:
                // A FIN with nothing reset: the send queue is intact, so SIOCOUTQ is exact.
                progress.resend = dropConnection(measure: true)
                logger.info("jsonl tcp peer closed the connection; reconnecting", ["address": address])
            case .failed(let code):
                progress.resend = dropConnection(measure: false)
                logger.info("jsonl tcp connection failed; reconnecting", ["address": address, "error": Posix.message(code)])
            }
        }
        if let error = connect() { progress.error = error } else { progress.opened = true }
        return progress
    }

    func write(_ batch: Batch, budget: Duration) -> OutputProgress {
        guard fd >= 0 else {
            return OutputProgress(error: OutputError("send to \(address)", code: ENOTCONN))
        }
        let (bytes, ends) = batch.flattened()
        let outcome = DescriptorWriter(fd: fd, call: .send, stallTimeout: stallTimeout).write(bytes, ends: ends, budget: budget)
        for i in 0..<outcome.lines {
            unacknowledged.append((batch.records[i], sent &+ UInt64(ends[i])))
        }
        sent &+= UInt64(outcome.position)
        var progress = OutputProgress(written: outcome.lines, bytes: outcome.lineBytes)
        if let code = outcome.error {
            progress.error = outcome.stalled
                ? OutputError("send to \(address)", code: 0, detail: "the peer accepted no byte for \(stallTimeout)")
                : OutputError("send to \(address)", code: code)
            // A stalled connection is still intact, so SIOCOUTQ is exact; after a reset it is not.
            progress.resend = dropConnection(measure: outcome.stalled, cutLine: outcome.position > outcome.lineBytes)
        } else {
            releaseAcknowledged()
        }
        return progress
    }

    func reopen() -> Bool {
        // Nothing to reopen: a connection is re-established when it fails.
        false
    }

    /// Closes the connection after giving the peer up to a second to acknowledge what was written.
    func close() {
        guard fd >= 0 else { return }
        let end = Posix.monotonicNanoseconds() &+ 1_000_000_000
        while let queued = outgoingQueueBytes(), queued > 0, Posix.monotonicNanoseconds() < end {
            usleep(2_000)
        }
        drainIncoming()
        _ = shutdown(fd, Int32(SHUT_WR))
        _ = Glibc.close(fd)
        fd = -1
        sent = 0
        unacknowledged.removeAll()
        unacknowledgedHead = 0
    }

    private var address: String { TCPSink.format(host: host, port: port) }

    // MARK: Connection state

    private enum PeerState {
        case alive
        case closed
        case failed(Int32)
    }

    /// Whether the peer is still there, without blocking. Data the peer sent is read and ignored.
    private func checkPeer() -> PeerState {
        let revents = Posix.poll(fd, events: Int16(POLLIN) | Posix.pollReadHangUp, timeoutMilliseconds: 0)
        if revents < 0 { return .failed(errno) }
        if revents == 0 { return .alive }
        if revents & Int32(POLLERR | POLLNVAL | POLLHUP) != 0 {
            let code = socketError()
            return .failed(code == 0 ? ECONNRESET : code)
        }
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 { continue }
            if n == 0 { return .closed }
            if errno == EINTR { continue }
            if errno == EAGAIN || errno == EWOULDBLOCK { return .alive }
            return .failed(errno)
        }
        return .alive
    }

    /// Closes the socket and returns the lines to write again. With `measure`, lines the peer
    /// acknowledged are released first (only valid while the send queue is intact).
    ///
    /// When anything will be written again (or a line was cut short), the connection is reset
    /// (`SO_LINGER` 0) rather than closed: the kernel then discards what the peer has not
    /// acknowledged instead of delivering it after the fact, so the resend does not duplicate it.
    /// What the peer's kernel already holds stays readable for the peer.
    private func dropConnection(measure: Bool, cutLine: Bool = false) -> [[UInt8]] {
        if measure { releaseAcknowledged() }
        let resend = unacknowledged[unacknowledgedHead...].map(\.line)
        unacknowledged.removeAll()
        unacknowledgedHead = 0
        if fd >= 0 {
            if !resend.isEmpty || cutLine {
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
            }
            _ = Glibc.close(fd)
        }
        fd = -1
        sent = 0
        return resend
    }

    /// Drops kept lines that the peer's TCP has acknowledged.
    private func releaseAcknowledged() {
        guard unacknowledgedCount > 0, let queued = outgoingQueueBytes() else { return }
        let acknowledged = sent >= queued ? sent - queued : 0
        while unacknowledgedHead < unacknowledged.count && unacknowledged[unacknowledgedHead].end <= acknowledged {
            unacknowledgedHead += 1
        }
        if unacknowledgedHead == unacknowledged.count {
            unacknowledged.removeAll(keepingCapacity: true)
            unacknowledgedHead = 0
        } else if unacknowledgedHead > 1024 && unacknowledgedHead * 2 > unacknowledged.count {
            unacknowledged.removeFirst(unacknowledgedHead)
            unacknowledgedHead = 0
        }
    }

    /// Bytes in the socket's send queue not yet acknowledged by the peer (`SIOCOUTQ`).
    private func outgoingQueueBytes() -> UInt64? {
        var queued: Int32 = 0
        guard ioctl(fd, UInt(TIOCOUTQ), &queued) == 0, queued >= 0 else { return nil }
        return UInt64(queued)
    }

    private func socketError() -> Int32 {
        var code: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &code, &length) == 0 else { return errno }
        return code
    }

    private func drainIncoming() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        for _ in 0..<16 {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n > 0 || (n < 0 && errno == EINTR) { continue }
            return
        }
    }

    // MARK: Connecting

    /// Resolves the host (every time, so DNS changes are followed) and connects to the first
    /// address that answers within `connectTimeout`.
    private func connect() -> OutputError? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            if status == EAI_SYSTEM { return OutputError("resolve \(host)", code: errno) }
            let text = gai_strerror(status).map { String(cString: $0) } ?? "error \(status)"
            return OutputError("resolve \(host)", code: 0, detail: text)
        }
        defer { freeaddrinfo(list) }
        var lastError = OutputError("connect to \(address)", code: EADDRNOTAVAIL)
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            entry = current.pointee.ai_next
            let socketType = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
            let candidate = socket(current.pointee.ai_family, socketType, current.pointee.ai_protocol)
            guard candidate >= 0 else {
                lastError = OutputError("connect to \(address)", code: errno)
                continue
            }
            if let code = connect(candidate, current.pointee.ai_addr, current.pointee.ai_addrlen) {
                _ = Glibc.close(candidate)
                lastError = code == ETIMEDOUT
                    ? OutputError("connect to \(address)", code: 0, detail: "no answer within \(connectTimeout)")
                    : OutputError("connect to \(address)", code: code)
                continue
            }
            if Self.isConnectedToItself(candidate) {
                // With nobody listening on a local port in the ephemeral range, a connect can
                // pick that very port as its source and "succeed" (TCP simultaneous open).
                _ = Glibc.close(candidate)
                lastError = OutputError("connect to \(address)", code: ECONNREFUSED)
                continue
            }
            setOption(candidate, SOL_SOCKET, SO_KEEPALIVE, 1)
            setOption(candidate, Int32(IPPROTO_TCP), TCP_KEEPIDLE, 30)
            setOption(candidate, Int32(IPPROTO_TCP), TCP_KEEPINTVL, 10)
            setOption(candidate, Int32(IPPROTO_TCP), TCP_KEEPCNT, 3)
            fd = candidate
            sent = 0
            logger.info("jsonl tcp connected", ["address": address])
            return nil
        }
        return lastError
    }

    /// Non-blocking connect bounded by `connectTimeout`; nil on success, else the errno.
    private func connect(_ candidate: Int32, _ address: UnsafeMutablePointer<sockaddr>?, _ length: socklen_t) -> Int32? {
        if Glibc.connect(candidate, address, length) == 0 { return nil }
        guard errno == EINPROGRESS || errno == EINTR else { return errno }
        let revents = Posix.poll(candidate, events: Int16(POLLOUT), timeoutMilliseconds: connectTimeout.clampedMilliseconds)
        if revents < 0 { return errno }
        if revents == 0 { return ETIMEDOUT }
        var code: Int32 = 0
        var size = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(candidate, SOL_SOCKET, SO_ERROR, &code, &size) == 0 else { return errno }
        return code == 0 ? nil : code
    }

    /// Whether the socket's local and peer addresses are the same.
    static func isConnectedToItself(_ socket: Int32) -> Bool {
        var local = sockaddr_storage()
        var peer = sockaddr_storage()
        var localLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        var peerLength = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let gotLocal = withUnsafeMutablePointer(to: &local) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &localLength) }
        }
        let gotPeer = withUnsafeMutablePointer(to: &peer) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(socket, $0, &peerLength) }
        }
        guard gotLocal == 0, gotPeer == 0, localLength == peerLength else { return false }
        return withUnsafeBytes(of: &local) { a in
            withUnsafeBytes(of: &peer) { b in a.prefix(Int(localLength)).elementsEqual(b.prefix(Int(peerLength))) }
        }
    }

    private func setOption(_ socket: Int32, _ level: Int32, _ name: Int32, _ value: Int32) {
        var value = value
        _ = setsockopt(socket, level, name, &value, socklen_t(MemoryLayout<Int32>.size))
    }

    /// `host:port`, with brackets around an IPv6 literal.
    static func format(host: String, port: UInt16) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses `host:port`, `[ipv6]:port` or `ipv4:port`. Returns the host (without brackets) and
    /// port, or a message saying what is wrong.
    static func parse(address text: String) -> Result<(host: String, port: UInt16), AddressError> {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return .failure(AddressError("an IPv6 address needs a closing \"]\"")) }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return .failure(AddressError("must end with \":port\"")) }
            portText = rest.dropFirst()
            guard host.contains(":") else { return .failure(AddressError("brackets are only for IPv6 addresses")) }
            var probe = in6_addr()
            // A zone (`fe80::1%eth0`) is left to getaddrinfo.
            let literal = host.split(separator: "%", maxSplits: 1, omittingEmptySubsequences: false)[0]
            guard inet_pton(AF_INET6, String(literal), &probe) == 1 else {
                return .failure(AddressError("\"\(host)\" is not an IPv6 address"))
            }
        } else {
            guard let colon = text.lastIndex(of: ":") else { return .failure(AddressError("must be \"host:port\"")) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            if host.contains(":") { return .failure(AddressError("write an IPv6 address in brackets, e.g. \"[::1]:9000\"")) }
            guard !host.isEmpty else { return .failure(AddressError("the host is missing (e.g. \"127.0.0.1:9000\")")) }
            guard host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "." || $0 == "-" || $0 == "_") }) else {
                return .failure(AddressError("\"\(host)\" is not a host name or IP address"))
            }
        }
        guard let port = UInt16(portText), port > 0 else {
            return .failure(AddressError("the port must be 1…65535"))
        }
        return .success((String(host), port))
    }

    /// Why a TCP address does not parse.
    struct AddressError: Error {
        var message: String
        init(_ message: String) { self.message = message }
    }
}

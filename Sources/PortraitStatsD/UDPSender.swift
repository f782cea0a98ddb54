import Dispatch
import Foundation
import Glibc
import PortraitCore
import Synchronization

/// Sends prepared datagrams to one StatsD target. Every system call that can block — `getaddrinfo`
/// above all — runs on the sender's own serial dispatch queue, never on Swift's cooperative pool;
/// `flush` only records the datagrams and returns.
///
/// - **Latest wins**: if a flush is still waiting when the next one arrives (the queue is stuck in
///   a slow DNS lookup), the older one is dropped and counted as superseded.
/// - **Resolution**: the host is resolved when the plugin starts (in the background) and again at
///   the first flush after `resolveInterval` has passed since the last attempt (`nil`: never
///   again); a failure keeps the previous addresses, and while none is known every flush tries
///   once more. IP literals are never looked up. All
///   addresses are kept; when the current one refuses (ECONNREFUSED), the next flush uses the next
///   address (e.g. `localhost` → `::1` refused → `127.0.0.1`).
/// - **Sending**: a non-blocking, connected UDP socket (so the kernel reports ICMP port-unreachable
///   as ECONNREFUSED on a later send), `MSG_NOSIGNAL`, EINTR retried. An ECONNREFUSED belongs to an
///   earlier datagram, so the datagram is retried once. EAGAIN waits up to 100 ms for room, once.
///   A datagram that still fails is counted in `send_errors_total` and skipped.
/// - **Logging**: one line per change of state (resolution or sending starts failing, fails
///   differently, or works again), never one per datagram.
final class UDPSender: Sendable {
    let address: StatsDAddress
    private let resolveInterval: Duration?
    private let resolver: StatsDResolver
    private let time: any TimeSource
    private let logger: Logger
    private let counters: StatsDCounters
    private let queue: DispatchQueue

    private struct Pending {
        var datagrams: [Datagram]?
        var scheduled = false
        var closed = false
    }
    private let pending = Mutex(Pending())

    /// Socket state; touched only on `queue` (the lock is never contended).
    private struct Link {
        var addresses: [SocketAddress] = []
        var current = 0
        var lastResolveAttempt: Date?
        var socket: Int32 = -1
        var connectedTo: SocketAddress?
        var resolveHealth = Health.unknown
        var sendHealth = Health.unknown
    }
    private let link = Mutex(Link())

    enum Health: Equatable {
        case unknown, ok
        case failing(String)
    }

    init(address: StatsDAddress, resolveInterval: Duration?, resolver: StatsDResolver, time: any TimeSource, logger: Logger,
         counters: StatsDCounters, label: String) {
        self.address = address
        self.resolveInterval = resolveInterval
        self.resolver = resolver
        self.time = time
        self.logger = logger
        self.counters = counters
        queue = DispatchQueue(label: "wechat-portrait-exporter.\(label)")
    }

    /// Hands `datagrams` to the sender's queue and returns at once. A flush not yet sent is
    /// replaced (latest wins, counted as superseded) — by `fullSet` when given: `datagrams` may
    /// then hold only the changed part of the state, and since the waiting flush never went out,
    /// the full set of the newer state is what covers both.
    func flush(_ datagrams: [Datagram], fullSet: [Datagram]? = nil) {
        let schedule = pending.withLock { state -> Bool in
            guard !state.closed else { return false }
            counters.flushes.add(1)
            if state.datagrams != nil {
                counters.supersededFlushes.add(1)
                state.datagrams = fullSet ?? datagrams
            } else {
                state.datagrams = datagrams
            }
            if state.scheduled { return false }
            state.scheduled = true
            return true
        }
        if schedule { queue.async { self.drain() } }
    }

    /// Starts resolving the host in the background (so a bad name is logged at startup).
    func prepare() {
        queue.async { self.link.withLock { link in _ = self.ensureAddress(&link) } }
    }

    /// Stops accepting flushes, lets the queue send what is pending and close the socket. Waits at
    /// most `timeout` (the queue may be inside a slow DNS lookup; it closes the socket when done).
    func shutdown(timeout: Duration) async {
        pending.withLock { $0.closed = true }
        let done = Mutex(false)
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            @Sendable func finish() {
                let first = done.withLock { finished -> Bool in
                    defer { finished = true }
                    return !finished
                }
                if first { continuation.resume() }
            }
            queue.async {
                self.link.withLock { link in Self.closeSocket(&link) }
                finish()
            }
            let deadline = DispatchTime.now() + .milliseconds(Int(timeout.seconds * 1000))
            DispatchQueue.global().asyncAfter(deadline: deadline) { finish() }
        }
    }

    // MARK: On the queue

    private func drain() {
        while true {
            let next = pending.withLock { state -> [Datagram]? in
                guard let datagrams = state.datagrams else {
                    state.scheduled = false
                    return nil
                }
                state.datagrams = nil
                return datagrams
            }
            guard let datagrams = next else { return }
            link.withLock { link in send(datagrams, link: &link) }
        }
    }

    private func send(_ datagrams: [Datagram], link: inout Link) {
        guard !datagrams.isEmpty else { return }
        guard ensureAddress(&link), ensureSocket(&link) else {
            counters.sendErrors.add(datagrams.count)
            return
        }
        var failures = 0
        var refused = false
        var lastError: Int32 = 0
        for datagram in datagrams {
            var error = Self.send(datagram.bytes, on: link.socket)
            if error == ECONNREFUSED {
                // Reports an ICMP port-unreachable for an earlier datagram; this one was not sent.
                refused = true
                failures += 1
                lastError = error
                counters.sendErrors.add(1)
                error = Self.send(datagram.bytes, on: link.socket)
            }
            if error == 0 {
                counters.packets.add(1)
                counters.lines.add(datagram.lines)
                counters.bytes.add(datagram.bytes.count)
            } else {
                failures += 1
                lastError = error
                counters.sendErrors.add(1)
            }
        }
        let target = link.connectedTo?.description ?? "?"
        if failures == 0 {
            if case .failing = link.sendHealth {
                logger.info("StatsD target accepts datagrams again", ["address": address.description, "target": target])
            }
            link.sendHealth = .ok
        } else {
            let message = String(cString: strerror(lastError))
            if link.sendHealth != .failing(message) {
                logger.warning("cannot send to StatsD target; counting errors and retrying on the next flush",
                               ["address": address.description, "target": target, "error": message])
            }
            link.sendHealth = .failing(message)
        }
        if refused, link.addresses.count > 1 {
            // Another address of the host may be the one listening (e.g. IPv4 vs IPv6 localhost).
            link.current = (link.current + 1) % link.addresses.count
        }
    }

    /// Resolves when needed; returns whether an address is known.
    private func ensureAddress(_ link: inout Link) -> Bool {
        let now = time.now()
        var due = link.addresses.isEmpty
        if !due, let interval = resolveInterval, !address.isNumeric, let last = link.lastResolveAttempt {
            due = now.timeIntervalSince(last) >= interval.seconds
        }
        guard due else { return true }
        link.lastResolveAttempt = now
        switch resolve() {
        case .success(let addresses):
            logger.debug("resolved StatsD host", ["address": address.description, "resolved": addresses.map(\.description).joined(separator: " ")])
            if link.resolveHealth != .ok {
                if case .failing = link.resolveHealth {
                    logger.info("StatsD host resolves again", ["address": address.description, "resolved": addresses.map(\.description).joined(separator: " ")])
                }
                link.resolveHealth = .ok
            }
            if addresses != link.addresses {
                link.addresses = addresses
                link.current = 0
            }
        case .failure(let error):
            counters.resolveErrors.add(1)
            if link.resolveHealth != .failing(error.description) {
                logger.warning(link.addresses.isEmpty ? "cannot resolve StatsD host; nothing is sent until it resolves"
                                                      : "cannot resolve StatsD host; keeping the previous address",
                               ["address": address.description, "error": error.description])
                link.resolveHealth = .failing(error.description)
            }
        }
        return !link.addresses.isEmpty
    }

    /// The socket addresses of the target: IP literals directly, host names through `resolver`.
    private func resolve() -> Result<[SocketAddress], StatsDResolver.Failure> {
        if address.isNumeric { return SocketAddress.lookup(host: address.host, port: address.port, numericOnly: true) }
        let hosts: [String]
        do throws(StatsDResolver.Failure) {
            hosts = try resolver.resolve(address.host)
        } catch {
            return .failure(error)
        }
        var addresses: [SocketAddress] = []
        for host in hosts {
            if case .success(let found) = SocketAddress.lookup(host: host, port: address.port, numericOnly: true) {
                for candidate in found where !addresses.contains(candidate) { addresses.append(candidate) }
            }
        }
        if addresses.isEmpty { return .failure(StatsDResolver.Failure("no usable IPv4 or IPv6 address")) }
        return .success(addresses)
    }

    /// Opens and connects a socket to the current address if not already.
    private func ensureSocket(_ link: inout Link) -> Bool {
        let target = link.addresses[min(link.current, link.addresses.count - 1)]
        if link.socket >= 0, link.connectedTo == target { return true }
        Self.closeSocket(&link)
        let fd = socket(target.family, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            noteSocketFailure(&link, "socket", errno)
            return false
        }
        let status = target.withSockaddr { pointer, length in
            var result: Int32
            repeat { result = connect(fd, pointer, length) } while result < 0 && errno == EINTR
            return result
        }
        guard status == 0 else {
            let code = errno
            close(fd)
            noteSocketFailure(&link, "connect to \(target)", code)
            return false
        }
        link.socket = fd
        link.connectedTo = target
        return true
    }

    private func noteSocketFailure(_ link: inout Link, _ operation: String, _ code: Int32) {
        let message = "\(operation): \(String(cString: strerror(code)))"
        if link.sendHealth != .failing(message) {
            logger.warning("cannot open a UDP socket to the StatsD target", ["address": address.description, "error": message])
        }
        link.sendHealth = .failing(message)
        if link.addresses.count > 1 { link.current = (link.current + 1) % link.addresses.count }
    }

    private static func closeSocket(_ link: inout Link) {
        if link.socket >= 0 { close(link.socket) }
        link.socket = -1
        link.connectedTo = nil
    }

    /// One `send`; returns 0 or the error number. Retries EINTR; on EAGAIN waits up to 100 ms once.
    private static func send(_ bytes: [UInt8], on fd: Int32) -> Int32 {
        var waited = false
        while true {
            let sent = bytes.withUnsafeBytes { raw in Glibc.send(fd, raw.baseAddress, raw.count, Int32(MSG_NOSIGNAL)) }
            if sent >= 0 { return 0 }
            let code = errno
            switch code {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                if waited { return code }
                waited = true
                var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
                var ready: Int32
                repeat { ready = poll(&descriptor, 1, 100) } while ready < 0 && errno == EINTR
            default:
                return code
            }
        }
    }
}

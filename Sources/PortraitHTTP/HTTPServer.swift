import Glibc
import Synchronization

/// A small, hardened HTTP/1.1 server on non-blocking POSIX sockets, driven by epoll on its own
/// threads (never on Swift's cooperative pool).
///
/// - Threads: ``HTTPServerConfiguration/eventLoopThreads`` loops, each a pthread with its own
///   epoll instance. All loops register the shared listening sockets with `EPOLLEXCLUSIVE`, so
///   the kernel wakes one idle loop per new connection; that loop accepts (at most 16 per
///   wake-up) and gives each connection to the least-loaded loop, which serves it to its end.
/// - Writes: status line, headers and body go out with one `sendmsg` (a `writev` with
///   `MSG_NOSIGNAL`, so a vanished client never raises SIGPIPE; the process's signal
///   dispositions are left alone). A partial write continues on EPOLLOUT. `TCP_NODELAY` is set
///   on every accepted socket; every descriptor is close-on-exec.
/// - Connections: keep-alive for HTTP/1.1 unless `Connection: close`; HTTP/1.0 closes after
///   every response; pipelined requests are answered in order, one at a time. `HEAD` reaches
///   the handler as `GET` and the body is dropped (the GET's `Content-Length` is kept).
///   `Expect: 100-continue` gets an interim `100 Continue` when the body has not arrived yet.
/// - Limits: see ``HTTPServerConfiguration``. At `maxConnections` a new connection evicts the
///   longest-idle connection without a request in progress; only when all are busy does it get
///   a best-effort 503 and close. `accept` failures such as EMFILE pause accepting for 100 ms.
/// - Closing: after the last response the server shuts down its sending side and discards
///   input until the client closes (at most 2 s), so a client still sending never gets a reset
///   in place of its response.
public final class HTTPServer: Sendable {
    /// The configuration the server was created with.
    public let configuration: HTTPServerConfiguration
    private let handler: any HTTPHandler
    private let settings: LoopSettings
    private let shared = ServerShared()
    private let counters: [LoopCounters]
    private let lifecycle = Mutex<Lifecycle>(.idle)
    private let bound = Mutex<[ListenAddress]>([])
    /// Loop thread ids, to detect `stop()` called from a handler.
    private let loopThreads = Mutex<[pthread_t]>([])
    /// Callers of `run()` waiting for the stop; nil once stopped.
    private let stopWaiters = Mutex<[CheckedContinuation<Void, Never>]?>([])

    private enum Lifecycle {
        case idle
        case running(loops: [EventLoop], threads: [pthread_t], listeners: [Int32])
        case stopped
    }

    /// Creates a server; nothing is bound until ``start()``.
    public init(configuration: HTTPServerConfiguration, handler: any HTTPHandler) {
        self.configuration = configuration
        self.handler = handler
        self.settings = LoopSettings(configuration)
        self.counters = (0..<max(1, configuration.eventLoopThreads)).map { _ in LoopCounters() }
    }

    deinit {
        // Never lets `self` escape: on a loop thread (the last reference dropped by a handler)
        // it only asks the loops to stop; they exit on their own.
        if isOnLoopThread {
            lifecycle.withLock { state in
                if case let .running(loops, threads, _) = state {
                    loops.forEach { $0.requestStop() }
                    threads.forEach { pthread_detach($0) }
                }
                state = .stopped
            }
        } else {
            stopAndJoin()
        }
    }

    /// Binds every listen address and starts the loop threads; returns once the sockets listen
    /// (connections made from then on are queued and served).
    /// - Throws: ``HTTPServerError/bindFailed(address:errno:message:)`` naming the address that
    ///   could not be bound, ``HTTPServerError/invalidAddress(_:reason:)``,
    ///   ``HTTPServerError/systemCall(_:errno:)``, or ``HTTPServerError/invalidState(_:)`` when
    ///   called twice. Nothing stays bound after a failure.
    public func start() throws(HTTPServerError) {
        try lifecycle.withLock { (state: inout Lifecycle) throws(HTTPServerError) in
            guard case .idle = state else {
                throw .invalidState("HTTPServer.start(): a server starts once")
            }
            guard !configuration.listen.isEmpty else {
                throw .invalidAddress("", reason: "no listen address configured")
            }
            var listeners: [Int32] = []
            var loops: [EventLoop] = []
            var threads: [pthread_t] = []
            var succeeded = false
            defer {
                if !succeeded {
                    for loop in loops { loop.requestStop() }
                    for thread in threads { pthread_join(thread, nil) }
                    for loop in loops { loop.peers = [] }
                    for fd in listeners { Socket.close(fd) }
                }
            }
            var addresses: [ListenAddress] = []
            for address in configuration.listen {
                for (fd, actual) in try Self.bind(address) {
                    listeners.append(fd)
                    addresses.append(actual)
                }
            }
            for index in counters.indices {
                loops.append(try EventLoop(index: index, listeners: listeners, settings: settings, handler: handler,
                                           counters: counters[index], shared: shared))
            }
            for loop in loops {
                loop.peers = loops
            }
            for loop in loops {
                threads.append(try PThread.spawn(name: "http-loop-\(loop.index)") { loop.run() })
            }
            loopThreads.withLock { $0 = threads }
            bound.withLock { $0 = addresses }
            state = .running(loops: loops, threads: threads, listeners: listeners)
            succeeded = true
        }
    }

    /// Binds one configured address; `":port"` becomes an IPv4 and (when available) an IPv6
    /// socket on the same port.
    private static func bind(_ address: ListenAddress) throws(HTTPServerError) -> [(Int32, ListenAddress)] {
        let label = address.description
        guard address.host.isEmpty else {
            let (fd, port) = try Socket.listen(host: address.host, port: address.port, label: label)
            return [(fd, ListenAddress(unchecked: address.host, port: port))]
        }
        let (fd4, port) = try Socket.listen(host: "0.0.0.0", port: address.port, label: label)
        var result = [(fd4, ListenAddress(unchecked: "0.0.0.0", port: port))]
        do {
            let (fd6, port6) = try Socket.listen(host: "::", port: port, label: label)
            result.append((fd6, ListenAddress(unchecked: "::", port: port6)))
        } catch {
            if case let .bindFailed(_, code, _) = error, code == EAFNOSUPPORT || code == EADDRNOTAVAIL {
                return result // no IPv6 on this machine
            }
            Socket.close(fd4)
            throw error
        }
        return result
    }

    /// The addresses actually listened on, with port 0 resolved; empty before ``start()``.
    public var boundAddresses: [ListenAddress] {
        bound.withLock { $0 }
    }

    /// A snapshot of the counters (cheap: relaxed atomic loads).
    public func stats() -> HTTPServerStats {
        var stats = HTTPServerStats()
        for loopCounters in counters {
            loopCounters.accumulate(into: &stats)
        }
        stats.connectionsOpen = shared.openConnections.load(ordering: .relaxed)
        return stats
    }

    /// Stops accepting, lets responses in flight finish for up to
    /// ``HTTPServerConfiguration/shutdownGrace``, closes every connection and listening socket
    /// and joins the loop threads. Idempotent; concurrent callers all return after the threads
    /// are joined.
    ///
    /// Blocks the calling thread (for at most about the grace period): from async code use
    /// ``shutdown()``. Called from a handler (on a loop thread), it starts the shutdown on
    /// another thread and returns at once.
    public func stop() {
        if isOnLoopThread {
            if (try? PThread.spawn(name: "http-stop", detached: true, { self.stop() })) == nil {
                lifecycle.withLock { state in
                    if case let .running(loops, _, _) = state { loops.forEach { $0.requestStop() } }
                }
            }
            return
        }
        stopAndJoin()
    }

    private var isOnLoopThread: Bool {
        loopThreads.withLock { threads in
            threads.contains { pthread_equal($0, pthread_self()) != 0 }
        }
    }

    private func stopAndJoin() {
        lifecycle.withLock { state in
            guard case let .running(loops, threads, listeners) = state else {
                state = .stopped
                return
            }
            for loop in loops { loop.requestStop() }
            for thread in threads { pthread_join(thread, nil) }
            for loop in loops { loop.closeInbox() }
            for fd in listeners { Socket.close(fd) }
            loopThreads.withLock { $0 = [] }
            state = .stopped
        }
        let waiting = stopWaiters.withLock { waiters in
            defer { waiters = nil }
            return waiters ?? []
        }
        waiting.forEach { $0.resume() }
    }

    /// Starts the server (unless it is already running) and returns once it has stopped: when
    /// someone calls ``stop()``/``shutdown()``, or when the calling task is cancelled, which
    /// stops the server gracefully. Fits a service-lifecycle `run()`.
    /// - Throws: what ``start()`` throws; returns at once for a server that was stopped.
    public func run() async throws(HTTPServerError) {
        let idle = lifecycle.withLock { state in
            if case .idle = state { return true }
            return false
        }
        if idle { try start() }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let registered = stopWaiters.withLock { waiters in
                    guard waiters != nil else { return false }
                    waiters?.append(continuation)
                    return true
                }
                if !registered { continuation.resume() }
            }
        } onCancel: {
            // May run on the cooperative pool: stop on a thread of its own.
            if (try? PThread.spawn(name: "http-stop", detached: true, { self.stop() })) == nil {
                stop()
            }
        }
    }

    /// ``stop()`` for async callers: runs it on a dedicated thread, so the cooperative pool is
    /// never blocked, and returns when it is done.
    public func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let spawned = (try? PThread.spawn(name: "http-stop", detached: true) {
                self.stop()
                continuation.resume()
            }) != nil
            if !spawned {
                stop()
                continuation.resume()
            }
        }
    }
}

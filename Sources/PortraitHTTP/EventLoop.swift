import CLinuxShims
import Glibc
import Synchronization

/// Limits and timeouts in the units the loop uses (bytes, monotonic nanoseconds).
struct LoopSettings: Sendable {
    var maxHeaderBytes: Int
    var maxBodyBytes: Int
    var maxHeaderCount: Int
    var maxConnections: Int
    /// Time to receive one whole request from its first byte.
    var requestTimeout: UInt64
    /// Keep-alive silence, stalled writes and `hang` responses.
    var idleTimeout: UInt64
    /// Silence allowed before the first byte on a new connection: min(idle, request timeout).
    var firstByteTimeout: UInt64
    var shutdownGrace: UInt64
    /// How long a closing connection drains unread input before it is closed anyway.
    var lingerTimeout: UInt64
    /// How much unread input a closing connection discards before it is closed anyway.
    var lingerBytes: Int = 1 << 20
    /// How long accepting pauses after EMFILE, ENFILE, ENOBUFS or ENOMEM.
    var acceptPause: UInt64 = 100_000_000
    /// Connections accepted per readiness event of a listener, to share them among loops.
    var acceptBatch: Int = 16
    var serverName: String?

    init(_ configuration: HTTPServerConfiguration) {
        maxHeaderBytes = max(64, configuration.maxHeaderBytes)
        maxBodyBytes = max(0, configuration.maxBodyBytes)
        maxHeaderCount = max(1, configuration.maxHeaderCount)
        maxConnections = max(1, configuration.maxConnections)
        requestTimeout = max(1_000_000, configuration.headerReadTimeout.clampedNanoseconds)
        idleTimeout = max(1_000_000, configuration.idleTimeout.clampedNanoseconds)
        firstByteTimeout = min(requestTimeout, idleTimeout)
        shutdownGrace = configuration.shutdownGrace.clampedNanoseconds
        lingerTimeout = min(2_000_000_000, idleTimeout)
        serverName = configuration.serverName
    }
}

/// State shared by all loops of one server.
final class ServerShared: Sendable {
    /// Connections open across all loops (for `maxConnections`).
    let openConnections = Atomic<Int>(0)
}

/// One event loop: an epoll instance driven by its own thread, an eventfd to wake it, the
/// shared listening sockets (registered with `EPOLLEXCLUSIVE`, so one waiting loop is woken per
/// new connection), and the connections it owns.
///
/// Balancing: the loop that accepts a connection gives it to the least-loaded loop (by open
/// connections, itself on a tie); another loop receives it through its inbox and eventfd. So a
/// burst of connections accepted by one loop is still spread evenly.
///
/// At the cap: a connection accepted while `maxConnections` are open makes room by closing an
/// idle one (see ``evictionCandidate()``). Each loop only closes its own connections, so the new
/// connection travels the ring of loops, starting with the one that accepted it, until one of
/// them evicts; when none can (every connection is busy), it is rejected with a 503.
///
/// Everything but ``requestStop()``, ``handOff(_:peer:)`` and the `load` counter runs on the
/// loop's thread; that is why the class is `@unchecked Sendable`: it is handed to its thread
/// once and only the atomics, the inbox (a mutex) and the eventfd are touched from elsewhere.
final class EventLoop: @unchecked Sendable {
    let index: Int
    let epoll: Int32
    let wakeFD: Int32
    let listeners: [Int32]
    let settings: LoopSettings
    let handler: any HTTPHandler
    let counters: LoopCounters
    let shared: ServerShared
    private let stopRequested = Atomic<Bool>(false)
    /// Connections this loop owns or is being handed; read by other loops to balance.
    let load = Atomic<Int>(0)
    /// Accepted sockets handed over by another loop.
    private let inbox = Mutex<[HandOff]>([])
    /// Every loop of the server, this one included. Set once before the threads start, read
    /// only by this loop's thread, cleared when the loop exits (a reference cycle until then).
    var peers: [EventLoop] = []

    /// An accepted socket on its way to the loop that will own it.
    struct HandOff: Sendable {
        var fd: Int32
        var peer: sockaddr_storage
        /// Accepted over the cap: the receiving loop must evict a connection to admit it.
        /// Counts the loops that still may be asked (the ring shrinks by one per loop tried).
        var evictionHops = 0
    }

    // Loop-thread state.
    /// Connections by descriptor.
    var connections: [Connection?] = []
    var openCount = 0
    var now: UInt64 = 0
    /// Earliest deadline known; the loop sweeps connections when it passes.
    var nextTimer: UInt64 = .max
    var acceptResumeAt: UInt64?
    var listening = false
    var stopping = false
    var graceDeadline: UInt64 = .max
    private var generation: UInt32 = 0
    let readBuffer: UnsafeMutableRawBufferPointer
    private let events: UnsafeMutablePointer<shim_epoll_event>
    static let readBufferSize = 64 * 1024
    static let maxEvents: Int32 = 256

    static let wakeToken = UInt64.max
    static func listenerToken(_ index: Int) -> UInt64 { UInt64.max - 1 - UInt64(index) }

    init(index: Int, listeners: [Int32], settings: LoopSettings, handler: any HTTPHandler,
         counters: LoopCounters, shared: ServerShared) throws(HTTPServerError) {
        let epoll = shim_epoll_create()
        guard epoll >= 0 else { throw .systemCall("epoll_create1", errno: errno) }
        let wakeFD = shim_eventfd()
        guard wakeFD >= 0 else {
            let code = errno
            Socket.close(epoll)
            throw .systemCall("eventfd", errno: code)
        }
        guard shim_epoll_ctl(epoll, shim_EPOLL_CTL_ADD, wakeFD, shim_EPOLLIN, Self.wakeToken) == 0 else {
            let code = errno
            Socket.close(epoll)
            Socket.close(wakeFD)
            throw .systemCall("epoll_ctl", errno: code)
        }
        self.index = index
        self.epoll = epoll
        self.wakeFD = wakeFD
        self.listeners = listeners
        self.settings = settings
        self.handler = handler
        self.counters = counters
        self.shared = shared
        readBuffer = .allocate(byteCount: Self.readBufferSize, alignment: 16)
        events = .allocate(capacity: Int(Self.maxEvents))
        guard startListening() else {
            // `self` is fully initialised: deinit closes the descriptors.
            throw .systemCall("epoll_ctl", errno: errno)
        }
    }

    /// Closes the epoll and eventfd only when no other loop or thread can reach this loop any
    /// more, so a late ``handOff(_:peer:)`` never writes to a reused descriptor number.
    deinit {
        Socket.close(epoll)
        Socket.close(wakeFD)
        readBuffer.deallocate()
        events.deallocate()
    }

    /// Asks the loop to shut down gracefully; callable from any thread.
    func requestStop() {
        stopRequested.store(true, ordering: .releasing)
        _ = shim_eventfd_signal(wakeFD)
    }

    // MARK: - Running

    /// Gives an accepted socket to this loop; callable from any thread.
    func handOff(_ fd: Int32, peer: sockaddr_storage, evictionHops: Int = 0) {
        inbox.withLock { $0.append(HandOff(fd: fd, peer: peer, evictionHops: evictionHops)) }
        _ = shim_eventfd_signal(wakeFD)
    }

    /// Closes sockets handed over but never taken (the loop had already exited).
    func closeInbox() {
        for handOff in inbox.withLock({ inbox in defer { inbox = [] }; return inbox }) {
            Socket.close(handOff.fd)
            load.subtract(1, ordering: .relaxed)
            shared.openConnections.subtract(1, ordering: .relaxed)
        }
    }

    /// Runs until stopped and every connection is closed.
    func run() {
        now = monotonicNanoseconds()
        while true {
            let count = shim_epoll_wait(epoll, events, Self.maxEvents, waitTimeout())
            now = monotonicNanoseconds()
            if count < 0 && errno != EINTR {
                // Not expected for a valid epoll descriptor; avoid spinning.
                usleep(10_000)
            }
            for slot in 0..<Int(max(0, count)) {
                let event = events[slot]
                dispatch(token: event.data, events: event.events)
            }
            if now >= nextTimer {
                sweepTimers()
            }
            if stopping && (openCount == 0 || now >= graceDeadline) {
                break
            }
        }
        for case let connection? in connections {
            close(connection)
        }
        closeInbox()
        peers = []
    }

    /// Milliseconds until the next deadline (rounded up), or -1 to wait for events only.
    private func waitTimeout() -> Int32 {
        guard nextTimer != .max else { return -1 }
        guard nextTimer > now else { return 0 }
        let milliseconds = (nextTimer - now + 999_999) / 1_000_000
        return Int32(min(milliseconds, 3_600_000))
    }

    private func dispatch(token: UInt64, events: UInt32) {
        if token == Self.wakeToken {
            shim_eventfd_drain(wakeFD)
            if stopRequested.load(ordering: .acquiring) && !stopping {
                beginStopping()
            }
            for handOff in inbox.withLock({ inbox in defer { inbox = [] }; return inbox }) {
                if handOff.evictionHops > 0 {
                    admitOverCap(handOff.fd, peer: handOff.peer, hopsLeft: handOff.evictionHops - 1)
                } else {
                    admit(handOff.fd, peer: handOff.peer)
                }
            }
            return
        }
        if !listeners.isEmpty && token >= Self.listenerToken(listeners.count - 1) {
            acceptConnections(listeners[Int(UInt64.max - 1 - token)])
            return
        }
        let fd = Int(truncatingIfNeeded: token & 0xFFFF_FFFF)
        guard fd < connections.count, let connection = connections[fd], connection.token == token else {
            return // a stale event for a descriptor closed earlier in this batch
        }
        handleEvent(connection, events: events)
    }

    // MARK: - Timers

    /// Lowers the next wake-up to `deadline` if it is earlier.
    func schedule(_ deadline: UInt64) {
        if deadline < nextTimer { nextTimer = deadline }
    }

    /// Fires every expired deadline and recomputes the next one.
    private func sweepTimers() {
        nextTimer = .max
        if let resume = acceptResumeAt {
            if now >= resume {
                acceptResumeAt = nil
                if !stopping { _ = startListening() }
            } else {
                schedule(resume)
            }
        }
        if stopping { schedule(graceDeadline) }
        for fd in connections.indices {
            guard let connection = connections[fd] else { continue }
            if connection.deadline <= now {
                timerFired(connection)
            }
            if connection.state != .closed {
                schedule(connection.deadline)
            }
        }
    }

    // MARK: - Accepting

    /// Registers the listening sockets with this loop's epoll (EPOLLEXCLUSIVE).
    @discardableResult
    private func startListening() -> Bool {
        guard !listening else { return true }
        for (index, fd) in listeners.enumerated() {
            let result = shim_epoll_ctl(epoll, shim_EPOLL_CTL_ADD, fd, shim_EPOLLIN | shim_EPOLLEXCLUSIVE, Self.listenerToken(index))
            if result != 0 && errno != EEXIST { return false }
        }
        listening = true
        return true
    }

    private func stopListening() {
        guard listening else { return }
        for fd in listeners {
            _ = shim_epoll_ctl(epoll, shim_EPOLL_CTL_DEL, fd, 0, 0)
        }
        listening = false
    }

    /// Accepts up to `acceptBatch` connections from a ready listener.
    private func acceptConnections(_ listener: Int32) {
        var accepted = 0
        while accepted < settings.acceptBatch && listening {
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let fd = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { shim_accept(listener, $0, &length) }
            }
            if fd < 0 {
                switch errno {
                case EINTR:
                    continue
                case EAGAIN, EWOULDBLOCK:
                    return
                case ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET, EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH:
                    // The client went away before we accepted it (or a transient network error).
                    counters.acceptErrors.add(1, ordering: .relaxed)
                    continue
                default:
                    // EMFILE, ENFILE, ENOBUFS, ENOMEM and the unexpected: pause, then resume.
                    counters.acceptErrors.add(1, ordering: .relaxed)
                    pauseAccepting()
                    return
                }
            }
            accepted += 1
            let open = shared.openConnections.add(1, ordering: .relaxed).newValue
            if open > settings.maxConnections {
                load.add(1, ordering: .relaxed)
                admitOverCap(fd, peer: storage, hopsLeft: peers.count - 1)
                continue
            }
            let owner = leastLoadedLoop()
            owner.load.add(1, ordering: .relaxed)
            if owner === self {
                admit(fd, peer: storage)
            } else {
                owner.handOff(fd, peer: storage)
            }
        }
    }

    /// The loop with the fewest connections, this one on a tie.
    private func leastLoadedLoop() -> EventLoop {
        var best = self
        var bestLoad = load.load(ordering: .relaxed)
        for peer in peers where peer !== self {
            let peerLoad = peer.load.load(ordering: .relaxed)
            if peerLoad < bestLoad {
                best = peer
                bestLoad = peerLoad
            }
        }
        return best
    }

    private func pauseAccepting() {
        stopListening()
        let resume = now + settings.acceptPause
        acceptResumeAt = resume
        schedule(resume)
    }

    /// Admits a connection accepted while `maxConnections` were open (it is counted in
    /// `openConnections` and in this loop's `load`) by evicting one of this loop's idle
    /// connections; when this loop has none, passes it on to the next loop of the ring while
    /// `hopsLeft` > 0, else rejects it with a best-effort 503.
    private func admitOverCap(_ fd: Int32, peer: sockaddr_storage, hopsLeft: Int) {
        if !stopping, let victim = evictionCandidate() {
            counters.connectionsEvicted.add(1, ordering: .relaxed)
            close(victim)
            admit(fd, peer: peer)
            return
        }
        if !stopping && hopsLeft > 0, let position = peers.firstIndex(where: { $0 === self }) {
            let next = peers[(position + 1) % peers.count]
            if next !== self {
                load.subtract(1, ordering: .relaxed)
                next.load.add(1, ordering: .relaxed)
                next.handOff(fd, peer: peer, evictionHops: hopsLeft)
                return
            }
        }
        reject(fd)
    }

    /// Refuses an accepted descriptor (counted in `openConnections` and `load`): uncounts it,
    /// counts the rejection, sends a best-effort 503 and closes. Counters first, so they are
    /// settled by the time the client sees the close.
    private func reject(_ fd: Int32) {
        load.subtract(1, ordering: .relaxed)
        shared.openConnections.subtract(1, ordering: .relaxed)
        counters.connectionsRejected.add(1, ordering: .relaxed)
        Self.rejectResponse.withUnsafeBytes { bytes in
            _ = shim_send(fd, bytes.baseAddress, bytes.count)
        }
        Socket.close(fd)
    }

    /// The connection to close to make room for a new one at the cap, or nil when every
    /// connection of this loop is busy. Only connections with no request in progress qualify,
    /// by rank, then longest idle first:
    /// 1. draining: its last response is written, the loop only waits for the client's FIN;
    /// 2. never sent a byte since it was accepted (idle junk, or a client about to speak);
    /// 3. keep-alive between requests (e.g. Prometheus between scrapes; an HTTP client retries a
    ///    request on a kept-alive connection closed before it was sent).
    /// A request being received, a response being written, delayed or held (`hang`) is never cut.
    /// Ties (same loop iteration) go to the connection admitted first. Linear in the loop's
    /// connections; runs only at the cap.
    func evictionCandidate() -> Connection? {
        var best: Connection?
        var bestKey = (rank: Int.max, since: UInt64.max, admitted: UInt64.max)
        for case let connection? in connections {
            let rank: Int
            switch connection.state {
            case .draining:
                rank = 0
            case .reading where !connection.parser.hasPartialRequest:
                rank = connection.requestsServed == 0 ? 1 : 2
            default:
                continue
            }
            // The token's high half is the admission generation: larger means admitted later.
            let key = (rank: rank, since: connection.lastActivity, admitted: connection.token)
            if key < bestKey {
                best = connection
                bestKey = key
            }
        }
        return best
    }

    /// Takes an accepted descriptor (already counted in `openConnections` and `load`) into the
    /// loop; refuses it while stopping.
    private func admit(_ fd: Int32, peer: sockaddr_storage) {
        if stopping {
            reject(fd)
            return
        }
        counters.connectionsAccepted.add(1, ordering: .relaxed)
        Socket.setNoDelay(fd)
        generation = generation == UInt32.max ? 1 : generation + 1
        let token = UInt64(generation) << 32 | UInt64(UInt32(bitPattern: fd))
        let peerInfo = Socket.describe(peer)
        let connection = Connection(
            fd: fd,
            token: token,
            remoteAddress: peerInfo.map { Socket.format(host: $0.host, port: $0.port) },
            isLoopback: peerInfo?.isLoopback ?? false,
            parser: RequestParser(maxHeaderBytes: settings.maxHeaderBytes, maxBodyBytes: settings.maxBodyBytes,
                                  maxHeaderCount: settings.maxHeaderCount),
            interest: shim_EPOLLIN,
            now: now
        )
        guard shim_epoll_ctl(epoll, shim_EPOLL_CTL_ADD, fd, shim_EPOLLIN, token) == 0 else {
            load.subtract(1, ordering: .relaxed)
            shared.openConnections.subtract(1, ordering: .relaxed)
            Socket.close(fd)
            return
        }
        let slot = Int(fd)
        if slot >= connections.count {
            connections.append(contentsOf: repeatElement(nil, count: slot + 1 - connections.count))
        }
        connections[slot] = connection
        openCount += 1
        refreshDeadline(connection)
    }

    /// Sent best-effort to a connection over the cap.
    static let rejectResponse: [UInt8] = Array(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 21\r\nConnection: close\r\n\r\ntoo many connections\n".utf8
    )

    // MARK: - Stopping

    private func beginStopping() {
        stopping = true
        stopListening()
        acceptResumeAt = nil
        graceDeadline = now + settings.shutdownGrace
        schedule(graceDeadline)
        for case let connection? in connections {
            switch connection.state {
            case .reading, .hanging:
                close(connection)
            case .writing:
                connection.closeAfterWrite = true
            case .delayed:
                connection.held?.close = true
            case .draining:
                closeIfDrained(connection)
            case .closed:
                break
            }
        }
    }
}

import CLinuxShims
import Glibc

/// Per-connection work of the loop: reading, parsing, answering in order, writing, timeouts.
extension EventLoop {
    func handleEvent(_ connection: Connection, events: UInt32) {
        if events & shim_EPOLLERR != 0 {
            close(connection)
            return
        }
        switch connection.state {
        case .reading:
            if events & (shim_EPOLLIN | shim_EPOLLHUP) != 0 {
                readAvailable(connection)
                processRequests(connection)
            }
        case .writing:
            if events & (shim_EPOLLOUT | shim_EPOLLHUP) != 0 {
                writePending(connection)
                processRequests(connection)
            }
        case .draining:
            if events & (shim_EPOLLIN | shim_EPOLLHUP) != 0 {
                readAvailable(connection)
                if connection.peerClosed || stopping { closeIfDrained(connection) }
            }
        case .delayed:
            // Not reading (a half-closed client may still wait for the answer); only hang-up
            // and errors are reported.
            if events & shim_EPOLLHUP != 0 { close(connection) }
        case .hanging:
            // Never answered: a client that gives up (FIN) is let go at once.
            if events & (shim_EPOLLHUP | shim_EPOLLRDHUP) != 0 { close(connection) }
        case .closed:
            break
        }
    }

    // MARK: Reading

    /// Reads what the socket has (a few buffers at most per event) into the parser, or discards
    /// it while draining. Sets `peerClosed` on end of stream; closes on a read error.
    func readAvailable(_ connection: Connection) {
        for _ in 0..<4 {
            let count = read(connection.fd, readBuffer.baseAddress, readBuffer.count)
            if count > 0 {
                counters.bytesRead.add(count, ordering: .relaxed)
                if connection.state == .draining {
                    connection.drainedBytes += count
                    if connection.drainedBytes > settings.lingerBytes {
                        close(connection)
                        return
                    }
                } else {
                    if !connection.parser.hasPartialRequest {
                        connection.requestStartedAt = now
                    }
                    connection.parser.append(UnsafeRawBufferPointer(rebasing: readBuffer[0..<count]))
                }
                if count < readBuffer.count { return }
            } else if count == 0 {
                connection.peerClosed = true
                return
            } else {
                switch errno {
                case EINTR: continue
                case EAGAIN, EWOULDBLOCK: return
                default:
                    close(connection)
                    return
                }
            }
        }
    }

    /// Answers complete buffered requests in order while the connection is free to (reading
    /// state); stops at the first response that cannot be written at once.
    func processRequests(_ connection: Connection) {
        while connection.state == .reading {
            if stopping {
                close(connection)
                return
            }
            switch connection.parser.next() {
            case .needMoreData:
                if connection.peerClosed {
                    close(connection)
                    return
                }
                if connection.parser.expectsContinue {
                    connection.parser.acknowledgeContinue()
                    sendContinue(connection)
                    continue
                }
                setInterest(connection, shim_EPOLLIN)
                refreshDeadline(connection)
                return
            case let .failure(error):
                counters.badRequests.add(1, ordering: .relaxed)
                var response = HTTPResponse.text(error.status, error.reason + "\n")
                response.closeConnection = true
                startResponse(connection, response, isHead: false, close: true)
            case var .request(request):
                request.remoteAddress = connection.remoteAddress
                request.isLoopback = connection.isLoopback
                let isHead = request.method == "HEAD"
                if isHead { request.method = "GET" }
                let wantsClose = request.wantsClose
                let response = handler.handle(request)
                connection.requestsServed += 1
                let close = wantsClose || response.wantsClose || stopping
                if response.hang {
                    connection.state = .hanging
                    connection.lastActivity = now
                    setInterest(connection, shim_EPOLLRDHUP)
                    refreshDeadline(connection)
                    return
                }
                if let delay = response.delay, delay.clampedNanoseconds > 0 {
                    connection.state = .delayed
                    connection.held = .init(response: response, isHead: isHead, close: close)
                    setInterest(connection, 0)
                    connection.deadline = now + delay.clampedNanoseconds
                    schedule(connection.deadline)
                    return
                }
                startResponse(connection, response, isHead: isHead, close: close)
            }
        }
    }

    // MARK: Writing

    /// Encodes the head, then writes head and body with one vectored send if the socket takes it.
    private func startResponse(_ connection: Connection, _ response: HTTPResponse, isHead: Bool, close: Bool) {
        connection.outHead.removeAll(keepingCapacity: true)
        response.encodeHead(into: &connection.outHead, bodyLength: response.body.count + response.bodyTail.count, close: close,
                            serverName: settings.serverName)
        let sendsBody = !isHead && !response.forbidsBody
        connection.outBody = sendsBody ? response.body : []
        connection.outTail = sendsBody ? response.bodyTail : []
        connection.outOffset = 0
        connection.outStatus = response.sentStatus
        connection.closeAfterWrite = close
        connection.state = .writing
        counters.countResponse(status: connection.outStatus)
        writePending(connection)
    }

    /// Queues the interim `100 Continue` (not counted as a response) and writes it; the request
    /// keeps its original start time for the request timeout.
    private func sendContinue(_ connection: Connection) {
        let startedAt = connection.requestStartedAt
        connection.outHead.removeAll(keepingCapacity: true)
        connection.outHead.append(contentsOf: Self.continueResponse)
        connection.outBody = []
        connection.outTail = []
        connection.outOffset = 0
        connection.closeAfterWrite = false
        connection.state = .writing
        writePending(connection)
        if connection.state == .reading {
            connection.requestStartedAt = startedAt
            refreshDeadline(connection)
        }
    }

    static let continueResponse: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Writes as much of the pending response as the socket takes; on completion moves on to
    /// the next request, or to draining when the connection closes.
    func writePending(_ connection: Connection) {
        while connection.outRemaining > 0 {
            let written = sendPending(connection)
            if written > 0 {
                connection.outOffset += written
                connection.lastActivity = now
                counters.bytesWritten.add(written, ordering: .relaxed)
                continue
            }
            switch errno {
            case EINTR:
                continue
            case EAGAIN, EWOULDBLOCK:
                setInterest(connection, shim_EPOLLOUT)
                refreshDeadline(connection)
                return
            default:
                // EPIPE, ECONNRESET: the client is gone.
                close(connection)
                return
            }
        }
        connection.outBody = []
        connection.outTail = []
        connection.outOffset = 0
        if connection.closeAfterWrite || stopping {
            beginLingeringClose(connection)
            return
        }
        connection.state = .reading
        connection.lastActivity = now
        connection.requestStartedAt = connection.parser.hasPartialRequest ? now : 0
        if !connection.peerClosed {
            setInterest(connection, shim_EPOLLIN)
        }
        refreshDeadline(connection)
    }

    /// One `sendmsg(MSG_NOSIGNAL)` of the unwritten parts of head, body and tail; returns its result.
    private func sendPending(_ connection: Connection) -> Int {
        let offset = connection.outOffset
        return connection.outHead.withUnsafeBytes { head in
            connection.outBody.withUnsafeBytes { body in
                connection.outTail.withUnsafeBytes { tail in
                    var vectors = (iovec(), iovec(), iovec())
                    var count: Int32 = 0
                    withUnsafeMutableBytes(of: &vectors) { raw in
                        let iov = raw.bindMemory(to: iovec.self)
                        var skip = offset
                        for index in 0..<3 {
                            let part = index == 0 ? head : index == 1 ? body : tail
                            if skip >= part.count {
                                skip -= part.count
                                continue
                            }
                            if let base = part.baseAddress {
                                iov[Int(count)] = iovec(iov_base: UnsafeMutableRawPointer(mutating: base + skip), iov_len: part.count - skip)
                                count += 1
                            }
                            skip = 0
                        }
                    }
                    return withUnsafeBytes(of: &vectors) { raw in
                        shim_send_iov(connection.fd, raw.bindMemory(to: iovec.self).baseAddress, count)
                    }
                }
            }
        }
    }

    /// Shuts down our sending side (the peer sees the end of the response) and discards input
    /// until the peer closes, `lingerTimeout` passes or `lingerBytes` were discarded.
    private func beginLingeringClose(_ connection: Connection) {
        if connection.peerClosed {
            close(connection)
            return
        }
        _ = shutdown(connection.fd, Int32(SHUT_WR))
        connection.state = .draining
        connection.lastActivity = now
        connection.drainedBytes = 0
        setInterest(connection, shim_EPOLLIN)
        refreshDeadline(connection)
        if stopping { closeIfDrained(connection) }
    }

    /// Discards what input is buffered and closes the connection when none is left unread, so
    /// the close sends no reset. While stopping, the loop does not wait for the peer's FIN.
    func closeIfDrained(_ connection: Connection) {
        guard connection.state == .draining else { return }
        readAvailable(connection)
        guard connection.state == .draining else { return }
        var pending: Int32 = 0
        if connection.peerClosed || (ioctl(connection.fd, UInt(FIONREAD), &pending) == 0 && pending == 0) {
            close(connection)
        }
    }

    // MARK: Timeouts

    /// Sets the connection's deadline for its current state and schedules it.
    func refreshDeadline(_ connection: Connection) {
        switch connection.state {
        case .reading:
            if connection.parser.hasPartialRequest {
                connection.deadline = connection.requestStartedAt + settings.requestTimeout
            } else if connection.requestsServed == 0 {
                connection.deadline = connection.lastActivity + settings.firstByteTimeout
            } else {
                connection.deadline = connection.lastActivity + settings.idleTimeout
            }
        case .writing, .hanging:
            connection.deadline = connection.lastActivity + settings.idleTimeout
        case .draining:
            connection.deadline = connection.lastActivity + settings.lingerTimeout
        case .delayed, .closed:
            break
        }
        schedule(connection.deadline)
    }

    /// Handles a passed deadline.
    func timerFired(_ connection: Connection) {
        switch connection.state {
        case .reading:
            if connection.parser.hasPartialRequest {
                counters.headerReadTimeouts.add(1, ordering: .relaxed)
                Self.timeoutResponse.withUnsafeBytes { bytes in
                    if shim_send(connection.fd, bytes.baseAddress, bytes.count) == bytes.count {
                        counters.countResponse(status: 408)
                        counters.bytesWritten.add(bytes.count, ordering: .relaxed)
                    }
                }
            } else {
                counters.idleTimeouts.add(1, ordering: .relaxed)
            }
            close(connection)
        case .writing, .hanging:
            counters.idleTimeouts.add(1, ordering: .relaxed)
            close(connection)
        case .draining:
            close(connection)
        case .delayed:
            guard let held = connection.held else {
                close(connection)
                return
            }
            connection.held = nil
            startResponse(connection, held.response, isHead: held.isHead, close: held.close || stopping)
            processRequests(connection)
        case .closed:
            break
        }
    }

    /// Sent best-effort when a request is not received within the request timeout.
    static let timeoutResponse: [UInt8] = Array(
        "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8
    )

    // MARK: Bookkeeping

    func setInterest(_ connection: Connection, _ interest: UInt32) {
        guard connection.interest != interest, connection.state != .closed else { return }
        if shim_epoll_ctl(epoll, shim_EPOLL_CTL_MOD, connection.fd, interest, connection.token) == 0 {
            connection.interest = interest
        } else {
            close(connection)
        }
    }

    func close(_ connection: Connection) {
        guard connection.state != .closed else { return }
        connection.state = .closed
        connection.held = nil
        connection.outBody = []
        connection.outTail = []
        // Counters before the close, so they are settled by the time the client sees it.
        openCount -= 1
        load.subtract(1, ordering: .relaxed)
        shared.openConnections.subtract(1, ordering: .relaxed)
        Socket.close(connection.fd)
        let slot = Int(connection.fd)
        if slot < connections.count, connections[slot] === connection {
            connections[slot] = nil
        }
    }
}

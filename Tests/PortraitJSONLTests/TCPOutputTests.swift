@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import Testing
@testable import PortraitJSONL

@Suite("TCP output against real loopback listeners", .timeLimit(.minutes(5)))
struct TCPOutputTests {
    static let base = Fixtures.fetchedAt

    /// `count` changed snapshots of one key, 121 lines each (120 buckets and the summary).
    static func snapshots(_ count: Int, from first: Int = 0) -> [Snapshot] {
        (first..<(first + count)).map { Fixtures.snapshot(seed: $0, perBreakdown: 10, fetchedAt: base.addingTimeInterval(Double($0))) }
    }

    static func configuration(port: UInt16, host: String = "127.0.0.1") -> JSONLPlugin.Configuration {
        var configuration = JSONLPlugin.Configuration(output: .tcp(host: host, port: port))
        configuration.reconnectMax = .milliseconds(50)
        return configuration
    }

    /// Publishes each snapshot as its own state, pausing `gap` between them.
    static func publish(_ snapshots: [Snapshot], to plugin: JSONLPlugin, gap: Duration = .zero) async {
        for (i, snapshot) in snapshots.enumerated() {
            await plugin.publish(Fixtures.state([snapshot], generation: UInt64(i + 1)))
            if gap > .zero { try? await Task.sleep(for: gap) }
        }
    }

    /// Checks the no-torn-line shape of what a sequence of connections received: every complete
    /// line is an expected line; each connection holds a gap-free run of the expected lines; a
    /// fragment left at a connection's end is the start of an expected line. Unless `allowGaps`
    /// (a peer that reset the connection loses what its kernel acknowledged but it never read),
    /// a connection also starts no later than where the previous one stopped (at least once).
    /// Returns the index just past the last line received.
    @discardableResult
    static func checkRuns(_ perConnection: [[String]], fragments: [String], expected: [String], allowGaps: Bool = false) -> Int {
        var index: [String: Int] = [:]
        for (i, line) in expected.enumerated() { index[line] = i }
        var reached = 0
        for lines in perConnection where !lines.isEmpty {
            guard let start = index[lines[0]] else {
                Issue.record("unexpected line \(lines[0].prefix(200))")
                return reached
            }
            if !allowGaps {
                #expect(start <= reached, "a connection starts where the previous one stopped, or before (resend)")
            }
            let end = start + lines.count
            #expect(end <= expected.count && Array(expected[start..<min(end, expected.count)]) == lines,
                    "each connection carries a gap-free run of records in order")
            reached = max(reached, end)
        }
        for fragment in fragments {
            #expect(expected.contains { $0.hasPrefix(fragment) && $0 != fragment }, "a fragment is only ever an unterminated line start")
        }
        return reached
    }

    @Test("a listener stopped and restarted mid-stream gets every record exactly once, in order")
    func restartMidStream() async throws {
        let first = try TestListener()
        let port = first.port
        let harness = try await Harness.start(Self.configuration(port: port))
        let plugin = harness.plugin
        #expect(plugin.summary == "tcp 127.0.0.1:\(port)")
        #expect(await eventually { harness.metric("wechat_portrait_jsonl_connected") == 1 })

        let snapshots = Self.snapshots(40)
        let expected = Fixtures.expectedLines(snapshots)
        // Records flow while the listener stops; the second half is published while it is down
        // and after it is back, so the restart is always mid-stream.
        let producer = Task { await Self.publish(Array(snapshots[..<20]), to: plugin, gap: .milliseconds(10)) }
        #expect(await eventually { first.lineCount >= 1000 })
        await first.stopped(.graceful)
        // Keep the port from other tests' listeners while it is down.
        let hold = try TestListener.ReservedPort(port: port)
        defer { hold.release() }
        await producer.value
        let rest = Task { await Self.publish(Array(snapshots[20...]), to: plugin, gap: .milliseconds(10)) }
        #expect(await eventually { harness.metric("wechat_portrait_jsonl_connected") == 0 })
        try await Task.sleep(for: .milliseconds(100))
        let second = try TestListener(port: port)
        await rest.value
        #expect(await eventually { first.lineCount + second.lineCount >= expected.count })
        await plugin.stop()

        let received = first.lines + second.lines
        #expect(received.count == expected.count)
        #expect(received == expected)
        #expect(first.snapshot.fragments.isEmpty && second.snapshot.fragments.isEmpty)
        #expect(first.lineCount < expected.count, "the restart happened mid-stream")
        #expect(second.connections >= 1)
        #expect(harness.log.lines(containing: "jsonl output failing").count == 1, "the outage is logged once")
        #expect(harness.log.lines(containing: "jsonl output recovered").count == 1)
        #expect((harness.metric("wechat_portrait_jsonl_write_errors_total") ?? 0) >= 1)
        #expect(harness.metric("wechat_portrait_jsonl_records_total") == Double(expected.count))
        await second.stopped()
    }

    @Test("a peer reset mid-stream: no torn line, order kept on each connection, the stream resumes")
    func resetMidStream() async throws {
        let first = try TestListener()
        let port = first.port
        let harness = try await Harness.start(Self.configuration(port: port))
        let snapshots = Self.snapshots(30)
        let expected = Fixtures.expectedLines(snapshots)
        let producer = Task { await Self.publish(Array(snapshots[..<15]), to: harness.plugin, gap: .milliseconds(5)) }
        #expect(await eventually { first.lineCount >= 800 })
        await first.stopped(.reset)
        let second = try TestListener(port: port)
        await producer.value
        await Self.publish(Array(snapshots[15...]), to: harness.plugin, gap: .milliseconds(5))
        #expect(await eventually { second.lines.last == expected.last })
        await harness.plugin.stop()
        let all = first.snapshot.perConnection + second.snapshot.perConnection
        let reached = Self.checkRuns(all, fragments: first.snapshot.fragments + second.snapshot.fragments, expected: expected, allowGaps: true)
        #expect(reached == expected.count)
        for line in first.lines + second.lines { _ = try JSONParser.parse(line) }
        await second.stopped()
    }

    @Test("a stalled peer: the connection is given up and a cut line is resent whole on the next one")
    func stalledPeer() async throws {
        let listener = try TestListener(receiveBuffer: 4096, paused: true)
        var configuration = Self.configuration(port: listener.port)
        // Long enough that, once the listener resumes, a listener thread the machine holds up for a
        // moment is not taken for a stalled peer (giving up a connection that is being read makes
        // delivery at-least-once, and the exactly-once check below would then fail for the
        // machine's slowness, as it did once under ThreadSanitizer with 300 ms).
        configuration.stallTimeout = .seconds(2)
        let harness = try await Harness.start(configuration)
        // Publish until the kernel buffers are full and the exporter gives the connection up
        // (how much they hold depends on autotuning: a few MB on loopback).
        var snapshots: [Snapshot] = []
        while listener.connections < 2 && snapshots.count < 600 {
            let more = Self.snapshots(20, from: snapshots.count)
            for snapshot in more {
                await harness.plugin.publish(Fixtures.state([snapshot], generation: UInt64(snapshots.count + 1)))
                snapshots.append(snapshot)
            }
            await eventually(timeout: .milliseconds(500)) { listener.connections >= 2 }
        }
        let expected = Fixtures.expectedLines(snapshots)
        #expect(listener.connections >= 2)
        // Logged when the output starts failing (again, if a later connection got some lines
        // through and then stalled too before the listener resumed).
        #expect(harness.log.lines(containing: "accepted no byte").count >= 1)
        listener.resume()
        #expect(await eventually { listener.lines.last == expected.last })
        await harness.plugin.stop()
        // Let the orphaned first connections finish delivering before looking.
        try await Task.sleep(for: .milliseconds(200))
        let received = listener.snapshot
        let reached = Self.checkRuns(received.perConnection, fragments: received.fragments, expected: expected)
        #expect(reached == expected.count)
        #expect(Set(received.lines) == Set(expected), "at least once: every record arrived")
        // The given-up connection was reset, so what it had not delivered is not delivered
        // late as well: exactly once.
        #expect(received.lines == expected)
        await listener.stopped()
    }

    @Test("a full queue drops the oldest records and counts them; the newest arrive in order")
    func overflow() async throws {
        let reserved = try TestListener.ReservedPort()
        defer { reserved.release() }
        let port = reserved.port
        var configuration = Self.configuration(port: port)
        configuration.queueMaxRecords = 50
        configuration.reconnectMax = .milliseconds(20)
        let harness = try await Harness.start(configuration)
        #expect(await eventually { (harness.metric("wechat_portrait_jsonl_write_errors_total") ?? 0) >= 2 })
        let snapshots = Self.snapshots(3)
        let expected = Fixtures.expectedLines(snapshots)
        await Self.publish(snapshots, to: harness.plugin)
        #expect(harness.metric("wechat_portrait_jsonl_dropped_records_total") == Double(expected.count - 50))
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 50)
        #expect(harness.log.lines(containing: "queue is full").count == 1, "dropping is logged once, not per record")
        #expect(harness.log.lines(containing: "Connection refused").count == 1)

        let listener = try TestListener(port: port)
        #expect(await eventually { listener.lineCount >= 50 })
        await harness.plugin.stop()
        #expect(listener.lines == Array(expected.suffix(50)))
        #expect(harness.metric("wechat_portrait_jsonl_records_total") == 50)
        #expect(harness.metric("wechat_portrait_jsonl_queue_records") == 0)
        await listener.stopped()
    }

    @Test("stop() flushes what is queued to a listener that is up")
    func stopFlushes() async throws {
        let listener = try TestListener()
        let harness = try await Harness.start(Self.configuration(port: listener.port))
        let snapshots = Self.snapshots(20)
        await Self.publish(snapshots, to: harness.plugin)
        await harness.plugin.stop()
        let expected = Fixtures.expectedLines(snapshots)
        #expect(await eventually(timeout: .seconds(60)) { listener.lineCount >= expected.count })
        #expect(listener.lines == expected)
        #expect(harness.log.lines(containing: "left unwritten").isEmpty)
        await listener.stopped()
    }

    @Test("stop() cuts a long reconnect backoff short and flushes to a listener that just came back")
    func stopFlushesAfterOutage() async throws {
        let reserved = try TestListener.ReservedPort()
        defer { reserved.release() }
        let port = reserved.port
        var configuration = Self.configuration(port: port)
        configuration.reconnectMax = .seconds(300)
        let harness = try await Harness.start(configuration)
        let snapshots = Self.snapshots(5)
        await Self.publish(snapshots, to: harness.plugin)
        // 100 ms, 200 ms, 400 ms, 800 ms: the next attempt is far away.
        #expect(await eventually { (harness.metric("wechat_portrait_jsonl_write_errors_total") ?? 0) >= 4 })
        let listener = try TestListener(port: port)
        let clock = ContinuousClock()
        let start = clock.now
        await harness.plugin.stop()
        // A generous bound (machines here are shared): well under the 300 s backoff cap it must not wait out.
        #expect(clock.now - start < .seconds(60), "stop waited for the reconnect backoff")
        let expected = Fixtures.expectedLines(snapshots)
        #expect(await eventually(timeout: .seconds(60)) { listener.lineCount >= expected.count })
        #expect(listener.lines == expected)
        await listener.stopped()
    }

    @Test("stop() gives up after shutdown_timeout_seconds when nobody listens, and says what was lost")
    func stopGivesUp() async throws {
        let reserved = try TestListener.ReservedPort()
        defer { reserved.release() }
        let port = reserved.port
        var configuration = Self.configuration(port: port)
        configuration.shutdownTimeout = .milliseconds(300)
        let harness = try await Harness.start(configuration)
        await Self.publish(Self.snapshots(1), to: harness.plugin)
        let clock = ContinuousClock()
        let start = clock.now
        await harness.plugin.stop()
        let elapsed = clock.now - start
        // Not before the timeout; the upper bound only catches a stop that waits for a listener
        // forever (the test harness's own default timeout is 60 s), not the machine's speed.
        #expect(elapsed >= .milliseconds(250), "gave up before shutdown_timeout_seconds: \(elapsed)")
        #expect(elapsed < .seconds(50), "stop did not give up: \(elapsed)")
        #expect(await eventually { harness.log.lines(containing: "left unwritten").count == 1 })
        #expect(harness.log.lines(containing: "records=121").count == 1)
    }

    @Test("IPv6 loopback", .enabled(if: TCPOutputTests.ipv6Loopback))
    func ipv6() async throws {
        let listener = try TestListener(ipv6: true)
        let harness = try await Harness.start(Self.configuration(port: listener.port, host: "::1"))
        #expect(harness.plugin.summary == "tcp [::1]:\(listener.port)")
        let snapshots = Self.snapshots(2)
        await Self.publish(snapshots, to: harness.plugin)
        await harness.plugin.stop()
        #expect(await eventually(timeout: .seconds(60)) { listener.lines == Fixtures.expectedLines(snapshots) })
        await listener.stopped()
    }

    @Test("a host name is resolved (localhost)")
    func hostName() async throws {
        let listener = try TestListener()
        let harness = try await Harness.start(Self.configuration(port: listener.port, host: "localhost"))
        let snapshots = Self.snapshots(1)
        await Self.publish(snapshots, to: harness.plugin)
        await harness.plugin.stop()
        #expect(await eventually(timeout: .seconds(60)) { listener.lines == Fixtures.expectedLines(snapshots) })
        await listener.stopped()
    }

    @Test("a socket connected to itself (nobody listens, source port = destination port) is recognised")
    func selfConnect() async throws {
        func loopback(_ port: UInt16) -> sockaddr_in {
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            return address
        }
        func connectSocket(_ fd: Int32, _ port: UInt16) -> Int32 {
            var address = loopback(port)
            return withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
        }
        let reserved = try TestListener.ReservedPort()
        let port = reserved.port
        reserved.release()
        // Bound to the port it then connects to: TCP simultaneous open with itself.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = loopback(port)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        try #require(bound == 0)
        try #require(connectSocket(fd, port) == 0)
        #expect(TCPSink.isConnectedToItself(fd))

        let listener = try TestListener()
        let client = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(client) }
        try #require(connectSocket(client, listener.port) == 0)
        #expect(!TCPSink.isConnectedToItself(client))
        await listener.stopped(.reset)
    }

    static var ipv6Loopback: Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        _ = inet_pton(AF_INET6, "::1", &address.sin6_addr)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) }
        } == 0
    }
}

@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import Synchronization
import Testing
@testable import PortraitJSONL

/// Snapshots and states for the tests.
enum Fixtures {
    static let shop = AppIdentity(name: "shop", appid: "wx0123456789abcdef")
    static let endDate = ChinaDate(year: 2026, month: 11, day: 28)!
    /// 2026-11-29T02:00:05.123Z
    static let fetchedAt = Date(timeIntervalSince1970: 1_795_917_605.1235)

    /// A snapshot whose every breakdown has `perBreakdown` buckets; values are derived from
    /// `seed` so that different seeds give different data. Device buckets have no id.
    static func snapshot(app: AppIdentity = shop, window: Window = .day7, seed: Int = 0, perBreakdown: Int = 10,
                         fetchedAt: Date = fetchedAt, endDate: ChinaDate = endDate) -> Snapshot {
        var portrait = Portrait()
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                portrait[segment, dimension] = (0..<perBreakdown).map { i in
                    Bucket(id: dimension == .device ? nil : Int64(i + 1),
                           name: "\(dimension.rawValue)-\(i)",
                           value: UInt64(seed * 10_000 + segment.index * 1000 + dimension.index * 100 + i))
                }
            }
        }
        return Snapshot(app: app, window: window, endDate: endDate,
                        refDate: window == .day1 ? endDate.yyyymmdd : window.beginDate(endingOn: endDate).yyyymmdd + "-" + endDate.yyyymmdd,
                        fetchedAt: fetchedAt, portrait: portrait)
    }

    static func state(_ snapshots: [Snapshot], generation: UInt64 = 1) -> PortraitState {
        var map: [SnapshotKey: Snapshot] = [:]
        for snapshot in snapshots { map[snapshot.key] = snapshot }
        return PortraitState(generation: generation, apps: [shop], windows: Window.allCases, snapshots: map)
    }

    /// The lines the plugin emits for `snapshots` (published one state each), without newlines.
    static func expectedLines(_ snapshots: [Snapshot], summaryRecords: Bool = true) -> [String] {
        let encoder = RecordEncoder(summaryRecords: summaryRecords)
        return snapshots.flatMap { encoder.lines(of: $0) }.map { String(decoding: $0.dropLast(), as: UTF8.self) }
    }
}

/// A started plugin with its recorded log and self-metrics.
struct Harness {
    let plugin: JSONLPlugin
    let log: RecordingLogSink
    let registry: SelfMetricsRegistry

    static func start(_ configuration: JSONLPlugin.Configuration, name: String = "jsonl",
                      makeSink: (@Sendable (Logger, JSONLPlugin.Configuration) -> any OutputSink)? = nil) async throws -> Harness {
        let log = RecordingLogSink()
        let registry = SelfMetricsRegistry()
        // Tests that flush on stop must not depend on the machine's speed: the 5 s default becomes
        // 60 s here (a flush ends as soon as it is done); tests about giving up set their own.
        var configuration = configuration
        if configuration.shutdownTimeout == .seconds(5) { configuration.shutdownTimeout = .seconds(60) }
        let plugin = makeSink.map { JSONLPlugin(name: name, configuration: configuration, makeSink: $0) }
            ?? JSONLPlugin(name: name, configuration: configuration)
        let context = PluginContext(status: StatusBoard(apps: [Fixtures.shop], windows: Window.allCases, startedAt: Date()), selfMetrics: registry,
                                    logger: Logger(level: .debug, sink: log), time: SystemTimeSource())
        try await plugin.start(context: context)
        return Harness(plugin: plugin, log: log, registry: registry)
    }

    /// The value of self-metric `name` for this plugin, or nil.
    func metric(_ name: String) -> Double? {
        registry.collect().first { $0.name == name }?.samples.first { sample in
            sample.labels.contains { $0 == ("exporter", plugin.name) }
        }?.value
    }
}

/// A fresh directory under /tmp, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "portrait-jsonl-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

/// The text of a file ("" if absent).
func contents(_ path: String) -> String {
    (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
}

/// The lines of a file, without the final empty piece after the last newline.
func lines(_ path: String) -> [String] {
    var parts = contents(path).split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if parts.last == "" { parts.removeLast() }
    return parts
}

/// A newline-delimited TCP collector on 127.0.0.1 for the tests, on its own thread: it accepts
/// any number of connections and keeps every complete line in arrival order (per connection,
/// connections in accept order); an unterminated fragment left when a connection ends is
/// counted in `fragments` and discarded, as Vector and Fluent Bit do.
final class TestListener: @unchecked Sendable {
    struct Received {
        var lines: [String] = []
        /// Complete lines per connection, in accept order.
        var perConnection: [[String]] = []
        var fragments: [String] = []
        var connections = 0
    }

    enum StopMode {
        /// Stop accepting, shut down the writing half and read until the exporter closes (a
        /// collector that drains before restarting).
        case graceful
        /// Close every connection at once with a reset (SO_LINGER 0).
        case reset
    }

    private let received = Mutex(Received())
    private let control = Mutex<(stop: StopMode?, paused: Bool)>((nil, false))
    private let exited = DispatchSemaphore(value: 0)
    let port: UInt16
    private var listenFD: Int32 = -1

    /// Starts listening on `port` (0: any free port). `receiveBuffer` shrinks SO_RCVBUF;
    /// `paused` starts without reading (accepting still works).
    init(port: UInt16 = 0, ipv6: Bool = false, receiveBuffer: Int32? = nil, paused: Bool = false) throws {
        let fd = socket(ipv6 ? AF_INET6 : AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var storage = sockaddr_storage()
        var length: socklen_t
        if ipv6 {
            length = socklen_t(MemoryLayout<sockaddr_in6>.size)
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    address.pointee.sin6_family = sa_family_t(AF_INET6)
                    address.pointee.sin6_port = port.bigEndian
                    _ = inet_pton(AF_INET6, "::1", &address.pointee.sin6_addr)
                }
            }
        } else {
            length = socklen_t(MemoryLayout<sockaddr_in>.size)
            withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    address.pointee.sin_family = sa_family_t(AF_INET)
                    address.pointee.sin_port = port.bigEndian
                    address.pointee.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
                }
            }
        }
        let bound = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let code = errno
            close(fd)
            throw POSIXError(.init(rawValue: code) ?? .EIO)
        }
        length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        _ = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        // sin_port and sin6_port are at the same offset.
        self.port = withUnsafePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { UInt16(bigEndian: $0.pointee.sin_port) }
        }
        self.listenFD = fd
        control.withLock { $0.paused = paused }
        let thread = Thread { [self] in self.run() }
        thread.start()
    }

    /// A loopback port on which nobody listens until a `TestListener` is started on it: bound
    /// (with SO_REUSEADDR) but not listening, so connects are refused, no other test's listener
    /// can be given the port, and no connect can pick it as its source port. Close it when done.
    final class ReservedPort: @unchecked Sendable {
        let port: UInt16
        private var fd: Int32

        /// Reserves `port`, or any free port when 0.
        init(port: UInt16 = 0) throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                    bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
                }
            }
            guard bound else {
                close(fd)
                throw POSIXError(.EADDRNOTAVAIL)
            }
            self.fd = fd
            self.port = UInt16(bigEndian: address.sin_port)
        }

        func release() {
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    var snapshot: Received { received.withLock { $0 } }
    var lines: [String] { received.withLock { $0.lines } }
    var lineCount: Int { received.withLock { $0.lines.count } }
    var connections: Int { received.withLock { $0.connections } }

    /// Starts reading (after `paused: true`).
    func resume() { control.withLock { $0.paused = false } }

    /// Stops the listener and waits for its thread (blocking: not for the cooperative pool).
    func stop(_ mode: StopMode = .graceful) {
        control.withLock { $0.stop = mode }
        exited.wait()
    }

    /// `stop` without blocking a cooperative thread: the wait happens on a thread of its own.
    func stopped(_ mode: StopMode = .graceful) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread { [self] in
                self.stop(mode)
                continuation.resume()
            }
            thread.start()
        }
    }

    private final class Connection {
        let fd: Int32
        let index: Int
        var pending: [UInt8] = []
        init(fd: Int32, index: Int) {
            self.fd = fd
            self.index = index
        }
    }

    private func run() {
        var connections: [Connection] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)

        func finish(_ connection: Connection) {
            close(connection.fd)
            if !connection.pending.isEmpty {
                let fragment = String(decoding: connection.pending, as: UTF8.self)
                received.withLock { $0.fragments.append(fragment) }
            }
            connections.removeAll { $0 === connection }
        }

        /// Reads what is available; returns false when the connection ended.
        func read(_ connection: Connection) -> Bool {
            let n = recv(connection.fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            if n < 0 { return errno == EAGAIN || errno == EINTR }
            if n == 0 { return false }
            connection.pending.append(contentsOf: buffer[0..<n])
            var newLines: [String] = []
            while let newline = connection.pending.firstIndex(of: 0x0A) {
                newLines.append(String(decoding: connection.pending[..<newline], as: UTF8.self))
                connection.pending.removeSubrange(...newline)
            }
            if !newLines.isEmpty {
                received.withLock { received in
                    received.lines.append(contentsOf: newLines)
                    received.perConnection[connection.index].append(contentsOf: newLines)
                }
            }
            return true
        }

        while true {
            let (stop, paused) = control.withLock { $0 }
            if let stop {
                close(listenFD)
                switch stop {
                case .reset:
                    for connection in connections {
                        var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                        setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                        close(connection.fd)
                    }
                    connections.removeAll()
                case .graceful:
                    let end = Date().addingTimeInterval(10)
                    for connection in connections { shutdown(connection.fd, Int32(SHUT_WR)) }
                    while !connections.isEmpty && Date() < end {
                        for connection in connections {
                            var descriptor = pollfd(fd: connection.fd, events: Int16(POLLIN), revents: 0)
                            if poll(&descriptor, 1, 10) > 0 && !read(connection) { finish(connection) }
                        }
                    }
                    for connection in connections { finish(connection) }
                }
                exited.signal()
                return
            }
            let polled = paused ? [] : connections
            var descriptors = [pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)]
            descriptors += polled.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            guard poll(&descriptors, nfds_t(descriptors.count), 10) > 0 else { continue }
            if descriptors[0].revents != 0 {
                let fd = accept(listenFD, nil, nil)
                if fd >= 0 {
                    let index = received.withLock { received -> Int in
                        received.connections += 1
                        received.perConnection.append([])
                        return received.perConnection.count - 1
                    }
                    connections.append(Connection(fd: fd, index: index))
                }
            }
            for (i, connection) in polled.enumerated() where descriptors[i + 1].revents != 0 {
                if !read(connection) { finish(connection) }
            }
        }
    }
}

@preconcurrency import Glibc
import CBenchSupport
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitPrometheus
import Synchronization
import WeChatSimulator

/// The simulator as the exporter's upstream, noting when it answers portrait calls.
final class TimedUpstream: HTTPHandler {
    let simulator: WeChatSimulator
    private let answers = Mutex<(first: ContinuousClock.Instant?, last: ContinuousClock.Instant?, count: Int)>((nil, nil, 0))

    init(_ simulator: WeChatSimulator) { self.simulator = simulator }

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        let response = simulator.handle(request)
        if request.path.hasPrefix("/datacube/") {
            let now = ContinuousClock.now
            answers.withLock { $0 = ($0.first ?? now, now, $0.count + 1) }
        }
        return response
    }

    var firstAnswer: ContinuousClock.Instant? { answers.withLock { $0.first } }
    var lastAnswer: ContinuousClock.Instant? { answers.withLock { $0.last } }
    var answerCount: Int { answers.withLock { $0.count } }
}

/// Cold start of the exporter against the simulator.
struct ColdStart: Codable, Sendable {
    /// Spawn to `/healthz` answering.
    var listeningMs: Double
    /// Spawn to the first portrait answer of the simulator.
    var firstAnswerMs: Double
    /// First portrait answer to the first `/metrics` holding portrait series.
    var firstAnswerToFirstSeriesMs: Double
    /// Last portrait answer to `/metrics` holding every series.
    var lastAnswerToAllSeriesMs: Double
    /// Spawn to `/metrics` holding every series.
    var readyMs: Double
    var upstreamCalls: Int
}

/// The exporter under test: this executable re-run as `portrait-bench exporter --config FILE`,
/// which is `PortraitRuntime.Runtime.main` — exactly what `wechat-portrait-exporter` runs.
final class ExporterUnderTest {
    let child: ChildProcess
    let port: UInt16
    let coldStart: ColdStart
    let simulatorServer: HTTPServer
    let upstream: TimedUpstream

    init(workload: Workload, loops: Int, expectedSeries: Int, directory: String, extraExporters: [String] = [],
         simulator: WeChatSimulator.Configuration? = nil, schedule: String? = nil) throws {
        let upstream = TimedUpstream(WeChatSimulator(configuration: simulator ?? workload.simulatorConfiguration()))
        self.upstream = upstream
        let server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]),
                                handler: upstream)
        simulatorServer = server
        try server.start()
        var started = false
        // A failure below leaves no exporter or simulator behind.
        var spawnedChild: ChildProcess?
        defer {
            if !started {
                spawnedChild?.stop()
                server.stop()
            }
        }
        let upstreamPort = server.boundAddresses.first?.port ?? 0
        port = System.freePort()
        let configPath = directory + "/exporter-\(sizeLabel(workload.target)).json"
        try workload.exporterConfig(upstreamPort: upstreamPort, listenPort: port, loops: loops, extraExporters: extraExporters, schedule: schedule)
            .write(toFile: configPath, atomically: true, encoding: .utf8)

        // Room for the body (allocated and touched before the clock starts).
        var buffer = [UInt8](repeating: 0, count: expectedSeries * 400 + (4 << 20))
        let clock = ContinuousClock()
        let spawned = clock.now
        let child = try ChildProcess(ExporterUnderTest.executablePath, ["exporter", "--config", configPath], name: "exporter",
                                     environment: workload.environment(), logPath: directory + "/exporter-\(sizeLabel(workload.target)).log")
        spawnedChild = child
        self.child = child
        var listening: ContinuousClock.Instant?
        var firstSeries: ContinuousClock.Instant?
        var allSeries: ContinuousClock.Instant?
        let deadline = spawned + .seconds(300)
        while allSeries == nil {
            guard child.isRunning else { throw BenchHTTPClient.Failure(description: "the exporter exited; see \(directory)/exporter-*.log") }
            guard clock.now < deadline else { throw BenchHTTPClient.Failure(description: "the exporter was not ready within 300 s") }
            if listening == nil {
                if (try? BenchHTTPClient.request(port: port, path: "/healthz"))?.status == 200 { listening = clock.now } else {
                    usleep(500)
                    continue
                }
            }
            if let body = Self.scrape(port: port, into: &buffer) {
                let now = clock.now
                let series = Int(sampleValue(body, "wechat_portrait_exposition_series") ?? 0)
                if ProcessInfo.processInfo.environment["BENCH_DEBUG"] != nil {
                    progress("poll \(milliseconds(now - spawned)) ms: \(series) series; answers \(upstream.answerCount), first \(upstream.firstAnswer.map { milliseconds($0 - spawned) } ?? -1), last \(upstream.lastAnswer.map { milliseconds($0 - spawned) } ?? -1)")
                }
                if series > 0 && firstSeries == nil { firstSeries = now }
                if series >= expectedSeries { allSeries = now }
            }
            usleep(1000)
        }
        let first = upstream.firstAnswer ?? spawned
        let last = upstream.lastAnswer ?? spawned
        coldStart = ColdStart(
            listeningMs: milliseconds(listening! - spawned),
            firstAnswerMs: milliseconds(first - spawned),
            firstAnswerToFirstSeriesMs: milliseconds(firstSeries! - first),
            lastAnswerToAllSeriesMs: milliseconds(allSeries! - last),
            readyMs: milliseconds(allSeries! - spawned),
            upstreamCalls: upstream.answerCount
        )
        started = true
    }

    /// One identity scrape's body (keep-alive client, no allocation per call beyond the result).
    static func scrape(port: UInt16, into buffer: inout [UInt8]) -> ArraySlice<UInt8>? {
        guard let (status, head, total) = rawExchange(port: port, gzip: false, into: &buffer), status == 200 else { return nil }
        return buffer[head..<total]
    }

    /// A whole response (head and body as sent) to `GET /metrics`.
    static func rawExchange(port: UInt16, gzip: Bool, into buffer: inout [UInt8]) -> (status: Int, head: Int, total: Int)? {
        let fd = bench_connect(Int32(port))
        guard fd >= 0 else { return nil }
        defer { bench_close(fd) }
        let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n"
        var status: Int32 = 0
        var head = 0
        let total = request.withCString { text in
            buffer.withUnsafeMutableBufferPointer { out in
                bench_exchange(fd, text, strlen(text), out.baseAddress, out.count, &status, &head)
            }
        }
        guard total > 0 else { return nil }
        return (Int(status), head, total)
    }

    func rawResponse(gzip: Bool, capacity: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: capacity)
        guard let (status, _, total) = Self.rawExchange(port: port, gzip: gzip, into: &buffer), status == 200 else { return nil }
        return Array(buffer[0..<total])
    }

    var residentBytes: UInt64? { System.residentBytes(pid: child.pid) }

    func stop() {
        child.stop()
        simulatorServer.stop()
    }

    /// This executable.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// prometheus-pushgateway (Debian package), loaded with the same portrait series by
/// `PUT /metrics/job/portrait` (text format). It adds `job` and `instance` labels and its own
/// `push_time_seconds`, `pushgateway_*`, `go_*` and `process_*` metrics.
final class Pushgateway {
    let child: ChildProcess
    let port: UInt16
    let version: String
    /// Time from the start of the PUT to its answer (pushgateway parses and stores it).
    let pushMs: Double
    let servedSeries: Int

    static var path: String? { System.which("prometheus-pushgateway") }

    init(path: String, exposition: [UInt8], expectedSeries: Int, directory: String, label: String) throws {
        version = System.firstLine(path, ["--version"]).map { line in
            line.split(separator: " ").dropFirst(2).first.map { "pushgateway " + $0 } ?? line
        } ?? "pushgateway"
        port = System.freePort()
        let child = try ChildProcess(path, ["--web.listen-address=127.0.0.1:\(port)", "--log.level=warn"], name: "pushgateway",
                                     logPath: directory + "/pushgateway-\(label).log")
        self.child = child
        var ready = false
        // A failure below leaves no pushgateway behind.
        defer { if !ready { child.stop() } }
        let deadline = Date().addingTimeInterval(30)
        while (try? BenchHTTPClient.request(port: port, path: "/-/ready"))?.status != 200 {
            guard Date() < deadline, child.isRunning else { throw BenchHTTPClient.Failure(description: "pushgateway did not start") }
            usleep(10_000)
        }
        let clock = ContinuousClock()
        let started = clock.now
        let answer = try BenchHTTPClient.request(port: port, method: "PUT", path: "/metrics/job/portrait",
                                                 headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8")],
                                                 body: exposition)
        pushMs = milliseconds(clock.now - started)
        guard (200..<300).contains(answer.status) else {
            throw BenchHTTPClient.Failure(description: "pushgateway refused the push: \(answer.status) \(String(decoding: answer.body.prefix(300), as: UTF8.self))")
        }
        servedSeries = portraitSeriesCount(try BenchHTTPClient.request(port: port, path: "/metrics").body)
        guard servedSeries == expectedSeries else {
            throw BenchHTTPClient.Failure(description: "pushgateway serves \(servedSeries) portrait series, expected \(expectedSeries)")
        }
        ready = true
    }

    var residentBytes: UInt64? { System.residentBytes(pid: child.pid) }

    func stop() { child.stop() }
}

/// The ceiling: the bytes our exporter sends (status line, headers, body), served by a
/// minimal C loop (`CBenchSupport/CeilingServer.c`): a thread per connection, read to the blank
/// line, one blocking send of the prebuilt response.
enum Ceiling {
    static func start(identity: [UInt8], gzip: [UInt8]) -> UInt16? {
        let port = identity.withUnsafeBufferPointer { id in
            gzip.withUnsafeBufferPointer { gz in
                bench_ceiling_start(id.baseAddress, id.count, gz.baseAddress, gz.count)
            }
        }
        return port > 0 ? UInt16(port) : nil
    }

    static func stop() { bench_ceiling_stop() }
}

@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitPrometheus
import PortraitRuntime
import Synchronization
import WeChatSimulator

/// `--soak SECONDS` (issue 5): the exporter as a child process against the simulator for a
/// given time, with upstream faults toggling every few seconds, `/metrics` scraped 10 times a
/// second (plain and gzip, each checked), and the JSONL and StatsD plugins on when this build
/// has them. Prints the exporter's RSS, open descriptors and threads at the start, along the way
/// and at the end.
///
/// To keep the fetcher busy the whole time, the simulator's data for yesterday is "not ready"
/// (its clock is early in the China day, before its ready time) while the exporter expects it:
/// the exporter serves the day before and retries yesterday every 2 s, and each retry meets
/// whatever fault is on.
enum Soak {
    static let faults: [Fault?] = [
        nil, .errcode(-1), .errcode(45011), .badGateway, .nonJSON, .truncatedJSON, .delay(.milliseconds(700)),
        .emptyArrays, .hostileNames, .valuesAsFloat, .missingSegment, .hang, nil,
    ]

    struct Probe {
        var rss: UInt64?
        var fds: Int?
        var threads: Int?

        init(pid: Int32) {
            rss = System.residentBytes(pid: pid)
            fds = System.openFiles(pid: pid)
            threads = System.threads(pid: pid)
        }

        var text: String {
            "RSS \(rss.map { BenchReport.bytes(Double($0)) } ?? "?"), open fds \(fds.map(String.init) ?? "?"), threads \(threads.map(String.init) ?? "?")"
        }
    }

    static func run(seconds: Int, options: BenchOptions) async -> Int32 {
        let directory = NSTemporaryDirectory() + "portrait-bench-soak-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let workload = Workload(target: options.sizes.first ?? 1_000)
        let known = Set(Runtime.registry.knownTypes)
        var extra: [String] = []
        var notes: [String] = []
        let receiver = UDPReceiver()
        receiver?.start()
        if known.contains("jsonl") {
            extra.append(#"{"type": "jsonl", "output": "file", "path": "\#(directory)/soak.jsonl"}"#)
        } else {
            notes.append("JSONL plugin not in this build (not yet on main): not on in the soak")
        }
        if known.contains("statsd"), let port = receiver?.port {
            extra.append(#"{"type": "statsd", "address": "127.0.0.1:\#(port)", "interval_seconds": 1}"#)
        } else {
            notes.append("StatsD plugin not in this build (not yet on main): not on in the soak")
        }
        // The simulator's clock reads 00:30 China time of today (whatever the real hour) and its
        // data is ready at 10:00, so yesterday stays "not ready" for the whole soak.
        let chinaSeconds = (Int(Date().timeIntervalSince1970) + 8 * 3600) % 86_400
        var simulator = workload.simulatorConfiguration()
        simulator.readyTime = TimeOfDay(hour: 10)
        simulator.time = ShiftedTimeSource(offset: Double(1800 - chinaSeconds))
        let schedule = #"{"ready_time": "00:00", "stagger_seconds": 0, "not_ready_retry_seconds": 2, "backoff_initial_seconds": 1, "backoff_max_seconds": 4, "config_error_retry_seconds": 5, "max_concurrent_fetches": 4}"#
        let series = portraitSeriesCount(PrometheusPlugin.render(workload.state()))

        print("soak: \(seconds) s, \(series) series (\(workload.apps.count) apps), faults toggling every 3 s, 10 scrapes/s")
        for note in notes { print("  note: " + note) }
        let exporter: ExporterUnderTest
        do {
            exporter = try ExporterUnderTest(workload: workload, loops: options.loops, expectedSeries: series, directory: directory,
                                             extraExporters: extra, simulator: simulator, schedule: schedule)
        } catch {
            print("soak: the exporter did not start: \(error)")
            return 1
        }
        defer { exporter.stop() }
        let start = Probe(pid: exporter.child.pid)
        print(String(format: "  %6.0f s  ", 0.0) + start.text)

        let clock = ContinuousClock()
        let began = clock.now
        let end = began + .seconds(seconds)
        var nextFault = began
        var nextReport = began + .seconds(max(10, seconds / 10))
        var random = SplitMix64(seed: UInt64(seconds))
        var scrapes = 0, failures = 0, toggles = 0
        var failureSamples: [String] = []
        while clock.now < end {
            if clock.now >= nextFault {
                exporter.upstream.simulator.clearFaults()
                if let fault = faults[Int(random.next() % UInt64(faults.count))] {
                    exporter.upstream.simulator.inject(fault, endpoints: [.portrait, .stableToken])
                }
                toggles += 1
                nextFault = nextFault + .seconds(3)
            }
            let gzip = scrapes % 2 == 1
            scrapes += 1
            if let problem = check(port: exporter.port, gzip: gzip, series: series) {
                failures += 1
                if failureSamples.count < 5 { failureSamples.append(problem) }
            }
            if clock.now >= nextReport {
                print(String(format: "  %6.0f s  ", milliseconds(clock.now - began) / 1000) + Probe(pid: exporter.child.pid).text)
                nextReport = nextReport + .seconds(max(10, seconds / 10))
            }
            usleep(100_000)
        }
        exporter.upstream.simulator.clearFaults()
        let finish = Probe(pid: exporter.child.pid)
        print(String(format: "  %6.0f s  ", milliseconds(clock.now - began) / 1000) + finish.text)
        print("  scrapes \(scrapes), failed \(failures); upstream portrait calls \(exporter.upstream.answerCount); fault toggles \(toggles)")
        for sample in failureSamples { print("    failure: " + sample) }
        if let receiver, extra.contains(where: { $0.contains("statsd") }) { print("  StatsD datagrams received \(receiver.count)") }
        if let size = (try? FileManager.default.attributesOfItem(atPath: directory + "/soak.jsonl"))?[.size] as? Int {
            print("  JSONL bytes written \(size)")
        }
        if let rss0 = start.rss, let rss1 = finish.rss {
            print("  RSS change \(BenchReport.f((Double(rss1) - Double(rss0)) / 1e6, 2)) MB; fds change \((finish.fds ?? 0) - (start.fds ?? 0)); threads change \((finish.threads ?? 0) - (start.threads ?? 0))")
        }
        try? FileManager.default.removeItem(atPath: directory)
        return failures == 0 ? 0 : 1
    }

    /// One scrape and its checks; a description of what was wrong, or nil.
    static func check(port: UInt16, gzip: Bool, series: Int) -> String? {
        let response: BenchHTTPClient.Response
        do {
            response = try BenchHTTPClient.request(port: port, path: "/metrics", headers: gzip ? [("Accept-Encoding", "gzip")] : [])
        } catch {
            return "scrape: \(error)"
        }
        guard response.status == 200 else { return "status \(response.status)" }
        var body = response.body
        if gzip {
            guard response.header("Content-Encoding") == "gzip" else { return "gzip asked, plain body served" }
            guard let plain = Gzip.decompress(body) else { return "gzip body does not decompress" }
            body = plain
        }
        let served = portraitSeriesCount(body)
        return served >= series ? nil : "\(served) portrait series served, expected at least \(series)"
    }
}

/// Real time moved by a fixed offset (the soak's simulator lives early in the China day).
struct ShiftedTimeSource: TimeSource {
    let offset: TimeInterval
    func now() -> Date { Date().addingTimeInterval(offset) }
    func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

/// A UDP socket on 127.0.0.1 counting the datagrams it receives (the StatsD plugin's target).
final class UDPReceiver: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    private let received = Atomic<Int>(0)

    init?() {
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
    }

    /// Starts counting on a thread of its own.
    func start() {
        let thread = Thread { [self] in
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { recv(self.fd, $0.baseAddress, $0.count, 0) }
                if n < 0 && errno != EINTR { break }
                if n >= 0 { self.received.add(1, ordering: .relaxed) }
            }
        }
        thread.start()
    }

    var count: Int { received.load(ordering: .relaxed) }
}

import Foundation

/// One wrk run's figures, from a Lua `done` hook (exact counts and percentiles).
struct WrkResult: Codable, Sendable {
    var requestsPerSecond: Double
    var p50Ms: Double
    var p90Ms: Double
    var p99Ms: Double
    var maxMs: Double
    /// wrk's bytes read over its responses (headers included); for a pushgateway run with fewer
    /// than 10 responses, the body size of one whole response instead.
    var bytesPerResponse: Double
    var requests: Int
    var errors: Int
    /// 1-minute load average when the run started.
    var loadAverage: Double
}

/// Runs wrk against a URL; parses the `BENCH_JSON` line its Lua `done` hook prints.
struct Wrk {
    let path: String
    let threads: Int
    let duration: Int
    let scriptPath: String

    static let script = """
    -- portrait-bench: print wrk's summary and latency percentiles as one JSON line.
    done = function(summary, latency, requests)
      local e = summary.errors
      io.write(string.format('BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
        '"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"errors":%d}\\n',
        summary.requests, summary.duration, summary.bytes,
        latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
        e.connect + e.read + e.write + e.status + e.timeout))
    end
    """

    init?(threads: Int, duration: Int, directory: String) {
        guard let path = System.which("wrk") else { return nil }
        self.path = path
        self.threads = threads
        self.duration = duration
        scriptPath = directory + "/report.lua"
        _ = FileManager.default.createFile(atPath: scriptPath, contents: Data(Self.script.utf8))
    }

    var version: String {
        // `wrk -v` prints "wrk 4.1.0 [epoll] Copyright (C) 2012 Will Glozer" and exits 1.
        System.firstLine(path, ["-v"]).map { $0.split(separator: " ").prefix(2).joined(separator: " ") } ?? "wrk"
    }

    func run(port: UInt16, path urlPath: String, connections: Int, gzip: Bool) -> WrkResult? {
        var arguments = ["-t\(threads)", "-c\(connections)", "-d\(duration)s", "--timeout", "30s", "-s", scriptPath]
        if gzip { arguments += ["-H", "Accept-Encoding: gzip"] }
        arguments.append("http://127.0.0.1:\(port)\(urlPath)")
        let load = System.loadAverage().first ?? 0
        guard let output = try? ChildProcess.runToEnd(path, arguments, timeout: Double(duration) + 60) else { return nil }
        guard let line = output.output.split(separator: "\n").first(where: { $0.hasPrefix("BENCH_JSON ") }),
              let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(11).utf8)) as? [String: Any] else {
            progress("  wrk gave no result: \(output.output.prefix(400))")
            return nil
        }
        func number(_ key: String) -> Double { (object[key] as? NSNumber)?.doubleValue ?? 0 }
        let requests = number("requests")
        let seconds = number("duration_us") / 1e6
        return WrkResult(
            requestsPerSecond: seconds > 0 ? requests / seconds : 0,
            p50Ms: number("p50_us") / 1000, p90Ms: number("p90_us") / 1000, p99Ms: number("p99_us") / 1000,
            maxMs: number("max_us") / 1000,
            bytesPerResponse: requests > 0 ? number("bytes") / requests : 0,
            requests: Int(requests), errors: Int(number("errors")), loadAverage: load
        )
    }
}

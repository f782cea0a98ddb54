@preconcurrency import Glibc
import CBenchSupport
import Foundation
import PortraitCore
import PortraitPrometheus

/// The benchmark run: every section for every size, then the tables and the JSON.
enum Bench {
    static func run(_ options: BenchOptions) async -> Int32 {
        let directory = NSTemporaryDirectory() + "portrait-bench-\(getpid())"
        try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let wrk = options.scrape ? Wrk(threads: options.wrkThreads, duration: options.duration, directory: directory) : nil
        let pushgatewayPath = options.scrape && options.pushgateway ? Pushgateway.path : nil
        var report = BenchReport(machine: .init(
            cores: System.cores, loadAverageStart: System.loadAverage(), loadAverageEnd: [],
            swift: "Swift " + BuildInfo.current.swiftVersion, wrk: wrk?.version, pushgateway: nil,
            wrkThreads: options.wrkThreads, runSeconds: options.duration, exporterLoops: options.loops,
            allocationCounting: bench_alloc_active() == 1
        ))
        if options.scrape && wrk == nil {
            report.notes.append("wrk is not installed: no scrape rows. Install it with `apt-get install wrk` (Debian/Ubuntu).")
        }
        if options.scrape && options.pushgateway && pushgatewayPath == nil {
            report.notes.append("prometheus-pushgateway is not installed: no pushgateway rows. Install it with `apt-get install prometheus-pushgateway` (Debian/Ubuntu).")
        }
        if !report.machine.allocationCounting {
            report.notes.append("the allocation counter is not active in this build: allocation columns show n/a")
        }
        if let load = report.machine.loadAverageStart.first, load > Double(report.machine.cores) / 2 {
            report.notes.append("the machine was busy at the start (1-min load average \(BenchReport.f(load, 2)) on \(report.machine.cores) cores): absolute figures are low; compare the ratios, measured side by side in this run")
        }
        let today = ChinaDate(containing: Date())
        progress("decode: 5,000-device answer")
        report.decode = DecodeBench.run(end: ChinaDate(dayNumber: today.dayNumber - 1))
        if let note = EncodeBench.unavailable { report.encodeNote = note }

        var highestLoad: Double?
        for size in options.sizes {
            let label = sizeLabel(size)
            let workload = Workload(target: size)
            progress("\(label): building the data (\(workload.apps.count) apps)")
            let state = workload.state()
            progress("\(label): render")
            let render = RenderBench.run(workload, state: state)
            report.render.append(render)
            report.encode += EncodeBench.run(workload, state: state)
            var facts = BenchReport.SizeFacts(size: label, series: render.series)
            progress("\(label): allocations per scrape")
            facts.scrapeAllocations = await ScrapeAllocationBench.run(state: state, workload: workload)

            if let wrk {
                do {
                    try await scrape(workload: workload, state: state, series: render.series, wrk: wrk, pushgatewayPath: pushgatewayPath,
                                     options: options, directory: directory, report: &report, facts: &facts, highestLoad: &highestLoad)
                } catch {
                    report.notes.append("\(label): scrape section failed: \(error)")
                }
            }
            report.sizes.append(facts)
        }
        report.machine.loadAverageEnd = System.loadAverage()
        report.machine.loadAverageMaxDuringScrapes = highestLoad
        report.printTables()
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            let url = URL(fileURLWithPath: options.jsonPath)
            try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try encoder.encode(report).write(to: url)
            print("figures written to \(options.jsonPath)")
        } catch {
            fputs("error: cannot write \(options.jsonPath): \(error)\n", stderr)
            return 1
        }
        try? FileManager.default.removeItem(atPath: directory)
        return 0
    }

    private static func scrape(workload: Workload, state: PortraitState, series: Int, wrk: Wrk, pushgatewayPath: String?,
                               options: BenchOptions, directory: String, report: inout BenchReport,
                               facts: inout BenchReport.SizeFacts, highestLoad: inout Double?) async throws {
        let label = sizeLabel(workload.target)
        progress("\(label): starting the exporter against the simulator (cold start)")
        let exporter = try ExporterUnderTest(workload: workload, loops: options.loops, expectedSeries: series, directory: directory)
        defer { exporter.stop() }
        facts.coldStart = exporter.coldStart
        // Let the gzip copy land and the process settle before reading its memory.
        usleep(300_000)
        facts.oursRSSLoaded = exporter.residentBytes
        let capacity = series * 400 + (4 << 20)
        guard let identity = exporter.rawResponse(gzip: false, capacity: capacity),
              let gzip = exporter.rawResponse(gzip: true, capacity: capacity) else {
            throw BenchHTTPClient.Failure(description: "no /metrics response from the exporter")
        }
        let identityHead = (BenchHTTPClient.find(identity, Array("\r\n\r\n".utf8)) ?? 0) + 4
        let gzipHead = (BenchHTTPClient.find(gzip, Array("\r\n\r\n".utf8)) ?? 0) + 4
        facts.oursBodyBytes = identity.count - identityHead
        facts.oursGzipBytes = gzip.count - gzipHead
        let gzipServed = BenchHTTPClient.find(Array(gzip[..<gzipHead]), Array("Content-Encoding: gzip".utf8)) != nil
        if !gzipServed { report.notes.append("\(label): the exporter answered Accept-Encoding: gzip without gzip") }

        var pushgateway: Pushgateway?
        if let path = pushgatewayPath {
            progress("\(label): loading prometheus-pushgateway")
            do {
                pushgateway = try Pushgateway(path: path, exposition: PrometheusPlugin.render(state), expectedSeries: series,
                                              directory: directory, label: label)
                report.machine.pushgateway = pushgateway?.version
                usleep(300_000)
                facts.pushgatewayRSSLoaded = pushgateway?.residentBytes
                facts.pushgatewayPushMs = pushgateway?.pushMs
                if let port = pushgateway?.port {
                    facts.pushgatewayBodyBytes = (try? BenchHTTPClient.request(port: port, path: "/metrics"))?.body.count
                    facts.pushgatewayGzipBytes = (try? BenchHTTPClient.request(port: port, path: "/metrics", headers: [("Accept-Encoding", "gzip")]))?.body.count
                }
            } catch {
                report.notes.append("\(label): pushgateway: \(error)")
            }
        }
        defer { pushgateway?.stop() }
        let ceilingPort = Ceiling.start(identity: identity, gzip: gzip)
        defer { Ceiling.stop() }
        if ceilingPort == nil { report.notes.append("\(label): the ceiling server did not start") }

        for connections in options.connections {
            for encoding in ["identity", "gzip"] {
                var targets: [(String, UInt16)] = [("ours", exporter.port)]
                if let port = pushgateway?.port { targets.append(("pushgateway", port)) }
                if let port = ceilingPort { targets.append(("ceiling", port)) }
                var results: [String: WrkResult] = [:]
                for (name, port) in targets {
                    progress("\(label): wrk \(name) \(connections) connections \(encoding)")
                    guard let result = wrk.run(port: port, path: "/metrics", connections: connections, gzip: encoding == "gzip") else {
                        report.notes.append("\(label): wrk against \(name) (\(connections) connections, \(encoding)) gave no result")
                        continue
                    }
                    highestLoad = max(highestLoad ?? 0, result.loadAverage)
                    var settled = result
                    // With a handful of responses, wrk's byte count is dominated by responses
                    // cut off at the end of the run: take the size of one whole response instead.
                    if result.requests < 10, name == "pushgateway",
                       let size = encoding == "gzip" ? facts.pushgatewayGzipBytes : facts.pushgatewayBodyBytes {
                        settled.bytesPerResponse = Double(size)
                    }
                    results[name] = settled
                }
                for (name, _) in targets {
                    guard let result = results[name] else { continue }
                    var row = BenchReport.ScrapeRow(size: label, target: name, connections: connections, encoding: encoding, result: result)
                    if name == "ours" {
                        if let theirs = results["pushgateway"] {
                            if theirs.requests > 0, theirs.requestsPerSecond > 0 {
                                row.oursOverPushgateway = result.requestsPerSecond / theirs.requestsPerSecond
                                row.p99PushgatewayOverOurs = result.p99Ms > 0 ? theirs.p99Ms / result.p99Ms : nil
                            } else {
                                // Not one response in the run: at most one per run.
                                row.oursOverPushgateway = result.requestsPerSecond * Double(options.duration)
                                row.pushgatewayRatioIsLowerBound = true
                            }
                        }
                        if let ceiling = results["ceiling"], ceiling.requestsPerSecond > 0 {
                            row.oursOverCeiling = result.requestsPerSecond / ceiling.requestsPerSecond
                        }
                    }
                    report.scrape.append(row)
                }
            }
        }
        facts.oursRSSAfter = exporter.residentBytes
        facts.pushgatewayRSSAfter = pushgateway?.residentBytes
    }
}

import Foundation

/// Everything one run measured; written as JSON and printed as tables.
struct BenchReport: Codable, Sendable {
    struct Machine: Codable, Sendable {
        var cores: Int
        var loadAverageStart: [Double]
        var loadAverageEnd: [Double]
        var loadAverageMaxDuringScrapes: Double?
        var swift: String
        var wrk: String?
        var pushgateway: String?
        var wrkThreads: Int
        var runSeconds: Int
        var exporterLoops: Int
        var allocationCounting: Bool
    }

    struct ScrapeRow: Codable, Sendable {
        var size: String
        var target: String
        var connections: Int
        var encoding: String
        var result: WrkResult
        /// Our req/s over this row's target's (ours rows: over pushgateway's and the ceiling's).
        var oursOverPushgateway: Double?
        var oursOverCeiling: Double?
        /// pushgateway's p99 over ours.
        var p99PushgatewayOverOurs: Double?
        /// Set when pushgateway finished no request in the run: `oursOverPushgateway` is then a
        /// lower bound (ours over one request per run).
        var pushgatewayRatioIsLowerBound: Bool?
    }

    struct SizeFacts: Codable, Sendable {
        var size: String
        var series: Int
        var oursBodyBytes: Int?
        var oursGzipBytes: Int?
        var pushgatewayBodyBytes: Int?
        var pushgatewayGzipBytes: Int?
        var oursRSSLoaded: UInt64?
        var oursRSSAfter: UInt64?
        var pushgatewayRSSLoaded: UInt64?
        var pushgatewayRSSAfter: UInt64?
        var pushgatewayPushMs: Double?
        var coldStart: ColdStart?
        var scrapeAllocations: ScrapeAllocations?
    }

    struct EncodeRow: Codable, Sendable {
        var size: String
        var format: String
        var items: Int
        var itemsPerSecond: Double
        var bytes: Int
        var datagrams: Int?
        var timing: Timing
    }

    var machine: Machine
    var render: [RenderResult] = []
    var decode: DecodeResult?
    var encode: [EncodeRow] = []
    var encodeNote: String?
    var scrape: [ScrapeRow] = []
    var sizes: [SizeFacts] = []
    var notes: [String] = []
}

// MARK: Printing

extension BenchReport {
    func printTables() {
        var out = ""
        func line(_ text: String = "") { out += text + "\n" }
        func pad(_ text: String, _ width: Int) -> String {
            let count = text.count
            return count >= width ? text : String(repeating: " ", count: width - count) + text
        }
        func padRight(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
        }
        func row(_ cells: [(String, Int)]) {
            line(cells.enumerated().map { $0.offset == 0 ? padRight($0.element.0, $0.element.1) : pad($0.element.0, $0.element.1) }.joined(separator: " "))
        }
        let m = machine
        line("portrait-bench: \(m.cores) cores, \(m.swift), \(m.wrk ?? "wrk missing"), \(m.pushgateway ?? "pushgateway missing")")
        line("load average (1/5/15 min): start \(Self.loads(m.loadAverageStart)), end \(Self.loads(m.loadAverageEnd))"
             + (m.loadAverageMaxDuringScrapes.map { ", highest 1-min at a wrk start \(Self.f($0, 2))" } ?? ""))
        line("wrk: \(m.wrkThreads) threads, \(m.runSeconds) s per run; exporter event_loop_threads \(m.exporterLoops); ceiling: a thread per connection")
        line()
        line("render: snapshot -> exposition bytes (once per new snapshot), and its gzip copy")
        row([("size", 6), ("series", 8), ("apps", 5), ("body", 10), ("render ms", 10), ("ns/series", 10), ("allocs", 8), ("alloc MB", 9), ("gzip ms", 8), ("gzip body", 10)])
        for r in render {
            row([(r.size, 6), (String(r.series), 8), (String(r.apps), 5), (Self.bytes(Double(r.bodyBytes)), 10),
                 (Self.f(r.render.medianMs, 2), 10), (Self.f(r.nsPerSeries, 0), 10),
                 (m.allocationCounting ? String(r.allocations.count) : "n/a", 8),
                 (m.allocationCounting ? Self.f(Double(r.allocations.bytes) / 1e6, 2) : "n/a", 9),
                 (Self.f(r.gzip.medianMs, 1), 8), (Self.bytes(Double(r.gzipBytes)), 10)])
        }
        line()
        line("encode: JSONL records/s; StatsD lines/s, encoding alone and with datagram packing (1,432-byte payloads)")
        if let note = encodeNote { line("  " + note) }
        if !encode.isEmpty {
            row([("size", 6), ("format", 13), ("items", 8), ("items/s", 12), ("ms", 8), ("bytes", 10), ("datagrams", 10)])
            for e in encode {
                row([(e.size, 6), (e.format, 13), (String(e.items), 8), (Self.count(e.itemsPerSecond), 12), (Self.f(e.timing.medianMs, 2), 8),
                     (e.bytes > 0 ? Self.bytes(Double(e.bytes)) : "-", 10), (e.datagrams.map(String.init) ?? "-", 10)])
            }
        }
        line()
        if let d = decode {
            line("decode: getUserPortrait answer, 5,000 device models (30-day window)")
            row([("body", 10), ("buckets", 8), ("ms", 8), ("MB/s", 8), ("allocs", 8)])
            row([(Self.bytes(Double(d.bodyBytes)), 10), (String(d.buckets), 8), (Self.f(d.decode.medianMs, 2), 8),
                 (Self.f(d.megabytesPerSecond, 0), 8), (m.allocationCounting ? String(d.allocations.count) : "n/a", 8)])
            line()
        }
        if !scrape.isEmpty {
            line("scrape: wrk on loopback, GET /metrics (p50/p99 latency; bytes per response incl. headers)")
            row([("size", 6), ("target", 12), ("conns", 6), ("encoding", 9), ("req/s", 10), ("p50 ms", 8), ("p99 ms", 8), ("bytes/resp", 11),
                 ("errors", 7), ("ours/pgw", 9), ("ours/ceil", 10), ("pgw p99/ours", 13)])
            for s in scrape {
                let none = s.result.requests == 0
                row([(s.size, 6), (s.target, 12), (String(s.connections), 6), (s.encoding, 9),
                     (none ? "<\(Self.f(1 / Double(m.runSeconds), 2))" : Self.count(s.result.requestsPerSecond), 10),
                     (none ? "-" : Self.f(s.result.p50Ms, 2), 8), (none ? "-" : Self.f(s.result.p99Ms, 2), 8),
                     (none ? "-" : Self.bytes(s.result.bytesPerResponse), 11),
                     (String(s.result.errors), 7),
                     (s.oursOverPushgateway.map { (s.pushgatewayRatioIsLowerBound == true ? ">" : "") + Self.f($0, $0 < 10 ? 2 : 0) + "x" } ?? "", 9),
                     (s.oursOverCeiling.map { Self.f($0 * 100, 0) + " %" } ?? "", 10),
                     (s.p99PushgatewayOverOurs.map { Self.f($0, $0 < 10 ? 2 : 0) + "x" } ?? "", 13)])
            }
            line()
        }
        if sizes.contains(where: { $0.oursRSSLoaded != nil || $0.scrapeAllocations != nil }) {
            line("memory, start and per-scrape cost")
            row([("size", 6), ("series", 8), ("ours RSS", 9), ("after", 9), ("pgw RSS", 9), ("after", 9), ("ours/pgw", 9),
                 ("listen ms", 10), ("ready ms", 9), ("answer->served", 15), ("allocs/scrape", 14)])
            for s in sizes {
                let ratio: String
                if let ours = s.oursRSSAfter, let theirs = s.pushgatewayRSSAfter, theirs > 0 {
                    ratio = Self.f(Double(ours) / Double(theirs), 2)
                } else { ratio = "" }
                let served = s.coldStart.map { Self.f($0.firstAnswerToFirstSeriesMs, 1) + "/" + Self.f($0.lastAnswerToAllSeriesMs, 1) } ?? ""
                let allocs = s.scrapeAllocations.map { "\($0.identity.count)/\($0.gzip.count)" } ?? ""
                row([(s.size, 6), (String(s.series), 8), (s.oursRSSLoaded.map { Self.bytes(Double($0)) } ?? "", 9),
                     (s.oursRSSAfter.map { Self.bytes(Double($0)) } ?? "", 9),
                     (s.pushgatewayRSSLoaded.map { Self.bytes(Double($0)) } ?? "", 9),
                     (s.pushgatewayRSSAfter.map { Self.bytes(Double($0)) } ?? "", 9), (ratio, 9),
                     (s.coldStart.map { Self.f($0.listeningMs, 1) } ?? "", 10), (s.coldStart.map { Self.f($0.readyMs, 0) } ?? "", 9),
                     (served, 15), (allocs, 14)])
            }
            line("  answer->served: first upstream answer -> first /metrics with series / last answer -> every series (ms)")
            line("  allocs/scrape: identity/gzip, all threads of the server, mean of \(sizes.compactMap(\.scrapeAllocations).first?.scrapes ?? 0) keep-alive scrapes")
            line()
        }
        for note in notes { line("note: " + note) }
        print(out, terminator: "")
    }

    static func f(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        if digits == 0 { return String(Int(rounded)) }
        var text = String(rounded)
        if let dot = text.firstIndex(of: ".") {
            let decimals = text.distance(from: dot, to: text.endIndex) - 1
            if decimals < digits { text += String(repeating: "0", count: digits - decimals) }
        }
        return text
    }

    static func bytes(_ value: Double) -> String {
        if value >= 1e6 { return f(value / 1e6, 2) + " MB" }
        if value >= 1e3 { return f(value / 1e3, 1) + " KB" }
        return f(value, 0) + " B"
    }

    static func count(_ value: Double) -> String {
        if value >= 1e6 { return f(value / 1e6, 2) + "M" }
        if value >= 100 { return String(Int(value.rounded())) }
        return f(value, 1)
    }

    static func loads(_ values: [Double]) -> String { values.map { f($0, 2) }.joined(separator: " ") }
}

import Foundation
import PortraitCore
import PortraitTestKit
import Testing
import WeChatSimulator

/// Simulator → exporter with all three plugins → the same numbers at /metrics, in the JSON-lines
/// file and at a real UDP listener (dogstatsd), from one fetch per app and window.
@Suite("End to end: all plugins", .timeLimit(.minutes(5)))
struct AllPluginsTests {
    /// (app, window, segment, dimension, bucket name, bucket id or "-") → value.
    typealias Table = [String: UInt64]

    static func key(_ parts: String...) -> String { parts.joined(separator: "|") }

    @Test("every plugin carries exactly the simulator's values, and no secret or token")
    func samePortraitEverywhere() async throws {
        let p = try await ExporterPipeline(ExporterPipeline.Options(jsonl: true, statsd: true, statsdDialect: "dogstatsd", firstAttemptsTimeout: .seconds(60)))

        // What the simulator served.
        let end = ChinaDate(iso: "2026-02-28")!
        let buckets = p.expectedBuckets(end: end)
        var expected = Table()
        for b in buckets {
            expected[Self.key(b.app.name!, b.window.rawValue, b.segment.rawValue, b.dimension.rawValue, b.name, b.idLabel), default: 0] += b.value
        }
        let expectedLines = buckets.count
        #expect(expected.count > 1000)

        // Prometheus.
        let port = try #require(p.service.host.plugins.compactMap { $0.summary.hasPrefix("http://") ? $0.summary : nil }.first
            .flatMap { UInt16($0.split(separator: ":")[2].split(separator: "/")[0]) })
        var prometheus = Table()
        for _ in PollingRounds() {
            let exposition = try ExpositionParser.parse(try await TestHTTPClient.request(port: port, path: "/metrics").body)
            prometheus = Table()
            for sample in exposition.samples("wechat_portrait_users") {
                let l = sample.labels
                prometheus[Self.key(l["app"]!, l["window"]!, l["segment"]!, l["dimension"]!, l["bucket"]!, l["bucket_id"] ?? "-")] = UInt64(sample.value)
            }
            if prometheus == expected { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(prometheus == expected)

        // JSON lines: one bucket line per upstream bucket, and six snapshot lines.
        var jsonl = Table()
        var bucketLines = 0
        var snapshotLines = 0
        for _ in PollingRounds() {
            let text = p.jsonlText
            jsonl = Table()
            bucketLines = 0
            snapshotLines = 0
            for line in text.split(separator: "\n") {
                let record = try JSONParser.parse(String(line))
                if record["record"]?.stringValue == "snapshot" { snapshotLines += 1; continue }
                bucketLines += 1
                let id = record["bucket_id"]?.integerValue.map(String.init) ?? "-"
                let k = Self.key(record["app"]!.stringValue!, record["window"]!.stringValue!, record["segment"]!.stringValue!,
                                 record["dimension"]!.stringValue!, record["bucket"]!.stringValue!, id)
                jsonl[k, default: 0] += UInt64(record["value"]!.integerValue!)
            }
            if snapshotLines == 6 { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(snapshotLines == 6)
        #expect(bucketLines == expectedLines)
        #expect(jsonl == expected)

        // StatsD (dogstatsd keeps UTF-8 names; ids identify buckets, devices are compared by totals).
        var statsdByID = Table()
        var statsdTotals = Table()
        var statsdLines = 0
        var expectedByID = Table()
        var expectedTotals = Table()
        for (k, value) in expected {
            let parts = k.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
            if parts[5] != "-" { expectedByID[Self.key(parts[0], parts[1], parts[2], parts[3], parts[5]), default: 0] += value }
            expectedTotals[Self.key(parts[0], parts[1], parts[2], parts[3]), default: 0] += value
        }
        for _ in PollingRounds() {
            statsdByID = Table()
            statsdTotals = Table()
            statsdLines = 0
            for datagram in p.statsdDatagrams {
                for line in String(decoding: datagram, as: UTF8.self).split(separator: "\n") {
                    let colon = try #require(line.firstIndex(of: ":"))
                    #expect(line[..<colon] == "wechat.portrait.users")
                    let pieces = String(line[line.index(after: colon)...]).components(separatedBy: "|g|#")
                    let value = try #require(UInt64(pieces[0]))
                    var tags: [String: String] = [:]
                    for tag in pieces[1].split(separator: ",") {
                        let pair = tag.split(separator: ":", maxSplits: 1)
                        tags[String(pair[0])] = String(pair[1])
                    }
                    let base = Self.key(tags["app"]!, tags["window"]!, tags["segment"]!, tags["dimension"]!)
                    statsdTotals[base, default: 0] += value
                    if let id = tags["bucket_id"] { statsdByID[base + "|" + id, default: 0] += value }
                    statsdLines += 1
                }
            }
            if statsdLines >= expectedLines { break }
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(statsdLines == expectedLines)
        #expect(statsdByID == expectedByID)
        #expect(statsdTotals == expectedTotals)

        // One fetch per app and window fed all three.
        #expect(p.upstream.calls.portrait == 6)

        // No secret or token anywhere.
        let outputs = [p.sink.lines.joined(separator: "\n"), p.jsonlText,
                       p.statsdDatagrams.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n"),
                       try await TestHTTPClient.request(port: port, path: "/metrics").text]
        for secret in p.apps.map(\.secret) + p.upstream.simulator.allIssuedTokens() {
            for output in outputs { #expect(!output.contains(secret)) }
        }
        await p.stop()
    }
}

import Foundation
import PortraitTestKit
import Testing

/// A quick run of the benchmark tool (1k series, 1 s wrk runs, no pushgateway): it starts, its
/// sections produce figures and the JSON is written. The rows that need wrk are checked only
/// when wrk is installed; the tool itself skips them with an install hint otherwise.
@Suite("portrait-bench smoke run", .serialized, .timeLimit(.minutes(5)))
struct BenchSmokeTests {
    @Test("--quick writes render, decode and scrape figures")
    func quickRun() async throws {
        let bench = RunningProcess.builtProduct("portrait-bench")
        let json = NSTemporaryDirectory() + "portrait-bench-smoke-\(getpid()).json"
        defer { try? FileManager.default.removeItem(atPath: json) }
        let result = try await Subprocess.run(bench, ["--quick", "--no-pushgateway", "--duration", "1", "--json", json],
                                        timeout: .seconds(150))
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("render: snapshot -> exposition bytes"))

        let report = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any])
        let render = try #require((report["render"] as? [[String: Any]])?.first)
        #expect((render["series"] as? Int).map { (900...1_200).contains($0) } == true)
        #expect(((render["bodyBytes"] as? Int) ?? 0) > ((render["gzipBytes"] as? Int) ?? .max))
        let decode = try #require(report["decode"] as? [String: Any])
        #expect(((decode["megabytesPerSecond"] as? Double) ?? 0) > 0)

        let sizes = try #require(report["sizes"] as? [[String: Any]])
        let allocations = try #require(sizes.first?["scrapeAllocations"] as? [String: Any])
        #expect(allocations["identity"] != nil && allocations["gzip"] != nil)

        let scrape = report["scrape"] as? [[String: Any]] ?? []
        if ExternalTool.locate("wrk") == nil {
            #expect(scrape.isEmpty)
            #expect(result.output.contains("apt-get install wrk"))
            return
        }
        for target in ["ours", "ceiling"] {
            for encoding in ["identity", "gzip"] {
                let row = scrape.first { $0["target"] as? String == target && $0["encoding"] as? String == encoding }
                let figures = try #require(row?["result"] as? [String: Any], "\(target) \(encoding)")
                #expect(((figures["requests"] as? Int) ?? 0) > 0, "\(target) \(encoding)")
                #expect((figures["errors"] as? Int) == 0, "\(target) \(encoding)")
            }
        }
        let ours = scrape.filter { $0["target"] as? String == "ours" }
        let bytes = ours.map { (($0["result"] as? [String: Any])?["bytesPerResponse"] as? Double) ?? 0 }
        #expect(bytes.count == 2 && bytes[1] < bytes[0] / 3, "gzip responses are smaller")
        #expect(ours.allSatisfy { $0["oursOverCeiling"] is Double })
        let facts = try #require(sizes.first)
        #expect(facts["coldStart"] is [String: Any])
        #expect(((facts["oursRSSLoaded"] as? Int) ?? 0) > 0)
    }
}

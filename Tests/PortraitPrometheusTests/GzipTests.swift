import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import PortraitPrometheus

@Suite("gzip codec")
struct GzipCodecTests {
    @Test("a member decompresses to its input", arguments: [0, 1, 100, 70_000, 1_000_000])
    func roundTrip(size: Int) throws {
        var random = SplitMix64(seed: UInt64(size))
        let input = (0..<size).map { _ in UInt8(truncatingIfNeeded: random.next() % 40 + 48) }
        let member = Gzip.compress(input)
        #expect(member.prefix(3) == [0x1F, 0x8B, 8])
        #expect(try #require(Gzip.decompress(member)) == input)
    }

    @Test("concatenated members are one stream of the concatenated texts")
    func multiMember() throws {
        let parts = ["# HELP a A.\n# TYPE a gauge\na 1\n", "", "b{x=\"y\"} 2\n"].map { Array($0.utf8) }
        let stream = parts.map { Gzip.compress($0) }.reduce([], +)
        #expect(try #require(Gzip.decompress(stream)) == parts.reduce([], +))
    }

    @Test("garbage and truncated streams are refused")
    func invalid() {
        let member = Gzip.compress(Array("hello, world\n".utf8))
        #expect(Gzip.decompress(Array(member.dropLast(4))) == nil)
        #expect(Gzip.decompress(Array("not gzip".utf8)) == nil)
        #expect(Gzip.decompress([]) == nil)
        #expect(Gzip.decompress(Gzip.compress([UInt8](repeating: 65, count: 10_000)), limit: 100) == nil)
    }

    @Test("gzip -d reads a multi-member stream", .timeLimit(.minutes(5)))
    func gzipTool() async throws {
        guard let gzip = ExternalTool.locate("gzip") else { return }
        let text = "wechat_portrait_users{app=\"shop\",bucket=\"广东省\"} 215\n"
        let stream = Gzip.compress(Array(text.utf8)) + Gzip.compress(Array("tail 1\n".utf8))
        let result = try await Subprocess.run(gzip, ["-dc"], input: stream)
        #expect(result.status == 0)
        #expect(result.output == text + "tail 1\n")
    }
}

@Suite("Accept-Encoding")
struct AcceptEncodingTests {
    @Test("which requests get gzip", arguments: [
        ("gzip", true),
        ("GZIP", true),
        ("x-gzip", true),
        ("gzip, deflate, br", true),
        ("deflate, gzip;q=1.0, *;q=0.5", true),
        ("gzip;q=0.001", true),
        (" gzip ; q=0.5 ", true),
        ("*", true),
        ("identity, *;q=0.1", true),
        ("gzip;q=0", false),
        ("gzip;q=0.000", false),
        ("gzip;q=0, *;q=1", false),
        ("*;q=0", false),
        ("identity", false),
        ("deflate, br", false),
        ("", false),
        ("gzip;q=2", false),
        ("gzip;q=abc", false),
        ("gzipx", false),
    ])
    func table(value: String, expected: Bool) {
        #expect(AcceptEncoding.acceptsGzip(["Accept-Encoding": value]) == expected)
    }

    @Test("no field, and several fields")
    func fields() {
        #expect(!AcceptEncoding.acceptsGzip([:]))
        #expect(!AcceptEncoding.acceptsGzip(["Accept": "gzip"]))
        #expect(AcceptEncoding.acceptsGzip(HTTPHeaders([("Accept-Encoding", "br"), ("accept-encoding", "gzip")])))
    }
}

@Suite("gzip /metrics over loopback", .serialized, .timeLimit(.minutes(5)))
struct GzipEndpointTests {
    struct Running {
        let plugin: PrometheusPlugin
        let board: StatusBoard
        let port: UInt16

        func get(_ path: String = "/metrics", method: String = "GET", acceptEncoding: String? = nil) async throws -> TestHTTPResponse {
            var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n"
            if let acceptEncoding { request += "Accept-Encoding: \(acceptEncoding)\r\n" }
            let raw = try await TestHTTPClient.exchange(port: port, request: request + "\r\n", timeoutSeconds: 5)
            return try TestHTTPClient.parse(raw, isHead: method == "HEAD")
        }
    }

    static let apps = [Fixtures.shop, Fixtures.blog]

    func start(refresh: Duration = .seconds(60)) async throws -> Running {
        var configuration = PrometheusPlugin.Configuration(listen: [try ListenAddress(parsing: "127.0.0.1:0")])
        configuration.counterRefreshInterval = refresh
        let plugin = PrometheusPlugin(configuration: configuration)
        let board = StatusBoard(apps: Self.apps, windows: [.day1, .day7], startedAt: Date())
        try await plugin.start(context: Fixtures.context(board: board))
        let port = try #require(plugin.boundAddresses.first?.port)
        return Running(plugin: plugin, board: board, port: port)
    }

    func state(generation: UInt64 = 1, extra: UInt64 = 0) -> PortraitState {
        var portrait = Fixtures.smallPortrait()
        portrait[.active, .city] = (0..<300).map { Bucket(id: Int64($0), name: "城市\($0)", value: UInt64($0) + extra) }
        return Fixtures.state([
            Fixtures.snapshot(Fixtures.shop, .day1, portrait),
            Fixtures.snapshot(Fixtures.blog, .day7, Fixtures.smallPortrait()),
        ], apps: Self.apps, windows: [.day1, .day7], generation: generation)
    }

    @Test("Accept-Encoding: gzip gets the gzip copy of exactly the plain body, with Content-Encoding and Vary")
    func gzipEqualsIdentity() async throws {
        let running = try await start()
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        Fixtures.markAllSucceeded(running.board, apps: Self.apps, windows: [.day1, .day7])
        let plain = try await running.get()
        let gzipped = try await running.get(acceptEncoding: "gzip, deflate")
        let head = try await running.get(method: "HEAD", acceptEncoding: "gzip")
        await running.plugin.stop()

        #expect(plain.status == 200)
        #expect(plain.header("Content-Encoding") == nil)
        #expect(plain.header("Vary") == "Accept-Encoding")
        #expect(gzipped.status == 200)
        #expect(gzipped.header("Content-Encoding") == "gzip")
        #expect(gzipped.header("Vary") == "Accept-Encoding")
        #expect(gzipped.header("Content-Type") == "text/plain; version=0.0.4; charset=utf-8")
        #expect(gzipped.body.count < plain.body.count / 3)
        let inflated = try #require(Gzip.decompress(gzipped.body))
        #expect(inflated == plain.body)
        #expect(inflated.text.contains("wechat_portrait_fetch_attempts_total"))  // the status part is there
        #expect(inflated.text.contains("wechat_portrait_http_requests_total"))  // and the counters part
        #expect(head.header("Content-Length") == String(gzipped.body.count))
        #expect(head.header("Content-Encoding") == "gzip")
        #expect(head.body.isEmpty)
    }

    @Test("gzip -d reads the served body")
    func gzipToolReadsScrape() async throws {
        let running = try await start()
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        let plain = try await running.get()
        let gzipped = try await running.get(acceptEncoding: "gzip")
        await running.plugin.stop()
        guard let gzip = ExternalTool.locate("gzip") else { return }
        let result = try await Subprocess.run(gzip, ["-dc"], input: gzipped.body)
        #expect(result.status == 0)
        #expect(result.output == plain.text)
    }

    @Test("no Accept-Encoding, gzip;q=0 and other codings get the plain body", arguments: [nil, "gzip;q=0", "identity", "br, deflate", "*;q=0"] as [String?])
    func identity(acceptEncoding: String?) async throws {
        let running = try await start()
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        let response = try await running.get(acceptEncoding: acceptEncoding)
        await running.plugin.stop()
        #expect(response.status == 200)
        #expect(response.header("Content-Encoding") == nil)
        #expect(response.header("Vary") == "Accept-Encoding")
        #expect(response.text.contains("wechat_portrait_users{"))
    }

    @Test("the data part is compressed once per state; counter and status refreshes recompress only their part")
    func compressedOncePerChange() async throws {
        let running = try await start(refresh: .milliseconds(30))
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        var last: (plain: [UInt8], gzip: [UInt8]) = ([], [])
        for round in 0..<4 {
            if round == 2 { running.board.recordAttemptStarted(SnapshotKey(app: "shop", window: .day1), at: Date()) }
            try await Task.sleep(for: .milliseconds(40))
            // Same refresh window for both (the counters are 30 ms fresh), then compare.
            let gzip = try #require(running.plugin.endpoint.gzipMetricsBody())
            let plain = running.plugin.currentExposition()
            #expect(Gzip.decompress(gzip) == plain)
            last = (plain, gzip)
        }
        let counts = running.plugin.endpoint.renderCounts
        #expect(counts.data == 1)
        #expect(counts.gzipData == 1)
        #expect(counts.counters >= 4)
        #expect(counts.gzipTail >= 4)
        #expect(counts.gzipTail <= counts.counters + counts.status)

        // A new state: recompressed once, and the new values are in the gzip copy.
        await running.plugin.publish(state(generation: 2, extra: 1000))
        await running.plugin.endpoint.gzipSettled()
        let gzip = try await running.get(acceptEncoding: "gzip")
        await running.plugin.stop()
        let text = try #require(Gzip.decompress(gzip.body)).text
        #expect(text.contains(#"bucket="城市7",bucket_id="7"} 1007"#))
        #expect(running.plugin.endpoint.renderCounts.gzipData == 2)
        #expect(!last.plain.isEmpty)
    }

    @Test("repeated gzip scrapes serve the same cached bytes without compressing")
    func gzipScrapeDoesNotCompress() async throws {
        let running = try await start()
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        let first = try await running.get(acceptEncoding: "gzip")
        let counts = running.plugin.endpoint.renderCounts
        let second = try await running.get(acceptEncoding: "gzip")
        let third = try await running.get(acceptEncoding: "gzip")
        let after = running.plugin.endpoint.renderCounts
        await running.plugin.stop()
        #expect(first.body == second.body)
        #expect(second.body == third.body)
        #expect(after == counts)
    }

    @Test("a real Prometheus scrapes the gzip copy", .timeLimit(.minutes(5)))
    func prometheusScrape() async throws {
        guard let prometheus = ExternalTool.require("prometheus", package: "prometheus",
                                                    purpose: "scrape the gzip exposition with a real Prometheus") else { return }
        let running = try await start(refresh: .milliseconds(200))
        await running.plugin.publish(state())
        await running.plugin.endpoint.gzipSettled()
        let directory = NSTemporaryDirectory() + "gzip-prometheus-\(getpid())-\(running.port)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let config = """
        global: {scrape_interval: 1s, scrape_timeout: 1s}
        scrape_configs:
          - job_name: portrait
            static_configs: [{targets: ["127.0.0.1:\(running.port)"]}]
        """
        try config.write(toFile: directory + "/prometheus.yml", atomically: true, encoding: .utf8)
        let webPort = try freeLoopbackPort()
        let process = try RunningProcess(prometheus, [
            "--config.file=\(directory)/prometheus.yml", "--storage.tsdb.path=\(directory)/data",
            "--web.listen-address=127.0.0.1:\(webPort)", "--log.level=warn",
        ])
        defer { process.send(SIGKILL) }

        let expected = String(try ExpositionParser.parse(running.plugin.currentExposition()).samples("wechat_portrait_users").count)
        var series: String?
        var up: String?
        let deadline = ContinuousClock.now.advanced(by: .seconds(60))
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(300))
            up = await Self.query(webPort, "up")
            series = await Self.query(webPort, "wechat_portrait_exposition_series")
            if up == "1", series != nil { break }
        }
        let counts = running.plugin.endpoint.renderCounts
        await running.plugin.stop()
        #expect(up == "1")
        #expect(series == expected)
        #expect(counts.gzipAssemblies >= 1, "Prometheus asked for gzip and got it")
        let users = await Self.query(webPort, #"count(wechat_portrait_users)"#)
        #expect(users == expected)
    }

    /// The value of the first sample of an instant query, or nil.
    static func query(_ port: UInt16, _ promql: String) async -> String? {
        let encoded = promql.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? promql
        guard let response = try? await TestHTTPClient.request(port: port, path: "/api/v1/query?query=\(encoded)"),
              response.status == 200,
              let object = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let data = object["data"] as? [String: Any],
              let result = data["result"] as? [[String: Any]],
              let value = result.first?["value"] as? [Any], value.count == 2 else { return nil }
        return value[1] as? String
    }
}

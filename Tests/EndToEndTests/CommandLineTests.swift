import Foundation
import PortraitHTTP
import PortraitRuntime
import PortraitTestKit
import Testing

/// The executable itself, as a user runs it.
@Suite("Command line", .timeLimit(.minutes(5)))
struct CommandLineTests {

    @Test("arguments parse into commands", arguments: [
        (["--demo"], Command.demo(DemoOptions())),
        (["--config", "a.json"], .run(configPath: "a.json", logLevel: nil)),
        (["--config", "a.json", "--log-level", "debug"], .run(configPath: "a.json", logLevel: .debug)),
        (["check-config", "a.json"], .checkConfig(path: "a.json")),
        (["simulate"], .simulate(SimulateOptions())),
        (["--help"], .help),
        (["--version"], .version),
    ])
    func parse(arguments: [String], expected: Command) throws {
        #expect(try Command.parse(arguments) == expected)
    }

    @Test("usage mistakes are errors", arguments: [[], ["--config"], ["--demo", "--config", "x"], ["--frobnicate"], ["check-config"], ["--log-level", "loud", "--demo"]])
    func usageErrors(arguments: [String]) {
        #expect(throws: UsageError.self) { try Command.parse(arguments) }
    }

    @Test("check-config: exit 0 and a summary for a good config, exit 2 and every problem for a bad one")
    func checkConfig() async throws {
        let good = try TemporaryFile.written("config", #"{"apps":[{"name":"shop","appid":"wx0123456789abcdef","secret_env":"HOME"}],"exporters":[{"type":"prometheus"}]}"#)
        defer { good.remove() }
        let ok = try await Subprocess.run(ExporterProcess.binary, ["check-config", good.path])
        #expect(ok.status == 0, "\(ok.output)")
        #expect(ok.output.contains("OK"))
        #expect(ok.output.contains("shop (wx0123456789abcdef, stable token)"))

        let bad = try TemporaryFile.written("config", """
        {"apps":[{"appid":"wx0123456789abcdef","secret_env":"NO_SUCH_VARIABLE_42"},{"appid":"bad id"}],
         "exporters":[{"type":"prometheus","listen":"nowhere"},{"type":"carrier-pigeon"}],
         "windows":["2d"],"upstream":{"timeout_seconds":0}}
        """)
        defer { bad.remove() }
        let failed = try await Subprocess.run(ExporterProcess.binary, ["check-config", bad.path])
        #expect(failed.status == 2)
        for fragment in ["apps[0].secret_env: environment variable NO_SUCH_VARIABLE_42 is not set", "apps[1].appid:",
                         "exporters[0].listen", "exporters[1].type: unknown exporter type \"carrier-pigeon\"",
                         "windows[0]:", "upstream.timeout_seconds: must be between 1 and 300"] {
            #expect(failed.output.contains(fragment), "missing \(fragment) in:\n\(failed.output)")
        }
    }

    @Test("a missing config file and a usage error exit 2")
    func exitCodes() async throws {
        #expect(try await Subprocess.run(ExporterProcess.binary, ["--config", "/nonexistent/config.json"]).status == 2)
        #expect(try await Subprocess.run(ExporterProcess.binary, ["--bogus"]).status == 2)
        #expect(try await Subprocess.run(ExporterProcess.binary, ["--help"]).status == 0)
    }

    @Test("a listen port already in use: exit 2 before anything starts, naming the address")
    func portInUse() async throws {
        let held = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]),
                              handler: HTTPHandlerFunction { _ in .text(200, "busy") })
        try held.start()
        try await withCleanup({ await held.shutdown() }) {
            let port = held.boundAddresses[0].port
            let config = try TemporaryFile.written("config", #"{"apps":[{"name":"shop","appid":"wx0123456789abcdef","secret_env":"HOME"}],"exporters":[{"type":"prometheus","listen":"127.0.0.1:\#(port)"}]}"#)
            defer { config.remove() }
            let result = try await Subprocess.run(ExporterProcess.binary, ["--config", config.path])
            #expect(result.status == 2)
            #expect(result.output.contains("127.0.0.1:\(port): address already in use"), "\(result.output)")
        }
    }

    @Test("--demo serves the full portrait of both demo apps and stops cleanly on SIGTERM")
    func demo() async throws {
        let process = try RunningProcess(ExporterProcess.binary, ["--demo", "--listen", "127.0.0.1:0"])
        try #require(await process.waitForOutput(containing: "Stop with Ctrl-C"), "banner never came: \(process.standardError)")
        let line = try #require(process.standardOutput.split(separator: "\n").first { $0.contains("prometheus:") })
        let url = try #require(line.split(separator: " ").last)
        let port = try #require(UInt16(url.split(separator: ":").last!.split(separator: "/").first!))
        var ready = false
        for _ in PollingRounds() {
            guard !ready else { break }
            ready = (try? await TestHTTPClient.request(port: port, path: "/readyz").status) == 200
            if !ready { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(ready, "not ready: \(process.standardError)")
        // /readyz follows the status board; the exposition is rendered from the newest state a
        // moment later (latest-wins hand-off), so give the last snapshot time to show up.
        var combinations: Set<String> = []
        for _ in PollingRounds() {
            guard combinations.count < 2 * 3 * 2 * 6 else { break }
            let exposition = try ExpositionParser.parse(try await TestHTTPClient.request(port: port, path: "/metrics").body)
            combinations = Set(exposition.samples("wechat_portrait_users").map {
                [$0.labels["app"]!, $0.labels["window"]!, $0.labels["segment"]!, $0.labels["dimension"]!].joined(separator: "/")
            })
            if combinations.count < 2 * 3 * 2 * 6 { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(combinations.count == 2 * 3 * 2 * 6)
        process.send(SIGTERM)
        #expect(await process.waitForExit() == 0)
        #expect(process.standardError.contains("msg=stopped"))
    }
}

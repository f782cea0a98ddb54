import Foundation
import PortraitCore
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// `simulate --ticket-file` as a platform's callback server and the exporter run with `--config`
/// against it: real processes, real time.
@Suite("Command line: third-party platform", .timeLimit(.minutes(5)))
struct ComponentCommandLineTests {
    static let binary = RunningProcess.builtProduct("wechat-portrait-exporter")

    @Test("simulate --ticket-file parses")
    func parse() throws {
        var options = SimulateOptions()
        options.ticketFile = "/tmp/ticket"
        #expect(try Command.parse(["simulate", "--ticket-file", "/tmp/ticket"]) == .simulate(options))
        #expect(throws: UsageError.self) { try Command.parse(["simulate", "--ticket-file"]) }
    }

    @Test("three merchants through the real binaries: ready, one component-token call, no secret on standard error")
    func realProcesses() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("component-cli-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ticketPath = directory + "/component_verify_ticket"

        let simulator = try RunningProcess(Self.binary, ["simulate", "--listen", "127.0.0.1:0", "--ticket-file", ticketPath])
        try #require(await simulator.waitForOutput(containing: "Stop with Ctrl-C"), "no banner: \(simulator.standardError)")
        #expect(simulator.standardOutput.contains("component_verify_ticket: written to \(ticketPath)"))
        let mode = try FileManager.default.attributesOfItem(atPath: ticketPath)[.posixPermissions] as? NSNumber
        #expect(mode?.intValue == 0o600)
        let line = try #require(simulator.standardOutput.split(separator: "\n").first { $0.contains("listening on http://") })
        let upstream = String(try #require(line.split(separator: " ").first { $0.hasPrefix("http://") }))
        let upstreamPort = try #require(UInt16(upstream.split(separator: ":").last!))

        let platform = SimulatedComponent.demo
        var environment = ProcessInfo.processInfo.environment
        environment["COMPONENT_APPSECRET"] = platform.secret
        let apps = platform.authorizers.map { merchant -> String in
            environment["RT_\(merchant.name!.uppercased())"] = merchant.refreshToken
            return #"{"name":"\#(merchant.name!)","appid":"\#(merchant.appid)","refresh_token_env":"RT_\#(merchant.name!.uppercased())"}"#
        }
        let configPath = directory + "/config.json"
        try """
        {"upstream":{"base_url":"\(upstream)"},"token":{"source":"component"},"schedule":{"stagger_seconds":0},
         "component":{"appid":"\(platform.appid)","secret_env":"COMPONENT_APPSECRET","verify_ticket_file":"\(ticketPath)"},
         "apps":[\(apps.joined(separator: ","))],
         "exporters":[{"type":"prometheus","listen":"127.0.0.1:0"}],"log":{"level":"debug"}}
        """.write(toFile: configPath, atomically: true, encoding: .utf8)
        let exporter = try RunningProcess(Self.binary, ["--config", configPath], environment: environment)

        var port: UInt16?
        for _ in PollingRounds() {
            if let found = exporter.standardError.split(separator: "\n").first(where: { $0.contains("prometheus exporter listening") }),
               let address = found.split(separator: " ").first(where: { $0.hasPrefix("addresses=127.0.0.1:") }) {
                port = UInt16(address.split(separator: ":").last!)
                break
            }
            if !exporter.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        let exporterPort = try #require(port, "exporter did not start: \(exporter.standardError)")
        var ready = false
        for _ in PollingRounds() {
            if try await TestHTTPClient.request(port: exporterPort, path: "/readyz").status == 200 { ready = true; break }
            try await Task.sleep(for: .milliseconds(50))
        }
        #expect(ready, "not ready: \(exporter.standardError.suffix(2000))")

        let stats = try JSONParser.parse(try await TestHTTPClient.request(port: upstreamPort, path: "/-/stats").body)
        #expect(stats["total"]?["component_token"]?.integerValue == 1)
        #expect(stats["total"]?["authorizer_token"]?.integerValue == 3)
        #expect(stats["total"]?["portrait_successes"]?.integerValue == 9)

        exporter.send(SIGTERM)
        #expect(await exporter.waitForExit() == 0)
        simulator.send(SIGTERM)
        #expect(await simulator.waitForExit() == 0)

        let log = exporter.standardError
        let ticket = try String(contentsOfFile: ticketPath, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        for secret in [platform.secret, ticket] + platform.authorizers.map(\.refreshToken) {
            #expect(!log.contains(secret))
        }
        // Tokens the simulator issues start 88_ (component) and 89_ (authorizer): none in the log.
        #expect(!log.contains("88_") && !log.contains("89_"))
        #expect(log.contains("component access token refreshed"))
    }
}

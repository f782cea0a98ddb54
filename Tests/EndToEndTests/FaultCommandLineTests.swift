import Foundation
import PortraitCore
import PortraitRuntime
import PortraitTestKit
import Testing
import WeChatSimulator

/// `wechat-portrait-exporter simulate --faults FILE` and the admin API of the running simulator,
/// as a person uses them: the built binary, real sockets, the real clock.
@Suite("Faults: simulate --faults and the admin API", .timeLimit(.minutes(5)))
struct FaultCommandLineTests {
    static let shop = SimulatedApp.demoShop

    @Test func parsesTheOption() throws {
        var options = SimulateOptions()
        options.faultsPath = "f.json"
        #expect(try Command.parse(["simulate", "--faults", "f.json"]) == .simulate(options))
        #expect(throws: UsageError.self) { try Command.parse(["simulate", "--faults"]) }
        #expect(Command.usage.contains("--faults FILE"))
    }

    @Test("a bad faults file exits 2 naming the entry and the key")
    func badFile() async throws {
        let faultsFile = try TemporaryFile.written("faults", #"[{"fault":"hang"},{"fault":"errcode","every":0,"errcode":-1}]"#)
        defer { faultsFile.remove() }
        let result = try await Subprocess.run(ExporterProcess.binary, ["simulate", "--listen", "127.0.0.1:0", "--faults", faultsFile.path], timeout: .seconds(20))
        #expect(result.status == 2)
        #expect(result.output.contains("--faults \(faultsFile.path): [1] every: must be at least 1"), "\(result.output)")
        let missing = try await Subprocess.run(ExporterProcess.binary, ["simulate", "--listen", "127.0.0.1:0", "--faults", "/nonexistent/faults.json"], timeout: .seconds(20))
        #expect(missing.status == 2)
    }

    @Test("faults from the file apply at once; more are injected, listed and cleared over loopback; tokens invalidated")
    func simulateWithFaults() async throws {
        let faultsFile = try TemporaryFile.written("faults", """
            [{"fault":"system_error","count":1,"appids":["\(Self.shop.appid)"]},
             {"fault":"hostile_names","count":1}]
            """)
        defer { faultsFile.remove() }
        let process = try RunningProcess(ExporterProcess.binary, ["simulate", "--listen", "127.0.0.1:0", "--faults", faultsFile.path])
        try #require(await process.waitForOutput(containing: "Stop with Ctrl-C"), "no banner: \(process.standardError)")
        #expect(process.standardOutput.contains("fault: errcode(-1) apps \(Self.shop.appid) for 1 call"))
        #expect(process.standardOutput.contains("/-/faults"))
        let line = try #require(process.standardOutput.split(separator: "\n").first { $0.contains("listening on http://") })
        let address = try #require(line.split(separator: " ").first { $0.hasPrefix("http://") })
        let port = try #require(UInt16(address.split(separator: ":").last!))

        let listed = try await TestHTTPClient.request(port: port, path: "/-/faults")
        #expect(listed.status == 200)
        let faults = try #require(try JSONParser.parse(listed.body)["faults"]?.arrayValue)
        #expect(faults.map { $0["fault"]?.stringValue } == ["errcode", "hostile_names"])

        // The exporter's own client against it.
        let client = WeChatClient(baseURL: "http://127.0.0.1:\(port)", transport: URLSessionTransport(requestTimeout: .seconds(5)), timeout: .seconds(5))
        let token = try await client.stableToken(appid: Self.shop.appid, secret: Secret(Self.shop.secret)).token
        let end = ChinaDate(containing: Date()).adding(days: -1)
        let busy = await #expect(throws: FetchFailure.self) { try await client.userPortrait(accessToken: token, window: .day1, end: end) }
        #expect(busy?.errcode == -1)
        let hostile = try await client.userPortrait(accessToken: token, window: .day1, end: end)
        #expect(hostile.portrait[.active, .province].contains { $0.name == "|:#,=;@" })

        // Inject over the admin API (loopback), then clear it.
        let added = try await Self.post(port: port, path: "/-/faults", body: #"{"fault":"bad_gateway","count":1}"#)
        #expect(added.status == 200)
        #expect(added.text.contains(#""id":3"#), "\(added.text)")
        let gateway = await #expect(throws: FetchFailure.self) { try await client.userPortrait(accessToken: token, window: .day7, end: end) }
        #expect(gateway?.reason == .http)
        #expect(try await Self.post(port: port, path: "/-/faults", body: #"{"fault":"hang"}"#).status == 200)
        #expect(try await TestHTTPClient.request(port: port, method: "DELETE", path: "/-/faults").text == "{\"cleared\":1}\n")
        #expect(try await client.userPortrait(accessToken: token, window: .day30, end: end).portrait.bucketCount > 0)

        // Tokens: invalidated → 40001 for the old one; the stable endpoint hands out a new one.
        #expect(try await Self.post(port: port, path: "/-/tokens/invalidate", body: "").text == "{\"invalidated\":1}\n")
        let rejected = await #expect(throws: FetchFailure.self) { try await client.userPortrait(accessToken: token, window: .day1, end: end) }
        #expect(rejected?.errcode == 40001)
        let fresh = try await client.stableToken(appid: Self.shop.appid, secret: Secret(Self.shop.secret)).token
        #expect(fresh != token)
        #expect(try await Self.post(port: port, path: "/-/tokens/expire", body: "").text == "{\"expired\":1}\n")
        let expired = await #expect(throws: FetchFailure.self) { try await client.userPortrait(accessToken: fresh, window: .day1, end: end) }
        #expect(expired?.errcode == 42001)

        let stats = try JSONParser.parse(try await TestHTTPClient.request(port: port, path: "/-/stats").body)
        #expect(stats["apps"]?[Self.shop.appid]?["portrait"]?.integerValue == 6)
        #expect(stats["apps"]?[Self.shop.appid]?["portrait_errors"]?["40001"]?.integerValue == 1)

        process.send(SIGTERM)
        #expect(await process.waitForExit() == 0)
    }

    /// A POST with a body over loopback.
    static func post(port: UInt16, path: String, body: String) async throws -> TestHTTPResponse {
        let request = "POST \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\nContent-Type: application/json\r\n"
            + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        return try TestHTTPClient.parse(try await TestHTTPClient.exchange(port: port, request: request, timeoutSeconds: 5), isHead: false)
    }
}

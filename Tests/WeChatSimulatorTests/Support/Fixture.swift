import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import WeChatSimulator

/// Test apps: "alpha" and "beta" with fixed credentials.
enum TestApps {
    static let alpha = SimulatedApp(appid: "wx00000000000000a1", secret: "a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1", name: "alpha")
    static let beta = SimulatedApp(appid: "wx00000000000000b2", secret: "b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2", name: "beta")
}

/// A simulator on a hand-set clock (default: 2026-03-10 12:00 China time, data ready at 10:00).
struct Fixture {
    let clock: TestClock
    let simulator: WeChatSimulator

    init(
        at date: Date = chinaTime(2026, 3, 10, 12),
        apps: [SimulatedApp] = [TestApps.alpha, TestApps.beta],
        readyTime: TimeOfDay = TimeOfDay(hour: 10),
        components: [SimulatedComponent] = [],
        seed: UInt64 = 7
    ) {
        clock = TestClock(date)
        var configuration = WeChatSimulator.Configuration(apps: apps, readyTime: readyTime, time: clock, seed: seed)
        configuration.components = components
        simulator = WeChatSimulator(configuration: configuration)
    }

    var today: ChinaDate { ChinaDate(containing: clock.now()) }
    var yesterday: ChinaDate { today.adding(days: -1) }

    // MARK: Requests

    func legacyToken(_ app: SimulatedApp = TestApps.alpha) -> HTTPResponse {
        get("/cgi-bin/token?grant_type=client_credential&appid=\(app.appid)&secret=\(app.secret)")
    }

    func stableToken(_ app: SimulatedApp = TestApps.alpha, forceRefresh: Bool = false) -> HTTPResponse {
        post("/cgi-bin/stable_token", json: """
            {"grant_type":"client_credential","appid":"\(app.appid)","secret":"\(app.secret)","force_refresh":\(forceRefresh)}
            """)
    }

    /// A valid stable token for `app`.
    func token(_ app: SimulatedApp = TestApps.alpha) -> String {
        let document = try? JSONParser.parse(stableToken(app).body)
        return document?["access_token"]?.stringValue ?? "<none>"
    }

    func portrait(token: String?, window: Window = .day1, end: ChinaDate? = nil) -> HTTPResponse {
        let request = PortraitRequest(window: window, end: end ?? yesterday)
        return portrait(token: token, body: request.body)
    }

    func portrait(token: String?, body: [UInt8]) -> HTTPResponse {
        let target = "/datacube/getweanalysisappiduserportrait" + (token.map { "?access_token=\($0)" } ?? "")
        return simulator.handle(HTTPRequest(method: "POST", target: target, body: body, remoteAddress: "127.0.0.1:40000"))
    }

    func get(_ target: String) -> HTTPResponse {
        simulator.handle(HTTPRequest(method: "GET", target: target, remoteAddress: "127.0.0.1:40000"))
    }

    func post(_ target: String, json: String) -> HTTPResponse {
        simulator.handle(HTTPRequest(method: "POST", target: target, body: Array(json.utf8), remoteAddress: "127.0.0.1:40000"))
    }
}

// MARK: Over real sockets

/// One request to a simulator served at 127.0.0.1:`port`, over a connection of its own
/// (`Connection: close`), as the exporter sends it: a POST carries `body` as JSON with its
/// Content-Length. It blocks its thread in socket calls, hence the main actor: never one of the
/// cooperative pool's few threads (other suites' tasks run there in parallel).
@MainActor
func socketRequest(port: UInt16, _ method: String, _ target: String, body: [UInt8] = [], timeoutSeconds: Int = 5) throws -> TestHTTPResponse {
    let hasBody = method == "POST" || !body.isEmpty
    return try TestHTTPClient.blockingRequest(port: port, method: method, path: target, headers: hasBody ? [("Content-Type", "application/json")] : [],
                                              body: hasBody ? body : nil, timeoutSeconds: timeoutSeconds)
}

// MARK: Answers

extension HTTPResponse {
    /// The body as JSON (`.null` when it is not JSON).
    var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }

    /// The errcode of an error answer; nil for anything else.
    var errcode: Int? { json["errcode"]?.integerValue.map(Int.init) }

    var text: String { String(decoding: body, as: UTF8.self) }
}

/// Checks that an answer is a WeChat error: HTTP 200, JSON, the errcode and a rid like `5fbb16b0-1827960a-4cec5692`.
func expectError(_ response: HTTPResponse, _ errcode: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(response.status == 200, sourceLocation: sourceLocation)
    #expect(response.errcode == errcode, "body: \(response.text)", sourceLocation: sourceLocation)
    let errmsg = response.json["errmsg"]?.stringValue ?? ""
    let rid = UpstreamErrorCode.rid(in: errmsg) ?? ""
    let parts = rid.split(separator: "-")
    #expect(parts.count == 3 && parts.allSatisfy { $0.count == 8 && $0.allSatisfy(\.isHexDigit) },
            "rid in \(errmsg)", sourceLocation: sourceLocation)
}

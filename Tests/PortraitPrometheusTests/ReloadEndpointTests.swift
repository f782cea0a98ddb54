import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import PortraitPrometheus

@Suite("POST /-/reload")
struct ReloadEndpointTests {
    static func endpoint(enabled: Bool, outcome: ReloadOutcome?) -> PrometheusEndpoint {
        let endpoint = PrometheusEndpoint(metricsPath: "/metrics", counterRefreshInterval: .seconds(1), enableReload: enabled)
        let board = StatusBoard(apps: [], windows: [], startedAt: .init(timeIntervalSince1970: 0))
        var context = PluginContext(status: board, selfMetrics: SelfMetricsRegistry(), logger: Logger(sink: RecordingLogSink()), time: SystemTimeSource())
        if let outcome { context.reload = { outcome } }
        endpoint.attach(context)
        return endpoint
    }

    static func post(_ endpoint: PrometheusEndpoint, from address: String = "127.0.0.1:5000", method: String = "POST") -> HTTPResponse {
        endpoint.handle(HTTPRequest(method: method, target: "/-/reload", remoteAddress: address))
    }

    @Test("answers by outcome, and only when enabled, to loopback clients, for POST")
    func outcomes() {
        #expect(Self.post(Self.endpoint(enabled: true, outcome: .applied)).status == 200)
        let rejected = Self.post(Self.endpoint(enabled: true, outcome: .rejected("apps: is required (an array)")))
        #expect(rejected.status == 400)
        #expect(String(decoding: rejected.body, as: UTF8.self) == "apps: is required (an array)\n")
        #expect(Self.post(Self.endpoint(enabled: true, outcome: .unavailable("demo"))).status == 409)
        #expect(Self.post(Self.endpoint(enabled: true, outcome: nil)).status == 409)
        #expect(Self.post(Self.endpoint(enabled: false, outcome: .applied)).status == 403)
        #expect(Self.post(Self.endpoint(enabled: true, outcome: .applied), from: "192.0.2.10:5000").status == 403)
        #expect(Self.post(Self.endpoint(enabled: true, outcome: .applied), from: "[::1]:5000").status == 200)
        let get = Self.post(Self.endpoint(enabled: true, outcome: .applied), method: "GET")
        #expect(get.status == 405)
        #expect(get.headers["Allow"] == "POST, PUT")
    }
}

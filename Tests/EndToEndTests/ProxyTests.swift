import Foundation
import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Synchronization
import Testing
import WeChatSimulator

/// Operators behind corporate proxies set HTTPS_PROXY/HTTP_PROXY: the exporter must honour them.
@Suite("Proxy", .timeLimit(.minutes(5)))
struct ProxyTests {
    /// A forward proxy in front of the simulator: it records absolute-form targets and answers them.
    final class RecordingProxy: Sendable {
        let targets = LockedValue<[String]>([])
        let server: HTTPServer

        init(simulator: WeChatSimulator) throws {
            let targets = self.targets
            server = HTTPServer(configuration: HTTPServerConfiguration(listen: [try ListenAddress(parsing: "127.0.0.1:0")]),
                                handler: HTTPHandlerFunction { request in
                targets.withLock { $0.append(request.target) }
                guard request.target.hasPrefix("http://"), let slash = request.target.dropFirst(7).firstIndex(of: "/") else {
                    return .text(400, "not a proxy request")
                }
                let origin = String(request.target[slash...])
                return simulator.handle(HTTPRequest(method: request.method, target: origin, version: request.version,
                                                    headers: request.headers, body: request.body))
            })
            try server.start()
        }

        var port: UInt16 { server.boundAddresses[0].port }
    }

    @Test("with http_proxy set, every upstream call goes through the proxy (the upstream host does not even resolve)")
    func throughProxy() async throws {
        let simulator = WeChatSimulator(configuration: .demo())
        let proxy = try RecordingProxy(simulator: simulator)
        let config = ExporterConfig(upstream: "http://wechat-upstream.invalid", apps: [.demoShop], windows: [.day7], readyTime: "00:00")
        let exporter = try ExporterProcess(config, environment: ["http_proxy": "http://127.0.0.1:\(proxy.port)", "no_proxy": "localhost"], name: "proxy")
        try await withCleanup({ exporter.stop(); await proxy.server.shutdown() }) {
            let process = exporter.process
            var fetched = false
            for _ in PollingRounds() {
                guard !fetched else { break }
                fetched = process.standardError.contains("msg=\"portrait fetched\"")
                if !fetched { try await Task.sleep(for: .milliseconds(50)) }
            }
            process.send(SIGTERM)
            #expect(await process.waitForExit() == 0)
            #expect(fetched, "no fetch through the proxy: \(process.standardError)")
            let seen = proxy.targets.value
            #expect(seen.contains { $0.hasPrefix("http://wechat-upstream.invalid/cgi-bin/stable_token") })
            #expect(seen.contains { $0.hasPrefix("http://wechat-upstream.invalid/datacube/getweanalysisappiduserportrait?access_token=") })
            #expect(!process.standardError.contains(SimulatedApp.demoShop.secret))
            for token in simulator.allIssuedTokens() { #expect(!process.standardError.contains(token)) }
        }
    }
}

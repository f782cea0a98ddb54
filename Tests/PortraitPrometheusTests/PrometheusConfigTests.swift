import PortraitCore
import PortraitHTTP
import PortraitTestKit
import Testing
@testable import PortraitPrometheus

@Suite("Prometheus plugin config")
struct PrometheusConfigTests {
    /// Runs the factory on `json` as `exporters[index]`; returns the plugin and the problems.
    func make(_ json: String, index: Int = 0) throws -> (plugin: PrometheusPlugin?, problems: [String]) {
        guard case .object(let members) = try JSONParser.parse(Array(json.utf8)) else {
            throw TestHTTPError(description: "not an object")
        }
        let problems = ConfigProblems()
        let config = ConfigObject(path: "exporters[\(index)]", members: members, problems: problems)
        let plugin = PrometheusPlugin.factory.make(config, ExporterFactory.instanceName(type: "prometheus", ordinal: index))
        return (plugin as? PrometheusPlugin, problems.problems.map(\.description))
    }

    @Test("defaults")
    func defaults() throws {
        let (plugin, problems) = try make(#"{"type": "prometheus"}"#)
        #expect(problems.isEmpty)
        let configuration = try #require(plugin).configuration
        #expect(configuration.listen.map(\.description) == ["0.0.0.0:10054"])
        #expect(configuration.metricsPath == "/metrics")
        #expect(configuration.maxConnections == 512)
        #expect(configuration.idleTimeout == .seconds(60))
        #expect(configuration.headerTimeout == .seconds(10))
        #expect(configuration.eventLoopThreads == 1)
        #expect(plugin?.name == "prometheus")
        #expect(PrometheusPlugin.factory.type == "prometheus")
    }

    @Test("every key set")
    func everyKey() throws {
        let (plugin, problems) = try make("""
            {"type": "prometheus", "listen": ["127.0.0.1:9100", "[::1]:9100"], "metrics_path": "/portrait/metrics",
             "max_connections": 100000, "idle_timeout_seconds": 5.5, "header_timeout_seconds": 2, "event_loop_threads": 16}
            """, index: 2)
        #expect(problems.isEmpty)
        let configuration = try #require(plugin).configuration
        #expect(configuration.listen.map(\.description) == ["127.0.0.1:9100", "[::1]:9100"])
        #expect(configuration.metricsPath == "/portrait/metrics")
        #expect(configuration.maxConnections == 100_000)
        #expect(configuration.idleTimeout == .milliseconds(5500))
        #expect(configuration.headerTimeout == .seconds(2))
        #expect(configuration.eventLoopThreads == 16)
        #expect(plugin?.name == "prometheus#2")
    }

    @Test("listen as one string")
    func listenString() throws {
        let (plugin, problems) = try make(#"{"listen": "[::]:10054"}"#)
        #expect(problems.isEmpty)
        #expect(plugin?.configuration.listen.map(\.description) == ["[::]:10054"])
    }

    @Test("problems name the key path", arguments: [
        (#"{"listen": "nowhere"}"#, "exporters[0].listen: invalid listen address 'nowhere'"),
        (#"{"listen": ["127.0.0.1:1", "1.2.3.4:99999"]}"#, "exporters[0].listen[1]: invalid listen address '1.2.3.4:99999'"),
        (#"{"listen": ["127.0.0.1:1", 5]}"#, "exporters[0].listen[1]: must be a string"),
        (#"{"listen": ["127.0.0.1:1", "127.0.0.1:1"]}"#, "exporters[0].listen[1]: lists 127.0.0.1:1 twice"),
        (#"{"listen": []}"#, "exporters[0].listen: must list at least one address"),
        (#"{"listen": 10054}"#, "exporters[0].listen: must be an address string or an array of them"),
        (#"{"metrics_path": "metrics"}"#, "exporters[0].metrics_path: must start with \"/\""),
        (#"{"metrics_path": "/healthz"}"#, "exporters[0].metrics_path: /healthz is already served"),
        (#"{"metrics_path": "/a b"}"#, "exporters[0].metrics_path: must be a plain path"),
        (#"{"max_connections": 0}"#, "exporters[0].max_connections: must be between 1 and 100000, found 0"),
        (#"{"max_connections": 100001}"#, "exporters[0].max_connections: must be between 1 and 100000"),
        (#"{"event_loop_threads": 17}"#, "exporters[0].event_loop_threads: must be between 1 and 16, found 17"),
        (#"{"idle_timeout_seconds": "60"}"#, "exporters[0].idle_timeout_seconds: must be a number of seconds"),
        (#"{"header_timeout_seconds": 0}"#, "exporters[0].header_timeout_seconds: must be between"),
        (#"{"metric_path": "/x"}"#, "exporters[0].metric_path: unknown key (did you mean \"metrics_path\"?)"),
    ])
    func problems(json: String, expected: String) throws {
        let (plugin, problems) = try make(json)
        #expect(plugin == nil)
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix(expected) == true, "\(problems)")
    }

    @Test("all problems are reported at once")
    func severalProblems() throws {
        let (plugin, problems) = try make(#"{"listen": "x", "max_connections": -1, "bogus": true}"#)
        #expect(plugin == nil)
        #expect(problems.count == 3)
    }
}

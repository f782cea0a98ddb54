import Foundation
import PortraitTestKit

/// A real Prometheus (`/usr/bin/prometheus`) on a loopback port, with its HTTP API.
final class PrometheusServer: Sendable {
    let port: UInt16
    private let process: RunningProcess

    /// Starts `binary` (niced, `Tools.niced`) with `config` and its storage in `storage`,
    /// listening on a free port.
    init(binary: String, config: String, storage: String) throws {
        port = try freeLoopbackPort()
        let (path, arguments) = Tools.niced(binary, [
            "--config.file=\(config)",
            "--storage.tsdb.path=\(storage)",
            "--web.listen-address=127.0.0.1:\(port)",
            "--storage.tsdb.retention.time=1d",
            "--log.level=warn",
        ])
        process = try RunningProcess(path, arguments, directory: storage)
    }

    /// What it printed (its log goes to standard error).
    var output: String { process.standardError + process.standardOutput }
    var isRunning: Bool { process.isRunning }

    /// Stops it (SIGTERM, waiting without holding a thread); returns its exit status, or nil when
    /// it had to be killed after `timeout`.
    func stop(timeout: Duration = .seconds(10)) async -> Int32? {
        process.send(SIGTERM)
        return await process.waitForExit(timeout: timeout)
    }

    /// For a `defer`, where nothing can be awaited: kills it unless it has stopped already.
    func kill() {
        if process.isRunning { process.send(SIGKILL) }
    }

    /// Waits until `/-/ready` answers 200.
    func waitUntilReady(timeout: Duration = .seconds(30)) async throws {
        try await poll("Prometheus ready", timeout: timeout) {
            guard self.process.isRunning else { throw DeployTestError("prometheus exited:\n\(self.output)") }
            return (try? await self.get("/-/ready"))?.status == 200
        }
    }

    /// GET `path` over HTTP/1.0 (so Go's server answers without chunked encoding, which the
    /// test client does not decode).
    func get(_ path: String) async throws -> TestHTTPResponse {
        let raw = try await TestHTTPClient.exchange(port: port, request: "GET \(path) HTTP/1.0\r\nHost: 127.0.0.1:\(port)\r\n\r\n", timeoutSeconds: 10)
        return try TestHTTPClient.parse(raw, isHead: false)
    }

    /// GET `path` and decode the API envelope; throws unless `status` is `success`.
    func api(_ path: String) async throws -> Any {
        let response = try await get(path)
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        guard let json, json["status"] as? String == "success" else {
            throw DeployTestError("GET \(path): HTTP \(response.status) \(response.text)")
        }
        return json["data"] ?? NSNull()
    }

    /// An instant query: the result vector (each element `metric` and `value`).
    func query(_ expression: String) async throws -> [[String: Any]] {
        let data = try await api("/api/v1/query?query=\(Self.encode(expression))") as? [String: Any]
        guard let data else { throw DeployTestError("query \(expression): no data") }
        switch data["resultType"] as? String {
        case "vector": return data["result"] as? [[String: Any]] ?? []
        case "scalar": return [["metric": [String: String](), "value": data["result"] ?? NSNull()]]
        default: throw DeployTestError("query \(expression): result type \(data["resultType"] ?? "none")")
        }
    }

    /// The values of label `label` over the series that match `selector` (nil: all series).
    func labelValues(_ label: String, matching selector: String?) async throws -> [String] {
        var path = "/api/v1/label/\(label)/values"
        if let selector { path += "?match[]=\(Self.encode(selector))" }
        return try await api(path) as? [String] ?? []
    }

    /// Every metric name Prometheus has ingested.
    func metricNames() async throws -> Set<String> { Set(try await labelValues("__name__", matching: nil)) }

    /// The rule groups as `/api/v1/rules` gives them.
    func ruleGroups() async throws -> [[String: Any]] {
        (try await api("/api/v1/rules") as? [String: Any])?["groups"] as? [[String: Any]] ?? []
    }

    static func encode(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}

/// Polls `condition` every 100 ms until it is true; throws after `timeout`.
func poll(_ what: String, timeout: Duration, _ condition: () async throws -> Bool) async throws {
    let end = ContinuousClock.now.advanced(by: timeout)
    while ContinuousClock.now < end {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    throw DeployTestError("timed out after \(timeout) waiting for: \(what)")
}

import Foundation
import PortraitCore
import PortraitTestKit
import WeChatSimulator

/// The exporter's JSON config as the end-to-end tests write it: one builder for the in-process
/// pipeline (`ExporterPipeline`) and for the built binary (`ExporterProcess`). Every AppSecret
/// comes from `SECRET_<NAME>` (`environment(for:)` sets them).
struct ExporterConfig: Sendable {
    /// `upstream.base_url`.
    var upstream: String
    var apps: [SimulatedApp] = ExporterPipeline.demoApps
    /// `windows`; nil leaves the key out (every window).
    var windows: [Window]?
    /// `upstream.timeout_seconds`; nil leaves the key out.
    var timeoutSeconds: Int?
    /// `schedule.max_concurrent_fetches`; nil leaves the key out.
    var maxConcurrentFetches: Int?
    /// `schedule.ready_time` ("HH:MM"); nil leaves the key out.
    var readyTime: String?
    /// The `exporters` entries, as JSON objects (see `prometheus`, `jsonlFile`, `jsonlTCP`, `statsd`).
    var exporters: [String] = [ExporterConfig.prometheus()]
    /// More top-level keys, each `"key":value` (e.g. `"shutdown":{…}`).
    var extra: [String] = []

    static func prometheus(enableReload: Bool = false) -> String {
        #"{"type":"prometheus","listen":"127.0.0.1:0"\#(enableReload ? #","enable_reload":true"# : "")}"#
    }

    static func recording(_ label: String) -> String { #"{"type":"recording","label":"\#(label)"}"# }

    static func jsonlFile(_ path: String) -> String { #"{"type":"jsonl","output":"file","path":"\#(path)"}"# }

    static func jsonlTCP(port: UInt16, shutdownTimeoutSeconds: Int) -> String {
        #"{"type":"jsonl","output":"tcp","address":"127.0.0.1:\#(port)","shutdown_timeout_seconds":\#(shutdownTimeoutSeconds)}"#
    }

    static func statsd(_ address: String, dialect: String? = nil) -> String {
        #"{"type":"statsd","address":"\#(address)"\#(dialect.map { #","dialect":"\#($0)""# } ?? ""),"interval_seconds":0}"#
    }

    static func secretVariable(_ app: SimulatedApp) -> String { "SECRET_\(app.name!.uppercased())" }

    /// The process environment plus the AppSecret variable of every app in `apps`.
    static func environment(for apps: [SimulatedApp]) -> ConfigEnvironment {
        var environment = ConfigEnvironment.process
        for app in apps { environment.variables[secretVariable(app)] = app.secret }
        return environment
    }

    var json: String {
        let upstream = #""base_url":"\#(self.upstream)""# + (timeoutSeconds.map { #","timeout_seconds":\#($0)"# } ?? "")
        let schedule = #""stagger_seconds":0"# + (readyTime.map { #","ready_time":"\#($0)""# } ?? "")
            + (maxConcurrentFetches.map { #","max_concurrent_fetches":\#($0)"# } ?? "")
        let entries = apps.map { #"{"name":"\#($0.name!)","appid":"\#($0.appid)","secret_env":"\#(Self.secretVariable($0))"}"# }
        var keys = [#""upstream":{\#(upstream)}"#, #""schedule":{\#(schedule)}"#, #""apps":[\#(entries.joined(separator: ","))]"#]
        if let windows { keys.append(#""windows":[\#(windows.map { "\"\($0.rawValue)\"" }.joined(separator: ","))]"#) }
        keys.append(#""exporters":[\#(exporters.joined(separator: ","))]"#)
        return "{" + (keys + extra).joined(separator: ",\n ") + "}"
    }

    /// The config as the exporter loads it, with the secrets of `secretsOf` (default: `apps`) set.
    func load(registry: ExporterRegistry = ExporterPipeline.registry, secretsOf: [SimulatedApp]? = nil) throws -> Configuration {
        try Configuration.load(Array(json.utf8), registry: registry, environment: Self.environment(for: secretsOf ?? apps))
    }
}

/// A file in the temporary directory that a test writes; `remove()` (in a `defer`) deletes it.
final class TemporaryFile: Sendable {
    let path: String

    init(_ prefix: String, extension ext: String = "json") {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString).\(ext)").path
    }

    /// A new file holding `text`.
    static func written(_ prefix: String, _ text: String) throws -> TemporaryFile {
        let file = TemporaryFile(prefix)
        try file.write(text)
        return file
    }

    func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }

    var contents: String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    var bytes: [UInt8] { Array((try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

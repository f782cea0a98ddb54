@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitTestKit
import WeChatSimulator

/// The end-to-end pipeline as a person runs it: the built `wechat-portrait-exporter` binary with a
/// config file (`ExporterConfig`) in the temporary directory, usually against a real-clock
/// simulator on loopback (`realClockUpstream`). `stop()` kills what is still running and removes
/// the file.
final class ExporterProcess: Sendable {
    static let binary = RunningProcess.builtProduct("wechat-portrait-exporter")

    let configFile: TemporaryFile
    let process: RunningProcess

    /// Writes `config` and starts the binary on it, with the AppSecrets of `secretsOf` (default:
    /// the config's apps) and `environment` added to this process's environment.
    init(_ config: ExporterConfig, secretsOf: [SimulatedApp]? = nil, environment: [String: String] = [:], name: String = "exporter") throws {
        configFile = TemporaryFile(name)
        try configFile.write(config.json)
        let variables = ExporterConfig.environment(for: secretsOf ?? config.apps).variables.merging(environment) { $1 }
        do {
            process = try RunningProcess(Self.binary, ["--config", configFile.path], environment: variables)
        } catch {
            configFile.remove()
            throw error
        }
    }

    /// Replaces the config file (for a reload).
    func write(_ config: ExporterConfig) throws { try configFile.write(config.json) }

    /// The simulator for the binary: real clock, ready since midnight, on 127.0.0.1 and a free port.
    static func realClockUpstream(apps: [SimulatedApp]) throws -> SimulatedUpstream {
        try SimulatedUpstream(time: SystemTimeSource(), apps: apps, readyTime: TimeOfDay(hour: 0))
    }

    /// The port of the first Prometheus exporter, from its "listening" log line (a hang guard of
    /// `PollingRounds`).
    func prometheusPort() async -> UInt16? {
        for _ in PollingRounds() {
            if let line = process.standardError.split(separator: "\n").first(where: { $0.contains("prometheus exporter listening") }),
               let range = line.range(of: "addresses=127.0.0.1:") {
                return UInt16(line[range.upperBound...].prefix { $0.isNumber })
            }
            try? await Task.sleep(for: .milliseconds(25))
        }
        return nil
    }

    func metrics(port: UInt16) async throws -> ParsedExposition {
        try ExpositionParser.parse(try await TestHTTPClient.request(port: port, path: "/metrics").body)
    }

    /// Waits (bounded, as a hang guard) until standard error contains `text`.
    func waitForLog(_ text: String) async -> Bool {
        for _ in PollingRounds() {
            if process.standardError.contains(text) { return true }
            if !process.isRunning { return process.standardError.contains(text) }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    /// Kills the binary if it still runs and removes the config file.
    func stop() {
        if process.isRunning { process.send(SIGKILL) }
        configFile.remove()
    }
}

/// Runs `body`, then `cleanup` whether `body` returned or threw: a `defer` that may await.
func withCleanup<T>(_ cleanup: () async -> Void, _ body: () async throws -> T) async throws -> T {
    do {
        let result = try await body()
        await cleanup()
        return result
    } catch {
        await cleanup()
        throw error
    }
}

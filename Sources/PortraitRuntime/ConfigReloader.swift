import Foundation
import PortraitCore
import Synchronization

/// Reloads the config file on SIGHUP and `POST /-/reload`.
///
/// The new file is validated exactly as `check-config` does; an invalid one is rejected with the
/// same messages, logged, counted, and the running config stays. A valid one is applied without
/// dropping the token cache or the snapshots of apps that stay. `exporters`, `token.persist_file`
/// and `log.level` need a restart; a reload that changes them says so in the log.
final class ConfigReloader: Sendable {
    private let path: String
    private let environment: ConfigEnvironment
    private let service: ExporterService
    private let logger: Logger
    private let time: any TimeSource

    private struct Counters {
        var successes: UInt64 = 0
        var failures: UInt64 = 0
        var lastSuccessful = true
        var lastSuccessAt: Date
        /// The `exporters`, `token` and `log` sections in force, to tell what a reload cannot apply.
        var restartOnly: [String: JSONValue]
    }
    private let counters: Mutex<Counters>

    init(path: String, environment: ConfigEnvironment, service: ExporterService, logger: Logger, time: any TimeSource, loadedBytes: [UInt8]) {
        self.path = path
        self.environment = environment
        self.service = service
        self.logger = logger
        self.time = time
        counters = Mutex(Counters(lastSuccessAt: time.now(), restartOnly: Self.restartOnlySections(loadedBytes)))
        service.selfMetrics.register { [weak self] in self?.metrics() ?? [] }
    }

    /// Validates the file now and, if it is valid, applies it in the background.
    func reload(trigger: String) -> ReloadOutcome {
        let bytes: [UInt8]
        do {
            bytes = try environment.readFile(path)
        } catch {
            return reject("cannot read config file \(path)", trigger: trigger)
        }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(bytes, registry: Runtime.registry, environment: environment)
        } catch {
            return reject("\(path): \(error)", trigger: trigger)
        }
        let sections = Self.restartOnlySections(bytes)
        let restartNeeded = counters.withLock { state -> [String] in
            let differing = sections.keys.sorted().filter { sections[$0] != state.restartOnly[$0] }
            state.successes += 1
            state.lastSuccessful = true
            state.lastSuccessAt = time.now()
            return differing
        }
        for warning in configuration.warnings { logger.warning("config: \(warning)") }
        if !restartNeeded.isEmpty {
            logger.warning("config reload: changes to these sections take effect only after a restart", ["sections": restartNeeded.joined(separator: ",")])
        }
        logger.info("config reloaded", ["trigger": trigger, "apps": String(configuration.apps.count),
                                         "windows": configuration.windows.map(\.rawValue).joined(separator: ",")])
        let service = self.service
        Task { await service.apply(configuration) }
        return .applied
    }

    private func reject(_ message: String, trigger: String) -> ReloadOutcome {
        counters.withLock { state in
            state.failures += 1
            state.lastSuccessful = false
        }
        logger.error("config reload rejected; the running config stays", ["trigger": trigger, "problems": message])
        return .rejected(message)
    }

    private func metrics() -> [SelfMetricFamily] {
        let state = counters.withLock { $0 }
        return [
            SelfMetricFamily(name: "wechat_portrait_config_reloads_total", help: "Config reloads (SIGHUP or POST /-/reload) by result.",
                             kind: .counter, samples: [([("result", "success")], Double(state.successes)), ([("result", "failure")], Double(state.failures))]),
            SelfMetricFamily(name: "wechat_portrait_config_last_reload_successful", help: "1 if the last config reload succeeded (or none was tried), 0 if it was rejected.",
                             kind: .gauge, samples: [([], state.lastSuccessful ? 1 : 0)]),
            SelfMetricFamily(name: "wechat_portrait_config_last_reload_success_timestamp_seconds", help: "Unix time of the last successful config load or reload.",
                             kind: .gauge, samples: [([], state.lastSuccessAt.timeIntervalSince1970.rounded(.down))]),
        ]
    }

    /// The sections a reload cannot apply, as parsed JSON, to detect changes.
    static func restartOnlySections(_ bytes: [UInt8]) -> [String: JSONValue] {
        guard let document = try? JSONParser.parse(bytes) else { return [:] }
        var sections: [String: JSONValue] = [:]
        for key in ["exporters", "log"] { sections[key] = document[key] ?? .null }
        sections["token.persist_file"] = document["token"]?["persist_file"] ?? .null
        return sections
    }
}

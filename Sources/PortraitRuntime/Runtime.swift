@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitJSONL
import PortraitPrometheus
import PortraitStatsD
import WeChatSimulator

/// The program: parses the command line and runs what it asks for. `main` returns the exit status.
public enum Runtime {
    /// The plugins this build knows, by config `type`.
    public static let registry = ExporterRegistry([
        PrometheusPlugin.factory,
        JSONLPlugin.factory,
        StatsDPlugin.factory,
    ])

    public static func main(_ arguments: [String]) async -> Int32 {
        let command: Command
        do {
            command = try Command.parse(arguments)
        } catch {
            writeError("error: \(error.message)\n\n\(Command.usage)")
            return 2
        }
        switch command {
        case .help:
            print(Command.usage)
            return 0
        case .version:
            print("wechat-portrait-exporter \(BuildInfo.current.version) (Swift \(BuildInfo.current.swiftVersion))")
            return 0
        case .checkConfig(let path):
            return checkConfig(path: path)
        case .run(let path, let level):
            guard let (configuration, bytes) = loadOrReport(path: path) else { return 2 }
            let logger = Logger(level: level ?? configuration.logLevel)
            for warning in configuration.warnings { logger.warning("config: \(warning)") }
            return await runExporter(configuration, logger: logger, reloadFrom: (path, bytes))
        case .demo(let options):
            return await Demo.run(options)
        case .simulate(let options):
            return await Demo.simulate(options)
        }
    }

    /// Loads a config (and returns its bytes), printing every problem to standard error on failure.
    static func loadOrReport(path: String, environment: ConfigEnvironment = .process) -> (Configuration, [UInt8])? {
        let bytes: [UInt8]
        do {
            bytes = try environment.readFile(path)
        } catch {
            writeError("error: cannot read config file \(path)")
            return nil
        }
        do {
            return (try Configuration.load(bytes, registry: registry, environment: environment), bytes)
        } catch {
            writeError("error: \(path): \(error)")
            return nil
        }
    }

    static func checkConfig(path: String) -> Int32 {
        guard let (configuration, _) = loadOrReport(path: path) else { return 2 }
        for warning in configuration.warnings { writeError("warning: \(warning)") }
        let apps = configuration.apps.map { "\($0.identity.name) (\($0.identity.appid), \($0.tokenSource) token)" }
        print("""
        \(path): OK
          apps: \(apps.joined(separator: ", "))
          windows: \(configuration.windows.map(\.rawValue).joined(separator: ", "))
          exporters: \(configuration.exporters.map(\.name).joined(separator: ", "))
          upstream: \(configuration.upstream.baseURL)
        """)
        if let component = configuration.component {
            print("  component: \(component.appid), verify ticket file \(component.verifyTicketFile)")
        }
        return 0
    }

    /// Runs the exporter until SIGTERM/SIGINT. Returns 0 after a clean stop, 2 if it cannot start.
    /// A stop that takes longer than `shutdown.timeout_seconds` exits 1; a second SIGTERM/SIGINT
    /// during a stop exits at once with 128 + the signal number (143, 130).
    /// With `reloadFrom` (the config file and the bytes it was loaded from), SIGHUP and
    /// `POST /-/reload` reload it.
    static func runExporter(_ configuration: Configuration, logger: Logger, time: any TimeSource = SystemTimeSource(),
                            reloadFrom: (path: String, bytes: [UInt8])? = nil,
                            banner: ([any ExporterPlugin]) -> [String] = { _ in [] }) async -> Int32 {
        let transport = URLSessionTransport(requestTimeout: configuration.upstream.timeout)
        let service = ExporterService(configuration: configuration, transport: transport, time: time, logger: logger)
        let reloader = reloadFrom.map {
            ConfigReloader(path: $0.path, environment: .process, service: service, logger: logger, time: time, loadedBytes: $0.bytes)
        }
        let reload: @Sendable () -> ReloadOutcome = {
            reloader?.reload(trigger: "http") ?? .unavailable("this process runs without a config file (demo mode); nothing to reload")
        }
        do {
            try await service.start(reload: reload)
        } catch {
            logger.error("cannot start: \(error)")
            writeError("error: cannot start: \(logger.redactor.redact(String(describing: error)))")
            return 2
        }
        let runTask = Task { await service.run() }
        await SignalWatcher().install(onStop: { signal in
            // Read now: a reload may have changed it.
            let timeout = service.configuration.shutdown.timeout
            logger.info("stopping", ["signal": SignalWatcher.name(signal), "timeout_seconds": formatSeconds(timeout)])
            runTask.cancel()
            // A stop that hangs (a plugin that cannot flush) must not keep the process alive.
            DispatchQueue.global().asyncAfter(deadline: .now() + timeout.seconds) {
                logger.error("graceful stop took longer than \(formatSeconds(timeout)) s (shutdown.timeout_seconds); exiting", ["status": "1"])
                _exit(1)
            }
        }, onRepeatedStop: { signal in
            logger.warning("second \(SignalWatcher.name(signal)) during the graceful stop; exiting at once", ["status": String(128 + signal)])
        }, onHangup: {
            logger.info("SIGHUP: reopening outputs" + (reloader == nil ? "" : " and reloading the config"))
            if let reloader { _ = reloader.reload(trigger: "SIGHUP") }
            let plugins = service.host.plugins
            Task { for plugin in plugins { await plugin.reopenOutputs() } }
        })
        logger.info("started", [
            "version": BuildInfo.current.version,
            "apps": String(configuration.apps.count),
            "windows": configuration.windows.map(\.rawValue).joined(separator: ","),
            "upstream": configuration.upstream.baseURL,
        ])
        for plugin in service.host.plugins { logger.info("exporter ready", ["exporter": plugin.name, "output": plugin.summary]) }
        let lines = banner(service.host.plugins)
        if !lines.isEmpty { print(lines.joined(separator: "\n")) }
        fflush(stdout)
        await runTask.value
        await service.stop()
        logger.info("stopped")
        return 0
    }

    /// Seconds as the config writes them: `15`, `0.5`.
    static func formatSeconds(_ duration: Duration) -> String {
        let seconds = duration.seconds
        return seconds.rounded() == seconds ? String(Int64(seconds)) : String(seconds)
    }

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

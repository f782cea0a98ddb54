@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitPrometheus
import WeChatSimulator

/// The program: parses the command line and runs what it asks for. `main` returns the exit status.
public enum Runtime {
    /// The plugins this build knows, by config `type`.
    public static let registry = ExporterRegistry([
        PrometheusPlugin.factory,
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
            guard let configuration = loadOrReport(path: path) else { return 2 }
            let logger = Logger(level: level ?? configuration.logLevel)
            for warning in configuration.warnings { logger.warning("config: \(warning)") }
            return await runExporter(configuration, logger: logger)
        case .demo(let options):
            return await Demo.run(options)
        case .simulate(let options):
            return await Demo.simulate(options)
        }
    }

    /// Loads a config, printing every problem to standard error on failure.
    static func loadOrReport(path: String, environment: ConfigEnvironment = .process) -> Configuration? {
        let bytes: [UInt8]
        do {
            bytes = try environment.readFile(path)
        } catch {
            writeError("error: cannot read config file \(path)")
            return nil
        }
        do {
            return try Configuration.load(bytes, registry: registry, environment: environment)
        } catch {
            writeError("error: \(path): \(error)")
            return nil
        }
    }

    static func checkConfig(path: String) -> Int32 {
        guard let configuration = loadOrReport(path: path) else { return 2 }
        for warning in configuration.warnings { writeError("warning: \(warning)") }
        let apps = configuration.apps.map { "\($0.identity.name) (\($0.identity.appid), \($0.tokenSource) token)" }
        print("""
        \(path): OK
          apps: \(apps.joined(separator: ", "))
          windows: \(configuration.windows.map(\.rawValue).joined(separator: ", "))
          exporters: \(configuration.exporters.map(\.name).joined(separator: ", "))
          upstream: \(configuration.upstream.baseURL)
        """)
        return 0
    }

    /// Runs the exporter until SIGTERM/SIGINT. Returns 0 after a clean stop, 2 if it cannot start.
    static func runExporter(_ configuration: Configuration, logger: Logger, time: any TimeSource = SystemTimeSource(),
                            banner: ([any ExporterPlugin]) -> [String] = { _ in [] }) async -> Int32 {
        let transport = URLSessionTransport(requestTimeout: configuration.upstream.timeout)
        let service = ExporterService(configuration: configuration, transport: transport, time: time, logger: logger)
        do {
            try await service.start()
        } catch {
            logger.error("cannot start: \(error)")
            writeError("error: cannot start: \(logger.redactor.redact(String(describing: error)))")
            return 2
        }
        let runTask = Task { await service.run() }
        await SignalWatcher().install { signal in
            logger.info("stopping", ["signal": signal == SIGTERM ? "SIGTERM" : "SIGINT"])
            runTask.cancel()
        }
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

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

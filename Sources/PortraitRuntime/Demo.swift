@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitPrometheus
import WeChatSimulator

/// `--demo` and `simulate`: the built-in WeChat simulator, alone or with the exporter against it.
enum Demo {
    /// The demo apps, as the simulator knows them.
    static let apps: [SimulatedApp] = [.demoShop, .demoNews]

    /// Environment variables that carry the demo secrets into the ordinary config path.
    static func secretVariable(_ app: SimulatedApp) -> String { "DEMO_\((app.name ?? app.appid).uppercased())_APPSECRET" }

    /// The config the demo runs with: the same file format a user writes, pointed at the simulator.
    static func configText(upstream: String, options: DemoOptions) -> String {
        let appEntries = apps.map { app in
            #"{"name":"\#(app.name ?? app.appid)","appid":"\#(app.appid)","secret_env":"\#(secretVariable(app))"}"#
        }
        return """
        {
          "upstream": {"base_url": "\(upstream)", "timeout_seconds": 5},
          "schedule": {"ready_time": "00:00", "stagger_seconds": 0.05},
          "apps": [\(appEntries.joined(separator: ", "))],
          "windows": ["1d", "7d", "30d"],
          "exporters": [
            {"type": "prometheus", "listen": "\(options.listen)"},
            {"type": "jsonl", "output": "file", "path": \(String(decoding: JSONWriter.encode(.string(options.jsonlPath)), as: UTF8.self))},
            {"type": "statsd", "address": "\(options.statsdAddress)", "dialect": "dogstatsd"}
          ]
        }
        """
    }

    static func run(_ options: DemoOptions) async -> Int32 {
        let simulator = WeChatSimulator(configuration: .demo(time: SystemTimeSource()))
        let server: HTTPServer
        do {
            server = try simulator.serve(listen: try ListenAddress(parsing: "127.0.0.1:0"))
        } catch {
            Runtime.writeError("error: cannot start the simulator: \(error)")
            return 1
        }
        defer { server.stop() }
        let port = server.boundAddresses.first?.port ?? 0
        let upstream = "http://127.0.0.1:\(port)"
        var environment = ConfigEnvironment.process
        for app in apps { environment.variables[secretVariable(app)] = app.secret }
        let configuration: Configuration
        do {
            configuration = try Configuration.load(Array(configText(upstream: upstream, options: options).utf8),
                                                   registry: Runtime.registry, environment: environment)
        } catch {
            Runtime.writeError("error: --demo: \(error)")
            return 2
        }
        let logger = Logger(level: options.logLevel ?? .info)
        let banner: ([any ExporterPlugin]) -> [String] = { plugins in
            var lines = [
                "",
                "wechat-portrait-exporter \(BuildInfo.current.version) — demo mode",
                "  WeChat simulator:   \(upstream)  (apps: \(apps.map { $0.name ?? $0.appid }.joined(separator: ", ")); data ready at any hour)",
            ]
            for plugin in plugins { lines.append("  \(plugin.name):".padding(toLength: 22, withPad: " ", startingAt: 0) + plugin.summary) }
            lines += [
                "  Try:                curl -s http://\(displayHost(listenOf(plugins) ?? options.listen))/metrics | grep 'app=\"shop\",window=\"7d\",segment=\"new\",dimension=\"province\"'",
                "  Stop with Ctrl-C.",
                "",
            ]
            return lines
        }
        return await Runtime.runExporter(configuration, logger: logger, banner: banner)
    }

    static func simulate(_ options: SimulateOptions) async -> Int32 {
        var configuration = WeChatSimulator.Configuration.demo(time: SystemTimeSource())
        configuration.readyTime = options.readyTime
        let simulator = WeChatSimulator(configuration: configuration)
        var faults: [FaultInjection] = []
        if let path = options.faultsPath {
            do {
                faults = try FaultInjection.list(from: try ConfigEnvironment.process.readFile(path))
            } catch let error as FaultSpecError {
                Runtime.writeError("error: --faults \(path): \(error.message)")
                return 2
            } catch {
                Runtime.writeError("error: --faults: cannot read \(path)")
                return 2
            }
            for fault in faults { simulator.inject(fault) }
        }
        let server: HTTPServer
        do {
            server = try simulator.serve(listen: try ListenAddress(parsing: options.listen))
        } catch {
            Runtime.writeError("error: simulate: \(error)")
            return 2
        }
        let bound = server.boundAddresses.first.map(\.description) ?? options.listen
        print("WeChat simulator listening on http://\(bound) (yesterday's data ready from \(options.readyTime) China time)")
        for app in apps {
            print("  app \(app.name ?? app.appid): appid \(app.appid), AppSecret \(app.secret) (demo values)")
        }
        for component in configuration.components {
            print("  third-party platform: component appid \(component.appid), AppSecret \(component.secret) (demo values)")
            for merchant in component.authorizers {
                print("    merchant \(merchant.name ?? merchant.appid): authorizer appid \(merchant.appid), authorizer_refresh_token \(merchant.refreshToken)")
            }
        }
        var ticketTask: Task<Void, Never>?
        if let path = options.ticketFile, let component = configuration.components.first {
            let write: @Sendable () async -> Bool = {
                guard let ticket = simulator.pushVerifyTicket(componentAppid: component.appid) else { return false }
                return (try? await BlockingIO.writeFileAtomically(path, Array((ticket + "\n").utf8), permissions: 0o600)) != nil
            }
            guard await write() else {
                Runtime.writeError("error: --ticket-file: cannot write \(path)")
                await server.shutdown()
                return 2
            }
            print("  component_verify_ticket: written to \(path) now and every 10 minutes")
            ticketTask = Task {
                while (try? await Task.sleep(for: .seconds(600))) != nil { _ = await write() }
            }
        }
        for fault in faults { print("  fault: \(fault)") }
        print("Faults and tokens while it runs (loopback only): GET/POST/DELETE http://\(bound)/-/faults, POST /-/tokens/invalidate, POST /-/tokens/expire, POST /-/component/ticket, GET /-/stats")
        print("Point a config's upstream.base_url at http://\(bound). Stop with Ctrl-C.")
        fflush(stdout)
        let stopped = AsyncStream<Void>.makeStream()
        await SignalWatcher().install { _ in stopped.continuation.finish() }
        for await _ in stopped.stream {}
        ticketTask?.cancel()
        await server.shutdown()
        return 0
    }

    /// The first listen address of the Prometheus plugin, after it started.
    static func listenOf(_ plugins: [any ExporterPlugin]) -> String? {
        plugins.lazy.compactMap { $0 as? PrometheusPlugin }.first?.boundAddresses.first?.description
    }

    /// `0.0.0.0:10054` → `127.0.0.1:10054` for links a person can click.
    static func displayHost(_ listen: String) -> String {
        if listen.hasPrefix("0.0.0.0:") { return "127.0.0.1:" + listen.dropFirst(8) }
        if listen.hasPrefix("[::]:") { return "[::1]:" + listen.dropFirst(5) }
        if listen.hasPrefix(":") { return "127.0.0.1" + listen }
        return listen
    }
}

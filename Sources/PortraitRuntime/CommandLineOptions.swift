import Foundation
import PortraitCore

/// What the command line asked for.
public enum Command: Equatable, Sendable {
    /// Run the exporter with a config file.
    case run(configPath: String, logLevel: LogLevel?)
    /// Run the exporter against the built-in simulator with every plugin on.
    case demo(DemoOptions)
    /// Validate a config file and exit.
    case checkConfig(path: String)
    /// Run only the simulator.
    case simulate(SimulateOptions)
    case help
    case version
}

/// Options of `--demo`.
public struct DemoOptions: Equatable, Sendable {
    /// Where the Prometheus endpoint listens.
    public var listen = "127.0.0.1:10054"
    /// The file the JSON-lines plugin appends to.
    public var jsonlPath = DemoOptions.defaultJSONLPath
    /// Where the StatsD plugin sends (dogstatsd dialect).
    public var statsdAddress = "127.0.0.1:8125"
    public var logLevel: LogLevel?
    public init() {}

    /// `$TMPDIR/wechat-portrait-exporter-demo.jsonl` (`/tmp` without TMPDIR).
    public static var defaultJSONLPath: String {
        let directory = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        return (directory.hasSuffix("/") ? directory : directory + "/") + "wechat-portrait-exporter-demo.jsonl"
    }
}

/// Options of `simulate`.
public struct SimulateOptions: Equatable, Sendable {
    public var listen = "127.0.0.1:10055"
    /// China time from which yesterday's data is served (default 00:00: always ready).
    public var readyTime = TimeOfDay(hour: 0)
    /// A JSON list of faults to inject at start (the format of the admin API's `POST /-/faults`).
    public var faultsPath: String?
    /// Plays the third-party platform's callback server: a new `component_verify_ticket` is
    /// written to this file (mode 0600) at start and every 10 minutes.
    public var ticketFile: String?
    public init() {}
}

/// A command-line mistake; printed with the usage, exit code 2.
public struct UsageError: Error, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

extension Command {
    public static let usage = """
    wechat-portrait-exporter: WeChat mini-program user portraits (getUserPortrait) as Prometheus
    metrics, JSON lines and StatsD gauges.

    USAGE
      wechat-portrait-exporter --demo [--listen HOST:PORT] [--jsonl-path FILE] [--statsd HOST:PORT]
          Start the built-in WeChat simulator on a loopback port and the exporter against it, with
          every plugin on: Prometheus on http://127.0.0.1:10054/metrics, JSON lines appended to
          $TMPDIR/wechat-portrait-exporter-demo.jsonl, StatsD (dogstatsd) to 127.0.0.1:8125.
      wechat-portrait-exporter --config FILE
          Run against the upstream named in FILE (default https://api.weixin.qq.com).
      wechat-portrait-exporter check-config FILE
          Validate FILE. Exit 0, or print every problem (key path: what is wrong) and exit 2.
      wechat-portrait-exporter simulate [--listen HOST:PORT] [--ready-time HH:MM] [--faults FILE]
                                        [--ticket-file FILE]
          Run only the simulator (default 127.0.0.1:10055) to test your own pipeline; prints the
          demo apps' appids and secrets, and the demo third-party platform's appid, secret and
          merchants' refresh tokens. --faults injects the faults listed in FILE (a JSON list,
          e.g. [{"fault":"system_error","every":3}]); more can be injected and cleared while it
          runs through its admin API on loopback (POST/GET/DELETE /-/faults). --ticket-file
          writes a new component_verify_ticket to FILE at start and every 10 minutes, as a
          platform's callback server does.
      wechat-portrait-exporter --help | --version

    OPTIONS
      --log-level debug|info|warning|error   Override the config's log.level (run and demo).

    EXIT STATUS
      0 clean stop (SIGTERM/SIGINT), 1 runtime failure or a stop longer than shutdown.timeout_seconds
      (default 15 s), 2 usage or config error, 143 (130) a second SIGTERM (SIGINT) during a stop.
    """

    /// Parses `arguments` (without the program name).
    public static func parse(_ arguments: [String]) throws(UsageError) -> Command {
        var rest = arguments[...]
        func value(for flag: String) throws(UsageError) -> String {
            guard let next = rest.popFirst(), !next.hasPrefix("--") else { throw UsageError(message: "\(flag) needs a value") }
            return next
        }
        func level(_ text: String) throws(UsageError) -> LogLevel {
            guard let level = LogLevel(name: text) else { throw UsageError(message: "--log-level must be debug, info, warning or error, not \"\(text)\"") }
            return level
        }
        guard let first = rest.first else { throw UsageError(message: "nothing to do: give --config FILE, --demo, check-config FILE or simulate") }
        switch first {
        case "-h", "--help", "help":
            return .help
        case "--version", "version":
            return .version
        case "check-config":
            rest.removeFirst()
            guard let path = rest.popFirst() else { throw UsageError(message: "check-config needs a FILE") }
            guard rest.isEmpty else { throw UsageError(message: "unexpected argument \"\(rest.first!)\"") }
            return .checkConfig(path: path)
        case "simulate":
            rest.removeFirst()
            var options = SimulateOptions()
            while let flag = rest.popFirst() {
                switch flag {
                case "--listen": options.listen = try value(for: flag)
                case "--ready-time":
                    let text = try value(for: flag)
                    guard let time = TimeOfDay(parsing: text) else { throw UsageError(message: "--ready-time must be HH:MM, not \"\(text)\"") }
                    options.readyTime = time
                case "--faults": options.faultsPath = try value(for: flag)
                case "--ticket-file": options.ticketFile = try value(for: flag)
                default: throw UsageError(message: "unknown option \"\(flag)\" for simulate")
                }
            }
            return .simulate(options)
        default:
            var configPath: String?
            var demo = false
            var demoOptions = DemoOptions()
            var logLevel: LogLevel?
            while let flag = rest.popFirst() {
                switch flag {
                case "--config", "-c": configPath = try value(for: flag)
                case "--demo": demo = true
                case "--listen": demoOptions.listen = try value(for: flag)
                case "--jsonl-path": demoOptions.jsonlPath = try value(for: flag)
                case "--statsd": demoOptions.statsdAddress = try value(for: flag)
                case "--log-level": logLevel = try level(try value(for: flag))
                case "run": continue
                default: throw UsageError(message: "unknown argument \"\(flag)\"")
                }
            }
            if demo {
                guard configPath == nil else { throw UsageError(message: "--demo and --config exclude each other") }
                demoOptions.logLevel = logLevel
                return .demo(demoOptions)
            }
            guard let configPath else { throw UsageError(message: "give --config FILE (or --demo)") }
            if demoOptions != DemoOptions() { throw UsageError(message: "--listen, --jsonl-path and --statsd go with --demo; set them under exporters in the config instead") }
            return .run(configPath: configPath, logLevel: logLevel)
        }
    }
}

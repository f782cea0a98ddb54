@preconcurrency import Glibc
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitPrometheus
import PortraitRuntime

// portrait-bench: see BenchOptions.usage and the README's Performance section.
let arguments = Array(CommandLine.arguments.dropFirst())

// The exporter under test re-runs this executable as `portrait-bench exporter --config FILE`:
// PortraitRuntime's main, exactly what `wechat-portrait-exporter --config FILE` runs.
if arguments.first == "exporter" {
    exit(await Runtime.main(Array(arguments.dropFirst())))
}

// `portrait-bench dump SIZE FILE`: the data part of the exposition at SIZE series (what is pushed
// to pushgateway), for looking at by hand.
if arguments.first == "dump", arguments.count == 3, let size = BenchOptions.parseCount(arguments[1]) {
    let body = PrometheusPlugin.render(Workload(target: size).state())
    _ = FileManager.default.createFile(atPath: arguments[2], contents: Data(body))
    exit(0)
}

// `portrait-bench render-loop SIZE N`: renders N times (for perf/callgrind).
if arguments.first == "render-loop", arguments.count == 3, let size = BenchOptions.parseCount(arguments[1]), let n = Int(arguments[2]) {
    let state = Workload(target: size).state()
    let clock = ContinuousClock()
    let start = clock.now
    for _ in 0..<n { blackHole(PrometheusPlugin.render(state)) }
    print("\(n) renders: \(milliseconds(clock.now - start) / Double(n)) ms each")
    exit(0)
}

// `portrait-bench serve SIZE PORT [LOOPS]`: the Prometheus plugin in this process serving SIZE
// series on 127.0.0.1:PORT until killed (for perf while wrk runs).
if arguments.first == "serve", arguments.count >= 3, let size = BenchOptions.parseCount(arguments[1]), let port = UInt16(arguments[2]) {
    let workload = Workload(target: size)
    var configuration = PrometheusPlugin.Configuration(listen: [try! ListenAddress(parsing: "127.0.0.1:\(port)")])
    configuration.eventLoopThreads = arguments.count > 3 ? Int(arguments[3]) ?? 1 : 1
    let plugin = PrometheusPlugin(configuration: configuration)
    let board = StatusBoard(apps: workload.identities, windows: Workload.windows, startedAt: Date())
    try! await plugin.start(context: PluginContext(status: board, selfMetrics: SelfMetricsRegistry(), logger: Logger(level: .error),
                                                   time: SystemTimeSource()))
    await plugin.publish(workload.state())
    print("serving \(size) series on 127.0.0.1:\(port)")
    fflush(stdout)
    while true { sleep(3600) }
}

if arguments.first == "transport" {
    if let latency = await TransportLatency.measure() { print(latency) }
    exit(0)
}

let options: BenchOptions
do {
    options = try BenchOptions.parse(arguments)
} catch {
    if error.message.isEmpty {
        print(BenchOptions.usage)
        exit(0)
    }
    fputs("error: \(error.message)\n\n\(BenchOptions.usage)\n", stderr)
    exit(2)
}
ChildProcess.installSignalHandlers()
Measure.budgetScale = options.measureScale
if let seconds = options.soakSeconds {
    exit(await Soak.run(seconds: seconds, options: options))
}
exit(await Bench.run(options))

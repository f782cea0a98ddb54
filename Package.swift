// swift-tools-version:6.0
//
// wechat-portrait-exporter: WeChat mini-program user portraits (getUserPortrait) as Prometheus
// metrics, JSON lines and StatsD gauges. Toolchain only: this package declares no dependencies.
import PackageDescription

let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "wechat-portrait-exporter",
    products: [
        .executable(name: "wechat-portrait-exporter", targets: ["wechat-portrait-exporter"]),
    ],
    targets: [
        // Linux syscalls that Glibc's module does not expose (epoll, eventfd, accept4).
        .target(name: "CLinuxShims"),

        // The system zlib (`zlib1g-dev`): gzip copies of the exposition, compressed once per change.
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),

        // Domain model, China calendar, JSON, config, token cache, upstream client, scheduler,
        // status board and the exporter-plugin protocol. Knows nothing about sockets or formats.
        .target(name: "PortraitCore", swiftSettings: strict),

        // A small HTTP/1.1 server on non-blocking POSIX sockets driven by epoll on its own threads.
        .target(name: "PortraitHTTP", dependencies: ["CLinuxShims"], swiftSettings: strict),

        // Exporter plugin: Prometheus text exposition endpoint (/metrics, /healthz, /readyz, /).
        .target(name: "PortraitPrometheus", dependencies: ["PortraitCore", "PortraitHTTP", "CZlib"], swiftSettings: strict),

        // Exporter plugin: JSON lines to stdout, a file (logrotate-safe) or a TCP log collector.
        .target(name: "PortraitJSONL", dependencies: ["PortraitCore"], swiftSettings: strict),

        // Exporter plugin: StatsD gauges over UDP in the dogstatsd, influx, graphite and plain dialects.
        .target(name: "PortraitStatsD", dependencies: ["PortraitCore"], swiftSettings: strict),

        // The built-in WeChat upstream: tokens and getUserPortrait with real validation and errors.
        .target(name: "WeChatSimulator", dependencies: ["PortraitCore", "PortraitHTTP"], swiftSettings: strict),

        // For tests: a manual clock, a recording log sink and plugin, the simulator on a loopback port.
        .target(name: "PortraitTestKit", dependencies: ["CLinuxShims", "PortraitCore", "PortraitHTTP", "WeChatSimulator"], swiftSettings: strict),

        // Wiring: command line, config -> plugins -> scheduler, demo mode, signals. A library so
        // that end-to-end tests run exactly what the executable runs.
        .target(
            name: "PortraitRuntime",
            dependencies: ["PortraitCore", "PortraitHTTP", "PortraitPrometheus", "PortraitJSONL", "PortraitStatsD", "WeChatSimulator"],
            swiftSettings: strict
        ),

        // The thin executable: hands argv to PortraitRuntime and exits with its status.
        .executableTarget(name: "wechat-portrait-exporter", dependencies: ["PortraitRuntime"], swiftSettings: strict),

        // Fuzzing (Fuzz/run.sh): the fuzz targets, a libFuzzer entry point built with
        // -DFUZZING (an input replayer otherwise), and the tests that replay the seed corpus and
        // every saved crash input under Tests/FuzzCorpus.
        .target(name: "PortraitFuzz", dependencies: ["PortraitCore", "PortraitHTTP", "PortraitJSONL", "PortraitRuntime"], swiftSettings: strict),
        .executableTarget(name: "portrait-fuzz", dependencies: ["PortraitFuzz"], swiftSettings: strict),

        // `swift run -c release portrait-bench`: render, encode, decode and scrape figures beside
        // prometheus-pushgateway and a minimal "ceiling" server (README, Performance). Not a test.
        .target(name: "CBenchSupport"),
        .executableTarget(
            name: "portrait-bench",
            dependencies: [
                "CBenchSupport", "PortraitCore", "PortraitHTTP", "PortraitPrometheus", "PortraitJSONL", "PortraitStatsD",
                "PortraitRuntime", "WeChatSimulator",
            ],
            swiftSettings: strict
        ),

        .testTarget(name: "PortraitCoreTests", dependencies: ["PortraitCore", "PortraitTestKit", "WeChatSimulator", "PortraitHTTP"], swiftSettings: strict),
        // Test helper, not a product: an HTTPServer in a child process, so a test can limit its
        // file descriptors (EMFILE) without touching the test process.
        .executableTarget(name: "portrait-http-probe", dependencies: ["PortraitHTTP"], swiftSettings: strict),
        .testTarget(name: "PortraitHTTPTests", dependencies: ["PortraitHTTP", "PortraitTestKit", "portrait-http-probe"], swiftSettings: strict),
        .testTarget(
            name: "PortraitPrometheusTests",
            dependencies: ["PortraitPrometheus", "PortraitCore", "PortraitHTTP", "PortraitTestKit"],
            swiftSettings: strict
        ),
        .testTarget(name: "PortraitFuzzTests", dependencies: ["PortraitFuzz"], swiftSettings: strict),
        .testTarget(name: "PortraitJSONLTests", dependencies: ["PortraitJSONL", "PortraitCore", "PortraitTestKit"], swiftSettings: strict),
        .testTarget(name: "PortraitStatsDTests", dependencies: ["PortraitStatsD", "PortraitCore", "PortraitTestKit"], swiftSettings: strict),
        .testTarget(
            name: "WeChatSimulatorTests",
            dependencies: ["WeChatSimulator", "PortraitCore", "PortraitHTTP", "PortraitTestKit"],
            swiftSettings: strict
        ),
        // A quick run of portrait-bench (1k series, 1 s runs; wrk rows only when wrk is installed).
        .testTarget(name: "PortraitBenchTests", dependencies: ["portrait-bench", "PortraitTestKit"], swiftSettings: strict),
        // Proves dashboards/ and deploy/ against a real Prometheus (promtool, PromQL over the HTTP API).
        .testTarget(name: "DeployTests", dependencies: ["wechat-portrait-exporter", "PortraitCore", "PortraitTestKit"], swiftSettings: strict),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "wechat-portrait-exporter", "PortraitRuntime", "PortraitCore", "PortraitHTTP", "PortraitPrometheus", "PortraitJSONL", "PortraitStatsD",
                "WeChatSimulator", "PortraitTestKit",
            ],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)

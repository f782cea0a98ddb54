import PortraitCore
import PortraitPrometheus
import WeChatSimulator

/// render: a published state to exposition bytes, as the Prometheus plugin does once per new
/// snapshot; and the gzip copy it keeps.
struct RenderResult: Codable, Sendable {
    var size: String
    var series: Int
    var apps: Int
    var bodyBytes: Int
    var render: Timing
    var nsPerSeries: Double
    var allocations: Allocations
    var gzipBytes: Int
    var gzip: Timing
}

enum RenderBench {
    static func run(_ workload: Workload, state: PortraitState) -> RenderResult {
        var body: [UInt8] = []
        let render = Measure.time { body = PrometheusPlugin.render(state) }
        let allocations = Measure.allocations { blackHole(PrometheusPlugin.render(state)) }
        let series = portraitSeriesCount(body)
        var gzipped: [UInt8] = []
        let gzip = Measure.time(minIterations: 3, budgetSeconds: 1) { gzipped = Gzip.compress(body) }
        return RenderResult(
            size: sizeLabel(workload.target), series: series, apps: workload.apps.count, bodyBytes: body.count,
            render: render, nsPerSeries: render.medianMs * 1e6 / Double(max(1, series)), allocations: allocations,
            gzipBytes: gzipped.count, gzip: gzip
        )
    }
}

/// decode: one `getUserPortrait` answer with 5,000 device models (30-day window) to a `Portrait`.
struct DecodeResult: Codable, Sendable {
    var bodyBytes: Int
    var buckets: Int
    var decode: Timing
    var megabytesPerSecond: Double
    var allocations: Allocations
}

enum DecodeBench {
    static let devices = 5_000

    static func run(end: ChinaDate) -> DecodeResult? {
        let generator = PortraitGenerator(seed: 0)
        let body = generator.body(appid: "wx5d0c7a3e9b1f2468", window: .day30, end: end,
                                  scale: DataScale(dailyActiveUsers: 50_000, devices: devices))
        guard let answer = try? PortraitDecoder.decode(body) else { return nil }
        let decode = Measure.time { blackHole(try? PortraitDecoder.decode(body)) }
        let allocations = Measure.allocations { blackHole(try? PortraitDecoder.decode(body)) }
        return DecodeResult(bodyBytes: body.count, buckets: answer.portrait.bucketCount, decode: decode,
                            megabytesPerSecond: Double(body.count) / (decode.medianMs / 1000) / 1e6, allocations: allocations)
    }
}

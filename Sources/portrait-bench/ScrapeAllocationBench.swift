import CBenchSupport
import Foundation
import PortraitCore
import PortraitHTTP
import PortraitPrometheus

/// Allocations (all threads of this process) per scrape of the real Prometheus plugin, run in
/// process on loopback, by a client that allocates nothing: what a scrape costs the server
/// beyond writing bytes. Constant in the number of series when the cached body is served.
struct ScrapeAllocations: Codable, Sendable {
    var scrapes: Int
    var identity: Allocations
    var gzip: Allocations
}

enum ScrapeAllocationBench {
    static func run(state: PortraitState, workload: Workload) async -> ScrapeAllocations? {
        let plugin = PrometheusPlugin(configuration: PrometheusPlugin.Configuration(listen: [try! ListenAddress(parsing: "127.0.0.1:0")]))
        let board = StatusBoard(apps: workload.identities, windows: Workload.windows, startedAt: Date())
        let context = PluginContext(status: board, selfMetrics: SelfMetricsRegistry(), logger: Logger(level: .error), time: SystemTimeSource())
        do { try await plugin.start(context: context) } catch { return nil }
        await plugin.publish(state)
        guard let port = plugin.boundAddresses.first?.port else {
            await plugin.stop()
            return nil
        }
        var buffer = [UInt8](repeating: 0, count: state.snapshots.values.reduce(0) { $0 + $1.portrait.bucketCount } * 400 + (4 << 20))
        let scrapes = 200
        func measure(gzip: Bool) -> Allocations? {
            let fd = bench_connect(Int32(port))
            guard fd >= 0 else { return nil }
            defer { bench_close(fd) }
            let request = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (gzip ? "Accept-Encoding: gzip\r\n" : "") + "\r\n"
            return request.withCString { text -> Allocations? in
                let length = strlen(text)
                return buffer.withUnsafeMutableBufferPointer { out -> Allocations? in
                    var status: Int32 = 0, head = 0
                    // Warm up, and wait until the gzip copy is there (it is made after the identity body).
                    let deadline = Date().addingTimeInterval(30)
                    while true {
                        guard bench_exchange(fd, text, length, out.baseAddress, out.count, &status, &head) > 0 else { return nil }
                        let encoded = bench_memmem(out.baseAddress, head, "Content-Encoding: gzip", 22) != nil
                        if encoded == gzip || Date() > deadline { break }
                        usleep(1000)
                    }
                    var count: UInt64 = 0, bytes: UInt64 = 0
                    bench_alloc_begin(1)
                    for _ in 0..<scrapes {
                        guard bench_exchange(fd, text, length, out.baseAddress, out.count, &status, &head) > 0 else {
                            bench_alloc_end(&count, &bytes)
                            return nil
                        }
                    }
                    bench_alloc_end(&count, &bytes)
                    return Allocations(count: count / UInt64(scrapes), bytes: bytes / UInt64(scrapes))
                }
            }
        }
        let identity = measure(gzip: false), gzip = measure(gzip: true)
        await plugin.stop()
        guard let identity, let gzip else { return nil }
        return ScrapeAllocations(scrapes: scrapes, identity: identity, gzip: gzip)
    }
}

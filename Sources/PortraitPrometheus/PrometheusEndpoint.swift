import Dispatch
import PortraitCore
import PortraitHTTP
import Synchronization

/// The HTTP side of the Prometheus plugin: routes requests and serves `/metrics` from the
/// `ExpositionCache`. Runs on the server's event-loop threads, so it never blocks on more than a
/// short `Mutex` section; scraping never triggers a WeChat call.
///
/// | path | answer |
/// | --- | --- |
/// | `metricsPath` (default `/metrics`) | 200, text format 0.0.4; gzipped when the request accepts gzip |
/// | `/healthz` | 200 `ok` while the process serves |
/// | `/readyz` | 200 once every app has data for every window, else 503 naming what is missing |
/// | `/` | 200, a small HTML status page |
/// | `POST /-/reload` | reloads the config file when `enable_reload` is set and the client is on loopback |
/// | anything else | 404 |
///
/// Methods other than GET and HEAD on those paths get 405 with `Allow: GET, HEAD`.
///
/// `/metrics` honours `Accept-Encoding`: a request that accepts gzip (`gzip` or `*` with a
/// q-value above 0) gets the cached gzip copy with `Content-Encoding: gzip`; any other gets the
/// plain body. Both carry `Vary: Accept-Encoding`. The gzip copy is made once per change of the
/// body (see `ExpositionCache`), never per scrape; right after a new state, until its data part
/// is compressed, gzip requests get the plain body.
final class PrometheusEndpoint: HTTPHandler {
    /// Content type of the exposition (text format 0.0.4).
    static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"
    /// Headers of a plain `/metrics` answer (built once: a scrape copies a reference).
    static let identityHeaders: HTTPHeaders = ["Content-Type": metricsContentType, "Vary": "Accept-Encoding"]
    /// Headers of a gzipped `/metrics` answer.
    static let gzipHeaders: HTTPHeaders = ["Content-Type": metricsContentType, "Content-Encoding": "gzip", "Vary": "Accept-Encoding"]
    /// At most this many missing app/window pairs are named in a 503 from `/readyz`.
    static let readyzListLimit = 20

    let metricsPath: String
    /// Minimum age of the counters part before a scrape re-renders it.
    let counterRefreshInterval: Duration
    /// Whether `POST /-/reload` is served.
    let enableReload: Bool

    private struct Attachment: Sendable {
        var status: StatusBoard?
        var selfMetrics: SelfMetricsRegistry?
        var build: BuildInfo = .current
        var stats: (@Sendable () -> HTTPServerStats?)?
        var reload: (@Sendable () -> ReloadOutcome)?
    }
    private let attachment = Mutex(Attachment())
    private let cache = Mutex(ExpositionCache())
    /// The app/window pairs whose data the served exposition holds. The status board learns of a
    /// fetch a moment before its state reaches this plugin; `/readyz` waits for both, so a 200
    /// means the next scrape has every series.
    private let servedKeys = Mutex<Set<SnapshotKey>>([])

    /// The data part waiting for its gzip member, and whether the compressor is at work.
    private struct Compression {
        var pending: (generation: UInt64, data: [UInt8])?
        var running = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }
    private let compression = Mutex(Compression())
    /// Where data parts are compressed: off the publishing task and the event loops, one at a
    /// time, the newest first (an older part still waiting is skipped).
    private let compressionQueue = DispatchQueue(label: "prometheus-gzip", qos: .utility)

    init(metricsPath: String, counterRefreshInterval: Duration, enableReload: Bool = false) {
        self.metricsPath = metricsPath
        self.counterRefreshInterval = counterRefreshInterval
        self.enableReload = enableReload
    }

    /// Connects the endpoint to the host's status board, self-metrics and build facts.
    func attach(_ context: PluginContext) {
        attachment.withLock {
            $0.status = context.status
            $0.selfMetrics = context.selfMetrics
            $0.build = context.build
            $0.reload = context.reload
        }
        cache.withLock { $0.invalidateStatus() }
    }

    /// Sets (or clears) where the HTTP server counters come from.
    func setStatsSource(_ source: (@Sendable () -> HTTPServerStats?)?) {
        attachment.withLock { $0.stats = source }
    }

    // MARK: Data

    /// Renders the data part of `state` (build info and portrait families) and swaps it in; its
    /// gzip member is made on the compression queue and installed when done (gzip scrapes get the
    /// plain body meanwhile). Called once per published state, outside the cache lock except for
    /// the swap, and returns without waiting for the compression, so a newer state is never held
    /// up behind an older one's.
    func publish(_ state: PortraitState) {
        let build = attachment.withLock { $0.build }
        let hint = cache.withLock { $0.dataSizeHint }
        var renderer = ExpositionRenderer(capacity: hint + 4096)
        renderer.renderBuildInfo(build)
        renderer.renderPortraits(state)
        let data = renderer.take()
        let generation = cache.withLock { $0.replaceData(data) }
        servedKeys.withLock { $0 = Set(state.snapshots.keys) }
        compressLater(data, generation: generation)
    }

    /// Queues `data` for compression, replacing an older part still waiting.
    private func compressLater(_ data: [UInt8], generation: UInt64) {
        let start = compression.withLock { state -> Bool in
            state.pending = (generation, data)
            if state.running { return false }
            state.running = true
            return true
        }
        guard start else { return }
        compressionQueue.async { [self] in
            while true {
                let next = compression.withLock { state -> (job: (generation: UInt64, data: [UInt8])?, done: [CheckedContinuation<Void, Never>]) in
                    guard let job = state.pending else {
                        state.running = false
                        defer { state.waiters = [] }
                        return (nil, state.waiters)
                    }
                    state.pending = nil
                    return (job, [])
                }
                guard let job = next.job else {
                    next.done.forEach { $0.resume() }
                    return
                }
                let member = Gzip.compress(job.data)
                _ = cache.withLock { $0.installGzipData(member, generation: job.generation) }
            }
        }
    }

    /// Returns once no data part waits for compression (the gzip copy of the last published
    /// state is installed). For tests and benchmarks.
    func gzipSettled() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = compression.withLock { state -> Bool in
                if !state.running { return true }
                state.waiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }

    /// The whole `/metrics` body, refreshed as `ExpositionCache` describes (joined; for tests and
    /// `PrometheusPlugin.currentExposition()` — scrapes send the two parts without joining them).
    func metricsBody() -> [UInt8] {
        let parts = metricsParts(gzip: false).parts
        return parts.data + parts.tail
    }

    /// The `/metrics` body as data part and tail, gzipped when `gzip` is asked for and the gzip
    /// copy is ready.
    func metricsParts(gzip: Bool) -> (parts: (data: [UInt8], tail: [UInt8]), gzipped: Bool) {
        let attached = attachment.withLock { $0 }
        let now = ContinuousClock.now
        let version = attached.status?.version ?? 0
        let report = { attached.status?.report() }
        let counters = { (renderer: inout ExpositionRenderer) in
            if let stats = attached.stats?() { renderer.renderHTTPStats(stats) }
            renderer.renderProcess(ProcessMetrics.read())
            if let registry = attached.selfMetrics { renderer.renderSelfMetrics(registry.collect()) }
        }
        return cache.withLock { cache in
            if gzip, let parts = cache.currentGzip(now: now, interval: counterRefreshInterval, statusVersion: version,
                                                   report: report, counters: counters) {
                return (parts, true)
            }
            return (cache.current(now: now, interval: counterRefreshInterval, statusVersion: version,
                                  report: report, counters: counters), false)
        }
    }

    /// The gzip `/metrics` body (joined) as a gzip scrape would get it, or nil before the gzip
    /// copy exists.
    func gzipMetricsBody() -> [UInt8]? {
        let answer = metricsParts(gzip: true)
        return answer.gzipped ? answer.parts.data + answer.parts.tail : nil
    }

    /// Render and assembly counts, for tests.
    var renderCounts: ExpositionCache.Counts { cache.withLock { $0.counts } }

    // MARK: Routing

    func handle(_ request: HTTPRequest) -> HTTPResponse {
        enum Route { case metrics, health, ready, landing }
        let route: Route
        switch request.path {
        case metricsPath: route = .metrics
        case "/healthz": route = .health
        case "/readyz": route = .ready
        case "/": route = .landing
        case "/-/reload": return reload(request)
        default: return .text(404, "not found; see / for the endpoints\n")
        }
        guard request.method == "GET" || request.method == "HEAD" else {
            var response = HTTPResponse.text(405, "method not allowed; use GET or HEAD\n")
            response.headers.replaceOrAdd("Allow", "GET, HEAD")
            return response
        }
        switch route {
        case .metrics:
            let answer = metricsParts(gzip: AcceptEncoding.acceptsGzip(request.headers))
            var response = HTTPResponse(status: 200, headers: answer.gzipped ? Self.gzipHeaders : Self.identityHeaders,
                                        body: answer.parts.data)
            response.bodyTail = answer.parts.tail
            return response
        case .health:
            return .text(200, "ok\n")
        case .ready:
            return readiness()
        case .landing:
            let attached = attachment.withLock { $0 }
            let body = LandingPage.render(report: attached.status?.report(), build: attached.build, metricsPath: metricsPath)
            return HTTPResponse(status: 200, headers: ["Content-Type": "text/html; charset=utf-8"], body: body)
        }
    }

    /// `POST /-/reload`: validates the config file at once (a few milliseconds on this event-loop
    /// thread) and applies it in the background. 200 when applied, 400 with every problem when the
    /// new config is invalid (the old one keeps running), 403 when disabled or not from loopback.
    private func reload(_ request: HTTPRequest) -> HTTPResponse {
        guard request.method == "POST" || request.method == "PUT" else {
            var response = HTTPResponse.text(405, "method not allowed; use POST\n")
            response.headers.replaceOrAdd("Allow", "POST, PUT")
            return response
        }
        guard enableReload else { return .text(403, "reload is disabled; set enable_reload in the prometheus exporter config\n") }
        guard request.isLoopback else { return .text(403, "reload is accepted from loopback clients only\n") }
        guard let reload = attachment.withLock({ $0.reload }) else { return .text(409, "this process has no config file to reload\n") }
        switch reload() {
        case .applied: return .text(200, "config reloaded\n")
        case .rejected(let problems): return .text(400, problems + "\n")
        case .unavailable(let why): return .text(409, why + "\n")
        }
    }

    /// 200 `ready` when every configured app has data for every configured window and that data
    /// is in the exposition this endpoint serves; otherwise 503 naming the app/window pairs
    /// without data (the first `readyzListLimit` of them).
    private func readiness() -> HTTPResponse {
        guard let report = attachment.withLock({ $0.status })?.report() else {
            return .text(503, "not ready: not started\n")
        }
        if report.jobs.isEmpty { return .text(503, "not ready: no app or window configured\n") }
        let served = servedKeys.withLock { $0 }
        if report.isReady && report.jobs.allSatisfy({ served.contains($0.key) }) { return .text(200, "ready\n") }
        let missing = report.jobs.filter { $0.dataEndDate == nil || !served.contains($0.key) }
            .sorted { $0.key < $1.key }.map(\.key.description)
        var text = "not ready: no data yet for " + missing.prefix(Self.readyzListLimit).joined(separator: ", ")
        if missing.count > Self.readyzListLimit { text += " and \(missing.count - Self.readyzListLimit) more" }
        return .text(503, text + "\n")
    }
}

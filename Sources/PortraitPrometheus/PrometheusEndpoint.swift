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

    /// Renders the data part of `state` (build info and portrait families) and swaps it in, then
    /// compresses it and installs the gzip copy. Called once per published state, outside the
    /// cache lock except for the two swaps; the plain body is served before the compression ends.
    func publish(_ state: PortraitState) {
        let build = attachment.withLock { $0.build }
        let hint = cache.withLock { $0.dataSizeHint }
        // Room for the status and counter parts too, so the first assembly appends in place.
        var renderer = ExpositionRenderer(capacity: hint + hint / 8 + 32 * 1024)
        renderer.renderBuildInfo(build)
        renderer.renderPortraits(state)
        let data = renderer.take()
        let generation = cache.withLock { $0.replaceData(data) }
        let member = Gzip.compress(data)
        _ = cache.withLock { $0.installGzipData(member, generation: generation) }
    }

    /// The `/metrics` body, refreshed as `ExpositionCache` describes.
    func metricsBody() -> [UInt8] {
        metricsBody(gzip: false).body
    }

    /// The `/metrics` body, gzipped when `gzip` is asked for and the gzip copy is ready.
    func metricsBody(gzip: Bool) -> (body: [UInt8], gzipped: Bool) {
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
            if gzip, let body = cache.currentGzip(now: now, interval: counterRefreshInterval, statusVersion: version,
                                                  report: report, counters: counters) {
                return (body, true)
            }
            return (cache.current(now: now, interval: counterRefreshInterval, statusVersion: version,
                                  report: report, counters: counters), false)
        }
    }

    /// The gzip `/metrics` body as a gzip scrape would get it, or nil before the gzip copy exists.
    func gzipMetricsBody() -> [UInt8]? {
        let answer = metricsBody(gzip: true)
        return answer.gzipped ? answer.body : nil
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
            let answer = metricsBody(gzip: AcceptEncoding.acceptsGzip(request.headers))
            return HTTPResponse(status: 200, headers: answer.gzipped ? Self.gzipHeaders : Self.identityHeaders, body: answer.body)
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

    /// 200 `ready` when every configured app has data for every configured window; otherwise
    /// 503 naming the app/window pairs without data (the first `readyzListLimit` of them).
    private func readiness() -> HTTPResponse {
        guard let report = attachment.withLock({ $0.status })?.report() else {
            return .text(503, "not ready: not started\n")
        }
        if report.isReady { return .text(200, "ready\n") }
        if report.jobs.isEmpty { return .text(503, "not ready: no app or window configured\n") }
        let missing = report.jobs.filter { $0.dataEndDate == nil }.sorted { $0.key < $1.key }.map(\.key.description)
        var text = "not ready: no data yet for " + missing.prefix(Self.readyzListLimit).joined(separator: ", ")
        if missing.count > Self.readyzListLimit { text += " and \(missing.count - Self.readyzListLimit) more" }
        return .text(503, text + "\n")
    }
}

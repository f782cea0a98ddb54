import PortraitCore
import PortraitHTTP

/// The whole `/metrics` body, kept ready to serve, and the parts it is assembled from.
///
/// The body is laid out as `[data][status][counters]`:
/// - **data**: build info and the portrait families, rendered once per published state
///   (`replaceData`), never per scrape;
/// - **status**: families read from the `StatusBoard`, re-rendered when its version changes;
/// - **counters**: HTTP server stats, `process_*` and other plugins' self-metrics, re-rendered
///   at most once per `counterRefreshInterval` (1 s by default), so these counters may lag by
///   up to that long.
///
/// A scrape that finds nothing stale returns the cached array: a reference-count increment,
/// no rendering and no copy. A refresh truncates the body after the data part and appends the
/// new tail, in place whenever no response still holds the previous body (the normal case at
/// scrape intervals of seconds), so its cost is proportional to the status and counter parts,
/// not to the number of portrait series. Not thread-safe by itself: the endpoint keeps it in a
/// `Mutex`.
struct ExpositionCache {
    /// The body as last assembled.
    private(set) var body: [UInt8] = []
    /// Bytes of `body` that are the data part.
    private var dataCount = 0
    /// Bytes of `body` after the data part that are the status part, when `statusInBody` is set.
    private var statusCount = 0
    /// The status version whose rendering follows the data part in `body`.
    private var statusInBody: UInt64?
    /// Whether the counters part ends `body`.
    private var countersInBody = false

    private var statusRenderer = ExpositionRenderer(capacity: 16 * 1024)
    private var renderedStatusVersion: UInt64?
    private var countersRenderer = ExpositionRenderer(capacity: 16 * 1024)
    private var countersRenderedAt: ContinuousClock.Instant?

    /// How often each part was rendered and how often the body was re-assembled (tests and
    /// benchmarks check that a scrape renders nothing).
    struct Counts: Sendable, Equatable {
        var data = 0
        var status = 0
        var counters = 0
        var assemblies = 0
    }
    private(set) var counts = Counts()

    /// Size of the last data part, a capacity hint for the next rendering.
    var dataSizeHint: Int { dataCount }

    /// Installs a freshly rendered data part; the status and counter parts are appended again on
    /// the next scrape (from their cached renderings when still current).
    mutating func replaceData(_ data: [UInt8]) {
        body = data
        dataCount = data.count
        statusInBody = nil
        countersInBody = false
        counts.data += 1
    }

    /// Forgets the rendered status, so the next scrape renders it from the board again.
    mutating func invalidateStatus() {
        renderedStatusVersion = nil
        statusInBody = nil
        countersInBody = false
        body.removeSubrange(dataCount...)
    }

    /// The body to serve now, refreshed as described on the type.
    /// - Parameters:
    ///   - statusVersion: the board's current version (cheap to read; 0 without a board).
    ///   - report: reads the board's full report (nil without a board); called only when the
    ///     version changed.
    ///   - counters: renders the counter families; called at most once per `interval`.
    mutating func current(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) -> [UInt8] {
        let statusCurrent = statusInBody == statusVersion
        let countersFresh = countersRenderedAt.map { now - $0 < interval } ?? false
        if statusCurrent && countersInBody && countersFresh { return body }

        counts.assemblies += 1
        if statusCurrent {
            body.removeSubrange((dataCount + statusCount)...)
        } else {
            body.removeSubrange(dataCount...)
            if renderedStatusVersion != statusVersion {
                statusRenderer.reset()
                let latest = report()
                if let latest { statusRenderer.renderStatus(latest) }
                // The report may be newer than the version read a moment ago; label it truly.
                renderedStatusVersion = latest?.version ?? statusVersion
                counts.status += 1
            }
            body.append(contentsOf: statusRenderer.bytes)
            statusCount = statusRenderer.bytes.count
            statusInBody = renderedStatusVersion
        }
        if !countersFresh {
            countersRenderer.reset()
            counters(&countersRenderer)
            countersRenderedAt = now
            counts.counters += 1
        }
        body.append(contentsOf: countersRenderer.bytes)
        countersInBody = true
        return body
    }
}

import PortraitCore
import PortraitHTTP

/// The whole `/metrics` body, kept ready to serve as is and gzipped, and the parts it is
/// assembled from.
///
/// The body is laid out as `[data][status][counters]`:
/// - **data**: build info and the portrait families, rendered once per published state
///   (`replaceData`), never per scrape;
/// - **status**: families read from the `StatusBoard`, re-rendered when its version changes;
/// - **counters**: HTTP server stats, `process_*` and other plugins' self-metrics, re-rendered
///   at most once per `counterRefreshInterval` (1 s by default), so these counters may lag by
///   up to that long.
///
/// The gzip copy has the same layout, one gzip member per part: `[gz data][gz status][gz counters]`
/// (concatenated members are one valid gzip stream, RFC 1952 §2.2). Each member is compressed
/// once per change of its part: the data member once per published state (by the endpoint,
/// outside the lock, after the plain body is already served), the small status and counter
/// members when a gzip scrape first needs their current rendering. So a refresh of the counters
/// costs a compression of a few kilobytes, never of the portrait series.
///
/// A scrape that finds nothing stale returns a cached array: a reference-count increment, no
/// rendering, no compression and no copy. A refresh truncates a body after its data part and
/// appends the new tail, in place whenever no response still holds the previous body, so its
/// cost is proportional to the status and counter parts, not to the number of portrait series.
/// Not thread-safe by itself: the endpoint keeps it in a `Mutex`.
struct ExpositionCache {
    /// The plain body as last assembled.
    private(set) var body: [UInt8] = []
    /// Bytes of `body` that are the data part.
    private var dataCount = 0
    /// Bytes of `body` after the data part that are the status part, when `bodyStatus` is set.
    private var statusCount = 0
    /// The status version whose rendering follows the data part in `body`.
    private var bodyStatus: UInt64?
    /// The counters rendering (`countersSerial`) that ends `body`.
    private var bodyCounters: UInt64?

    /// The gzip body as last assembled; starts with the data member once it is installed.
    private var gzipBody: [UInt8] = []
    /// Bytes of `gzipBody` that are the data member; nil until the data part's member is installed.
    private var gzipDataCount: Int?
    private var gzipStatusCount = 0
    private var gzipBodyStatus: UInt64?
    private var gzipBodyCounters: UInt64?

    /// Increases with every `replaceData`; tells a late data member from the current one.
    private(set) var dataGeneration: UInt64 = 0

    private var statusRenderer = ExpositionRenderer(capacity: 16 * 1024)
    private var renderedStatusVersion: UInt64?
    /// gzip member of `statusRenderer.bytes`; made on first need.
    private var statusMember: [UInt8]?
    private var countersRenderer = ExpositionRenderer(capacity: 16 * 1024)
    private var countersRenderedAt: ContinuousClock.Instant?
    private var countersSerial: UInt64 = 0
    /// gzip member of `countersRenderer.bytes`; made on first need.
    private var countersMember: [UInt8]?

    /// Compression level of the status and counter members.
    static let tailLevel: Int32 = Gzip.defaultLevel

    /// How often each part was rendered or compressed and how often a body was re-assembled
    /// (tests and benchmarks check that a scrape renders and compresses nothing).
    struct Counts: Sendable, Equatable {
        var data = 0
        var status = 0
        var counters = 0
        var assemblies = 0
        /// gzip members made for the data part, and for status or counter parts.
        var gzipData = 0
        var gzipTail = 0
        var gzipAssemblies = 0
    }
    private(set) var counts = Counts()

    /// Size of the last data part, a capacity hint for the next rendering.
    var dataSizeHint: Int { dataCount }

    /// Whether a gzip copy of the current data part is installed.
    var hasGzip: Bool { gzipDataCount != nil }

    /// Installs a freshly rendered data part; the status and counter parts are appended again on
    /// the next scrape (from their cached renderings when still current). The gzip copy is
    /// dropped until `installGzipData` brings the new data part's member; until then gzip
    /// requests get the plain body.
    /// - Returns: the data generation to pass to `installGzipData`.
    @discardableResult
    mutating func replaceData(_ data: [UInt8]) -> UInt64 {
        body = data
        dataCount = data.count
        bodyStatus = nil
        bodyCounters = nil
        gzipBody = []
        gzipDataCount = nil
        gzipBodyStatus = nil
        gzipBodyCounters = nil
        dataGeneration += 1
        counts.data += 1
        return dataGeneration
    }

    /// Installs the gzip member of the data part of `generation`; ignored (returns false) when
    /// another data part has replaced it meanwhile.
    @discardableResult
    mutating func installGzipData(_ member: [UInt8], generation: UInt64) -> Bool {
        guard generation == dataGeneration else { return false }
        gzipBody = member
        gzipDataCount = member.count
        gzipBodyStatus = nil
        gzipBodyCounters = nil
        counts.gzipData += 1
        return true
    }

    /// Forgets the rendered status, so the next scrape renders it from the board again.
    mutating func invalidateStatus() {
        renderedStatusVersion = nil
        statusMember = nil
        bodyStatus = nil
        gzipBodyStatus = nil
    }

    /// The plain body to serve now, refreshed as described on the type.
    /// - Parameters:
    ///   - statusVersion: the board's current version (cheap to read; 0 without a board).
    ///   - report: reads the board's full report (nil without a board); called only when the
    ///     version changed.
    ///   - counters: renders the counter families; called at most once per `interval`.
    mutating func current(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) -> [UInt8] {
        refreshParts(now: now, interval: interval, statusVersion: statusVersion, report: report, counters: counters)
        if bodyStatus == renderedStatusVersion && bodyCounters == countersSerial { return body }

        counts.assemblies += 1
        if bodyStatus == renderedStatusVersion {
            body.removeSubrange((dataCount + statusCount)...)
        } else {
            body.removeSubrange(dataCount...)
            body.append(contentsOf: statusRenderer.bytes)
            statusCount = statusRenderer.bytes.count
            bodyStatus = renderedStatusVersion
        }
        body.append(contentsOf: countersRenderer.bytes)
        bodyCounters = countersSerial
        return body
    }

    /// The gzip body to serve now (same content as `current`), or nil while the current data
    /// part has no gzip member yet. Parameters as for `current`.
    mutating func currentGzip(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) -> [UInt8]? {
        guard let gzipDataCount else { return nil }
        refreshParts(now: now, interval: interval, statusVersion: statusVersion, report: report, counters: counters)
        if gzipBodyStatus == renderedStatusVersion && gzipBodyCounters == countersSerial { return gzipBody }

        counts.gzipAssemblies += 1
        if gzipBodyStatus == renderedStatusVersion {
            gzipBody.removeSubrange((gzipDataCount + gzipStatusCount)...)
        } else {
            gzipBody.removeSubrange(gzipDataCount...)
            let member = statusMember ?? compressTail(statusRenderer.bytes)
            statusMember = member
            gzipBody.append(contentsOf: member)
            gzipStatusCount = member.count
            gzipBodyStatus = renderedStatusVersion
        }
        let member = countersMember ?? compressTail(countersRenderer.bytes)
        countersMember = member
        gzipBody.append(contentsOf: member)
        gzipBodyCounters = countersSerial
        return gzipBody
    }

    /// Brings the status and counter renderings up to date (the status when the board's version
    /// changed, the counters when older than `interval`).
    private mutating func refreshParts(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) {
        if renderedStatusVersion != statusVersion {
            statusRenderer.reset()
            let latest = report()
            if let latest { statusRenderer.renderStatus(latest) }
            // The report may be newer than the version read a moment ago; label it truly.
            renderedStatusVersion = latest?.version ?? statusVersion
            statusMember = nil
            counts.status += 1
        }
        let countersFresh = countersRenderedAt.map { now - $0 < interval } ?? false
        if !countersFresh {
            countersRenderer.reset()
            counters(&countersRenderer)
            countersRenderedAt = now
            countersSerial &+= 1
            countersMember = nil
            counts.counters += 1
        }
    }

    /// A gzip member of a status or counter rendering; nothing for an empty one.
    private mutating func compressTail(_ bytes: [UInt8]) -> [UInt8] {
        guard !bytes.isEmpty else { return [] }
        counts.gzipTail += 1
        return Gzip.compress(bytes, level: Self.tailLevel)
    }
}

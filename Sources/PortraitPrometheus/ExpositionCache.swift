import PortraitCore
import PortraitHTTP

/// The whole `/metrics` body, kept ready to serve as is and gzipped, in two parts that go out
/// together in one vectored write (`HTTPResponse.body` and `bodyTail`):
///
/// - **data**: build info and the portrait families, rendered once per published state
///   (`replaceData`) and never modified afterwards;
/// - **tail**: the **status** families read from the `StatusBoard` (re-rendered when its version
///   changes) followed by the **counters** — HTTP server stats, `process_*` and other plugins'
///   self-metrics — re-rendered at most once per `counterRefreshInterval` (1 s by default), so
///   these counters may lag by up to that long.
///
/// The gzip copy has the same layout, one gzip member per part: `[gz data]` + `[gz status][gz
/// counters]` (concatenated members are one valid gzip stream, RFC 1952 §2.2). Each member is
/// compressed once per change of its part: the data member once per published state (by the
/// endpoint, off the publishing task, while the plain body is already served), the small status
/// and counter members when a gzip scrape first needs their current rendering. So a refresh of
/// the counters costs a compression of a few kilobytes, never of the portrait series.
///
/// A scrape that finds nothing stale returns the cached arrays: reference-count increments, no
/// rendering, no compression, no copy. A refresh rebuilds only the tail (kilobytes); the data
/// part — megabytes at 100k series — is never copied or re-assembled, whatever responses still
/// hold it. Not thread-safe by itself: the endpoint keeps it in a `Mutex`.
struct ExpositionCache {
    /// The data part as last published.
    private(set) var data: [UInt8] = []
    /// Status then counters, as last assembled.
    private var tail: [UInt8] = []
    /// The status version and counters rendering (`countersSerial`) in `tail`.
    private var tailStatus: UInt64?
    private var tailCounters: UInt64?

    /// gzip member of the data part; nil until the current data part's member is installed.
    private var gzipData: [UInt8]?
    /// Status member then counters member, as last assembled.
    private var gzipTail: [UInt8] = []
    private var gzipTailStatus: UInt64?
    private var gzipTailCounters: UInt64?

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

    /// How often each part was rendered or compressed and how often a tail was re-assembled
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
    var dataSizeHint: Int { data.count }

    /// Whether a gzip copy of the current data part is installed.
    var hasGzip: Bool { gzipData != nil }

    /// Installs a freshly rendered data part (the tail stays as it is). The gzip copy is dropped
    /// until `installGzipData` brings the new data part's member; until then gzip requests get
    /// the plain body.
    /// - Returns: the data generation to pass to `installGzipData`.
    @discardableResult
    mutating func replaceData(_ data: [UInt8]) -> UInt64 {
        self.data = data
        gzipData = nil
        dataGeneration += 1
        counts.data += 1
        return dataGeneration
    }

    /// Installs the gzip member of the data part of `generation`; ignored (returns false) when
    /// another data part has replaced it meanwhile.
    @discardableResult
    mutating func installGzipData(_ member: [UInt8], generation: UInt64) -> Bool {
        guard generation == dataGeneration else { return false }
        gzipData = member
        counts.gzipData += 1
        return true
    }

    /// Forgets the rendered status, so the next scrape renders it from the board again.
    mutating func invalidateStatus() {
        renderedStatusVersion = nil
        statusMember = nil
        tailStatus = nil
        gzipTailStatus = nil
    }

    /// The plain body to serve now, as data part and tail, refreshed as described on the type.
    /// - Parameters:
    ///   - statusVersion: the board's current version (cheap to read; 0 without a board).
    ///   - report: reads the board's full report (nil without a board); called only when the
    ///     version changed.
    ///   - counters: renders the counter families; called at most once per `interval`.
    mutating func current(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) -> (data: [UInt8], tail: [UInt8]) {
        refreshParts(now: now, interval: interval, statusVersion: statusVersion, report: report, counters: counters)
        if tailStatus != renderedStatusVersion || tailCounters != countersSerial {
            counts.assemblies += 1
            tail.removeAll(keepingCapacity: true)
            tail.append(contentsOf: statusRenderer.bytes)
            tail.append(contentsOf: countersRenderer.bytes)
            tailStatus = renderedStatusVersion
            tailCounters = countersSerial
        }
        return (data, tail)
    }

    /// The gzip body to serve now (the same content as `current`), or nil while the current data
    /// part has no gzip member yet. Parameters as for `current`.
    mutating func currentGzip(
        now: ContinuousClock.Instant, interval: Duration, statusVersion: UInt64,
        report: () -> StatusReport?, counters: (inout ExpositionRenderer) -> Void
    ) -> (data: [UInt8], tail: [UInt8])? {
        guard let gzipData else { return nil }
        refreshParts(now: now, interval: interval, statusVersion: statusVersion, report: report, counters: counters)
        if gzipTailStatus != renderedStatusVersion || gzipTailCounters != countersSerial {
            counts.gzipAssemblies += 1
            let status = statusMember ?? compressTail(statusRenderer.bytes)
            statusMember = status
            let counters = countersMember ?? compressTail(countersRenderer.bytes)
            countersMember = counters
            gzipTail.removeAll(keepingCapacity: true)
            gzipTail.append(contentsOf: status)
            gzipTail.append(contentsOf: counters)
            gzipTailStatus = renderedStatusVersion
            gzipTailCounters = countersSerial
        }
        return (gzipData, gzipTail)
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

import Dispatch
import PortraitCore
import Synchronization

/// Exporter plugin (`"type": "statsd"`): sends every portrait bucket as a StatsD gauge over UDP.
///
/// On each `publish` the whole state is encoded (`StatsDLineEncoder`) and packed into datagrams
/// (`DatagramPacker`, per snapshot) once; the datagrams of snapshots that are new or changed are
/// sent at once, and all of them are re-sent every `interval` (aggregators forget idle gauges),
/// the resend only handing the prepared bytes to the sender. Sending happens on the sender's own queue (`UDPSender`), so an unreachable or
/// unresolvable target never blocks `publish`, the fetcher or another plugin: failures are
/// counted in the self-metrics and logged once per change of state.
///
/// Self-metrics (label `exporter` = the plugin's name): counters
/// `wechat_portrait_statsd_packets_total`, `…_lines_total`, `…_bytes_total`,
/// `…_send_errors_total`, `…_dropped_lines_total`, `…_resolve_errors_total`, `…_flushes_total`,
/// `…_superseded_flushes_total`; gauges `wechat_portrait_statsd_prepared_packets`,
/// `…_prepared_lines`.
public final class StatsDPlugin: ExporterPlugin {
    /// Everything the plugin needs; read from the config by `init?(config:)`.
    public struct Configuration: Sendable, Equatable {
        /// The StatsD server.
        public var address: StatsDAddress
        /// Line format.
        public var dialect: StatsDDialect
        /// Metric name (first component in `plain`); must satisfy `StatsDSanitizer.prefixProblem`.
        public var prefix: String
        /// Largest datagram payload in bytes (`DatagramPacker.allowedPayloadBytes`).
        public var maxPacketBytes: Int
        /// Resend period; `nil` sends only when a new state is published.
        public var interval: Duration?
        /// Limit in bytes for names and tag values (see `StatsDLineEncoder`).
        public var maxNameBytes: Int
        /// How often the host name is resolved again; `nil` resolves once.
        public var resolveInterval: Duration?

        /// Default resend period: 60 s.
        public static let defaultInterval = Duration.seconds(60)
        /// Default re-resolution period: 60 s.
        public static let defaultResolveInterval = Duration.seconds(60)

        public init(
            address: StatsDAddress,
            dialect: StatsDDialect = .default,
            prefix: String = StatsDLineEncoder.defaultPrefix,
            maxPacketBytes: Int = DatagramPacker.defaultMaxPayloadBytes,
            interval: Duration? = Configuration.defaultInterval,
            maxNameBytes: Int = StatsDLineEncoder.defaultMaxNameBytes,
            resolveInterval: Duration? = Configuration.defaultResolveInterval
        ) {
            self.address = address
            self.dialect = dialect
            self.prefix = prefix
            self.maxPacketBytes = maxPacketBytes
            self.interval = interval
            self.maxNameBytes = maxNameBytes
            self.resolveInterval = resolveInterval
        }

        /// Why these settings cannot work together (key, message), or an empty list.
        public var problems: [(key: String, message: String)] {
            var problems: [(key: String, message: String)] = []
            if let problem = StatsDSanitizer.prefixProblem(prefix) { problems.append(("prefix", problem)) }
            if !DatagramPacker.allowedPayloadBytes.contains(maxPacketBytes) {
                problems.append(("max_packet_bytes", "must be between \(DatagramPacker.allowedPayloadBytes.lowerBound) and \(DatagramPacker.allowedPayloadBytes.upperBound), found \(maxPacketBytes)"))
            }
            guard problems.isEmpty else { return problems }
            let minimum = StatsDLineEncoder.minimumMaxNameBytes(dialect: dialect, prefix: prefix)
            if maxNameBytes < minimum {
                problems.append(("max_name_bytes", "must be at least \(minimum) with prefix \"\(prefix)\" in the \(dialect) dialect (room for the prefix and \(StatsDSanitizer.minimumValueBytes) bytes per label), found \(maxNameBytes)"))
                return problems
            }
            let longest = encoder.maximumLineBytes
            if longest > maxPacketBytes {
                problems.append(("max_name_bytes", "allows lines of up to \(longest) bytes in the \(dialect) dialect, more than max_packet_bytes (\(maxPacketBytes)); lower max_name_bytes or raise max_packet_bytes"))
            }
            return problems
        }

        /// The encoder for these settings.
        public var encoder: StatsDLineEncoder { StatsDLineEncoder(dialect: dialect, prefix: prefix, maxNameBytes: maxNameBytes) }
    }

    public let name: String
    public let configuration: Configuration
    private let encoder: StatsDLineEncoder
    private let packer: DatagramPacker
    private let counters = StatsDCounters()
    /// Datagrams of the newest state, sent on every flush.
    private let prepared = Mutex<[Datagram]>([])
    /// The snapshots of the last prepared state, to tell which ones changed.
    private let lastPrepared = Mutex<[SnapshotKey: Snapshot]>([:])

    private struct Running {
        var sender: UDPSender
        var resend: Task<Void, Never>?
    }
    private let running = Mutex<Running?>(nil)

    private let encodingQueue: DispatchQueue

    /// How long `stop` waits for the sender's queue (it may be in a slow DNS lookup).
    public static let stopTimeout = Duration.seconds(2)

    private let resolver: StatsDResolver

    /// `resolver` turns the address's host name into IP addresses (tests inject slow or failing ones).
    public init(name: String = StatsDPlugin.configType, configuration: Configuration, resolver: StatsDResolver = .system) {
        self.name = name
        self.configuration = configuration
        self.resolver = resolver
        encoder = configuration.encoder
        packer = DatagramPacker(maxPayloadBytes: configuration.maxPacketBytes)
        encodingQueue = DispatchQueue(label: "wechat-portrait-exporter.\(name).encoding")
    }

    /// `udp 127.0.0.1:8125 (dogstatsd)`.
    public var summary: String { "udp \(configuration.address) (\(configuration.dialect))" }

    /// The counters now.
    public var statistics: StatsDStatistics { counters.values }

    public func start(context: PluginContext) async throws {
        let sender = UDPSender(address: configuration.address, resolveInterval: configuration.resolveInterval, resolver: resolver, time: context.time,
                               logger: context.logger.with("exporter", name), counters: counters, label: name)
        var resend: Task<Void, Never>?
        if let interval = configuration.interval {
            let time = context.time
            resend = Task { [self] in
                while true {
                    do { try await time.sleep(for: interval) } catch { return }
                    let datagrams = self.prepared.withLock { $0 }
                    if !datagrams.isEmpty { sender.flush(datagrams) }
                }
            }
        }
        running.withLock { $0 = Running(sender: sender, resend: resend) }
        let counters = self.counters
        let name = self.name
        context.selfMetrics.register { Self.selfMetrics(counters.values, exporter: name) }
        sender.prepare()
    }

    public func publish(_ state: PortraitState) async {
        // Encoding and packing a large state takes a few hundred milliseconds of CPU (40 000 lines:
        // ~0.3 s); do it on the plugin's own queue rather than hold a cooperative thread.
        let (all, changed) = await withCheckedContinuation { (continuation: CheckedContinuation<([Datagram], [Datagram]), Never>) in
            encodingQueue.async { continuation.resume(returning: self.prepare(state)) }
        }
        prepared.withLock { $0 = all }
        // Only the snapshots that are new or whose data changed go out now; the periodic resend
        // repeats all of them. A fleet of hundreds of apps thus sends each day's data once at
        // arrival instead of the whole state for every app's new day.
        if !changed.isEmpty { running.withLock { $0?.sender }?.flush(changed, fullSet: all) }
    }

    /// Encodes and packs `state` (CPU only), updating the prepared-size gauges and dropped lines.
    /// Returns every datagram (for resends) and those of snapshots whose data differs from the
    /// last state prepared (for sending now). Runs on `encodingQueue` only.
    func prepare(_ state: PortraitState) -> (all: [Datagram], changed: [Datagram]) {
        var datagrams: [Datagram] = []
        var changed: [Datagram] = []
        var lines = 0
        let previous = lastPrepared.withLock { $0 }
        for snapshot in encoder.encode(state) {
            let packed = packer.pack(snapshot.lines)
            counters.droppedLines.add(packed.droppedLines)
            lines += snapshot.lines.count - packed.droppedLines
            datagrams.append(contentsOf: packed.datagrams)
            let isSame = previous[snapshot.key].map { old in state.snapshots[snapshot.key].map { $0.hasSameData(as: old) } ?? false } ?? false
            if !isSame { changed.append(contentsOf: packed.datagrams) }
        }
        lastPrepared.withLock { $0 = state.snapshots }
        counters.preparedPackets.store(UInt64(datagrams.count), ordering: .relaxed)
        counters.preparedLines.store(UInt64(lines), ordering: .relaxed)
        return (datagrams, changed)
    }

    public func stop() async {
        guard let current = running.withLock({ state -> Running? in
            defer { state = nil }
            return state
        }) else { return }
        if let resend = current.resend {
            resend.cancel()
            await resend.value
        }
        await current.sender.shutdown(timeout: Self.stopTimeout)
    }
}

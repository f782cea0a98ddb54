import Dispatch
import Foundation
import PortraitCore
import Synchronization

/// The JSON-lines exporter plugin (`"type": "jsonl"`): writes every new or changed snapshot as
/// JSON lines (see `RecordEncoder` for the record schema) to stdout, a file or a TCP collector,
/// for log pipelines such as Vector, Fluent Bit, Loki (through an agent), Logstash or jq.
///
/// **What is emitted.** `publish` receives whole states; the plugin remembers, per app and
/// window, the snapshot it last emitted and emits a snapshot again only when its data changed
/// (`Snapshot.hasSameData`): an identical re-fetch emits nothing, so a pipeline gets each day's
/// data once per window. The memory is not persisted: after a restart the first state is
/// emitted again.
///
/// **How it is written.** `publish` encodes on the caller's task and appends the lines to a
/// bounded in-memory queue (`queue_max_records`; when full the *oldest* records are dropped and
/// counted), then returns. One drain task per plugin moves batches from the queue to the output;
/// every blocking system call (open, write, connect, poll) runs on the plugin's own serial
/// dispatch queue, never on Swift's cooperative pool. Failed opens, connects and writes are
/// retried with exponential backoff from 100 ms up to `reconnect_max_seconds`; records wait in
/// the queue meanwhile. Errors are counted and logged once per change of state.
///
/// **Delivery guarantee.** At least once, in order, at line granularity, with no torn lines:
/// a record leaves the queue only after its whole line was written; a line cut short by a
/// failure is written again, whole (the file output removes the fragment; over TCP the fragment
/// stays on the dead connection without its newline, and collectors drop an unterminated last
/// line). Over TCP, a dead peer is noticed before the next batch is written (poll for
/// hang-up/EOF/reset), and lines the peer's TCP has not acknowledged (`SIOCOUTQ`) when a
/// connection fails are written again on the next connection, the old one being reset so it
/// cannot deliver them late; a clean peer restart (the collector reads what it was sent before
/// closing) therefore delivers every record exactly once, in order, and an abrupt failure may
/// duplicate a few lines. A peer that accepts no byte for 30 s is given up the same way.
/// Limits: lines a peer's kernel acknowledged but the collector never read (it crashed or
/// closed with unread data) are lost — the newline protocol has no application
/// acknowledgement; a full queue drops the oldest records; stdout cannot take back a partial
/// line after a failed write; `stop()` gives up after `shutdown_timeout_seconds`.
public final class JSONLPlugin: ExporterPlugin {
    /// Where the lines go.
    public enum Output: Sendable, Equatable, CustomStringConvertible {
        /// Standard output, flushed after every batch.
        case stdout
        /// A file, appended to and reopened when rotated.
        case file(path: String)
        /// A TCP collector; `host` is a name, an IPv4 or an IPv6 address (without brackets).
        case tcp(host: String, port: UInt16)

        /// `stdout`, `file /var/log/portrait.jsonl` or `tcp 127.0.0.1:9000`.
        public var description: String {
            switch self {
            case .stdout: "stdout"
            case .file(let path): "file \(path)"
            case .tcp(let host, let port): "tcp \(TCPSink.format(host: host, port: port))"
            }
        }
    }

    /// Output, limits and timeouts of the plugin.
    public struct Configuration: Sendable {
        /// Where the lines go (config `output`, `path`, `address`).
        public var output: Output
        /// Records the queue holds while the output is slow or down; beyond it the oldest are
        /// dropped (default 100 000).
        public var queueMaxRecords: Int = 100_000
        /// Longest wait between two attempts to open, connect or write after a failure
        /// (default 30 s; the first retry comes after 100 ms, then the wait doubles).
        public var reconnectMax: Duration = .seconds(30)
        /// How long `stop()` keeps trying to write what is queued (default 5 s).
        public var shutdownTimeout: Duration = .seconds(5)
        /// Whether a `snapshot` summary record follows each snapshot's bucket records (default true).
        public var summaryRecords: Bool = true
        /// Time allowed for one TCP connect (default 5 s).
        public var connectTimeout: Duration = .seconds(5)
        /// An output that accepts no byte for this long is treated as failed (default 30 s).
        public var stallTimeout: Duration = .seconds(30)
        /// When idle, how often a TCP connection is checked (and re-established) (default 1 s).
        public var idleCheckInterval: Duration = .seconds(1)
        /// A write call returns to the drain loop at a line boundary after about this long, so
        /// that reopen requests and `stop()` are noticed while a slow peer is fed (default 250 ms).
        public var writeBudget: Duration = .milliseconds(250)
        /// Most records in one batch (default 4096).
        public var maxBatchRecords: Int = 4096
        /// Most bytes in one batch (default 1 MiB; a single larger record still goes alone).
        public var maxBatchBytes: Int = 1 << 20

        public init(output: Output) {
            self.output = output
        }
    }

    /// `jsonl`, or `jsonl#N` for `exporters[N]` with N > 0: the `exporter` label of the metrics.
    public let name: String
    /// Output, limits and timeouts, fixed at construction.
    public let configuration: Configuration
    let encoder: RecordEncoder
    let metrics = JSONLMetrics()

    /// Builds the output; replaced in tests to write to a pipe instead of the real stdout.
    let makeSink: @Sendable (Logger, Configuration) -> any OutputSink

    struct Control {
        var queue = RecordQueue()
        /// Records taken from the queue and being written.
        var inFlight = 0
        var started = false
        var stopping = false
        var stopDeadline: Date?
        var reopenRequested = false
        var finished = false
        /// A "queue full" warning was logged and the queue has not emptied since.
        var dropWarned = false
    }

    struct Runtime: Sendable {
        var logger: Logger
        var time: any TimeSource
        var sink: any OutputSink
        var io: IOQueue
    }

    let control = Mutex(Control())
    let runtime = Mutex<Runtime?>(nil)
    /// Rung on new records, reopen requests and stop.
    let bell = Wakeup()
    /// Rung when the drain task has finished.
    let finishedBell = Wakeup()
    /// The snapshot last emitted per app and window.
    private let emitted = Mutex<[SnapshotKey: Snapshot]>([:])

    /// A plugin that does nothing until `start`.
    public convenience init(name: String = "jsonl", configuration: Configuration) {
        self.init(name: name, configuration: configuration, makeSink: JSONLPlugin.makeDefaultSink)
    }

    init(name: String, configuration: Configuration, makeSink: @escaping @Sendable (Logger, Configuration) -> any OutputSink) {
        self.name = name
        self.configuration = configuration
        self.encoder = RecordEncoder(summaryRecords: configuration.summaryRecords)
        self.makeSink = makeSink
    }

    static func makeDefaultSink(logger: Logger, configuration: Configuration) -> any OutputSink {
        switch configuration.output {
        case .stdout:
            StdoutSink(stallTimeout: configuration.stallTimeout)
        case .file(let path):
            FileSink(path: path, logger: logger, stallTimeout: configuration.stallTimeout)
        case .tcp(let host, let port):
            TCPSink(host: host, port: port, logger: logger,
                    connectTimeout: configuration.connectTimeout, stallTimeout: configuration.stallTimeout)
        }
    }

    /// `stdout`, `file <path>` or `tcp <host:port>`.
    public var summary: String { configuration.output.description }

    /// Registers the self-metrics and starts the drain task, which opens the output (or
    /// connects) in the background. Never throws: an output that cannot be opened yet is retried
    /// and reported in the log and the metrics, and records wait in the queue.
    public func start(context: PluginContext) async throws {
        let logger = context.logger.with("exporter", name)
        let sink = makeSink(logger, configuration)
        let io = IOQueue(label: "wechat-portrait-exporter.\(name)")
        let runtime = Runtime(logger: logger, time: context.time, sink: sink, io: io)
        let first = self.runtime.withLock { current -> Bool in
            guard current == nil else { return false }
            current = runtime
            return true
        }
        guard first else { return }
        let connectionOriented = sink.isConnectionOriented
        context.selfMetrics.register { [weak self] in
            guard let self else { return [] }
            let queued = self.control.withLock { $0.queue.count + $0.inFlight }
            return self.metrics.families(exporter: self.name, queued: queued, connectionOriented: connectionOriented)
        }
        control.withLock { $0.started = true }
        Task { await self.drain(runtime) }
        logger.info("jsonl exporter started", ["output": summary])
    }

    /// Emits the snapshots of `state` that are new or whose data changed since last emitted.
    public func publish(_ state: PortraitState) async {
        guard control.withLock({ $0.started && !$0.stopping }) else { return }
        let changed = emitted.withLock { emitted -> [Snapshot] in
            var changed: [Snapshot] = []
            for snapshot in state.orderedSnapshots {
                if let previous = emitted[snapshot.key], previous.hasSameData(as: snapshot) { continue }
                emitted[snapshot.key] = snapshot
                changed.append(snapshot)
            }
            return changed
        }
        guard !changed.isEmpty else { return }
        var lines: [[UInt8]] = []
        for snapshot in changed { lines.append(contentsOf: encoder.lines(of: snapshot)) }
        enqueue(lines)
    }

    /// Asks the output to reopen (SIGHUP after logrotate): the file is closed and the path opened
    /// again before the next batch; records published after this call go to the reopened file.
    public func reopenOutputs() async {
        control.withLock { $0.reopenRequested = true }
        bell.ring()
    }

    /// Writes what is queued (for at most `shutdownTimeout`), then closes the output.
    public func stop() async {
        guard let runtime = runtime.withLock({ $0 }) else { return }
        let deadline = runtime.time.now().addingTimeInterval(configuration.shutdownTimeout.seconds)
        let wasStopping = control.withLock { control -> Bool in
            defer {
                control.stopping = true
                if control.stopDeadline == nil { control.stopDeadline = deadline }
            }
            return control.stopping
        }
        bell.ring()
        while true {
            if control.withLock({ $0.finished }) { return }
            let remaining = deadline.timeIntervalSince(runtime.time.now())
            if remaining <= 0 { break }
            await finishedBell.wait(timeout: .milliseconds(Int64((remaining * 1000).rounded(.up))), time: runtime.time)
        }
        if control.withLock({ $0.finished }) { return }
        if !wasStopping {
            let left = control.withLock { $0.queue.count + $0.inFlight }
            runtime.logger.warning("jsonl exporter stopped before its output finished; records left unwritten",
                                   ["output": summary, "records": String(left)])
        }
    }

    // MARK: Queue

    /// Appends `lines` to the queue, dropping the oldest records beyond `queueMaxRecords`.
    func enqueue(_ lines: [[UInt8]]) {
        let limit = configuration.queueMaxRecords
        let (dropped, warn) = control.withLock { control -> (Int, Bool) in
            var dropped = 0
            for line in lines {
                while control.queue.count + control.inFlight >= limit && control.queue.dropFirst() { dropped += 1 }
                control.queue.append(line)
            }
            let warn = dropped > 0 && !control.dropWarned
            if warn { control.dropWarned = true }
            return (dropped, warn)
        }
        noteDropped(dropped, warn: warn)
        bell.ring()
    }

    func noteDropped(_ dropped: Int, warn: Bool) {
        guard dropped > 0 else { return }
        metrics.dropped.add(UInt64(dropped), ordering: .relaxed)
        if warn, let logger = runtime.withLock({ $0?.logger }) {
            logger.warning("jsonl queue is full; dropping the oldest records until the output catches up",
                           ["output": summary, "queue_max_records": String(configuration.queueMaxRecords)])
        }
    }
}

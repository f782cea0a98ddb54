@preconcurrency import Glibc
import Foundation

/// Why an output could not take records: the operation that failed and the system error.
struct OutputError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was attempted, e.g. `connect to 127.0.0.1:9000` or `write /var/log/portrait.jsonl`.
    var operation: String
    /// The `errno` value, or 0 for failures that are not system errors (e.g. a stalled peer).
    var code: Int32
    /// Extra explanation when `code` is 0.
    var detail: String = ""

    init(_ operation: String, code: Int32, detail: String = "") {
        self.operation = operation
        self.code = code
        self.detail = detail
    }

    var description: String {
        code == 0 ? "\(operation): \(detail)" : "\(operation): \(Posix.message(code)) (errno \(code))"
    }
}

/// Records handed to an output in one call: their bytes back to back, and where each line ends.
struct Batch: Sendable {
    /// The records, each a whole line ending in `\n`, in queue order.
    var records: [[UInt8]]

    /// All records concatenated, with `ends[i]` the offset just past record `i`.
    func flattened() -> (bytes: [UInt8], ends: [Int]) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(records.reduce(0) { $0 + $1.count })
        var ends: [Int] = []
        ends.reserveCapacity(records.count)
        for record in records {
            bytes.append(contentsOf: record)
            ends.append(bytes.count)
        }
        return (bytes, ends)
    }
}

/// What an output did with a batch or while getting ready.
struct OutputProgress: Sendable {
    /// Leading records of the batch that were written completely.
    var written = 0
    /// Bytes of those records.
    var bytes = 0
    /// Set when the output failed; records after `written` were not (completely) written.
    var error: OutputError?
    /// Records written earlier that must be written again, oldest first (TCP: lines the peer
    /// had not acknowledged when the connection failed). They go back to the front of the queue.
    var resend: [[UInt8]] = []
    /// `prepare` opened the file or connected (rather than finding the output already open).
    var opened = false
}

/// One destination of JSON lines (stdout, a file, a TCP peer).
///
/// Implementations are classes confined to the plugin's serial I/O queue: every method is called
/// on that queue only, so they keep plain mutable state (hence `@unchecked Sendable`). Calls
/// may block, but each is bounded in time (connect and write-stall timeouts).
protocol OutputSink: AnyObject, Sendable {
    /// `stdout`, `file <path>` or `tcp <address>`, for the startup banner and logs.
    var description: String { get }
    /// Whether `connected` is meaningful (TCP).
    var isConnectionOriented: Bool { get }
    /// Whether the output is currently open (file) or connected (TCP).
    var isOpen: Bool { get }
    /// Opens or reconnects as needed and checks the output before records are written.
    /// `idle` is true for the periodic check when nothing is queued (TCP: detect a dead peer and
    /// reconnect early; file: only open if not open yet).
    func prepare(idle: Bool) -> OutputProgress
    /// Writes the batch's records in order. Returns at a record boundary, after all records or
    /// after about `budget` of real time, or at the first failure.
    func write(_ batch: Batch, budget: Duration) -> OutputProgress
    /// Closes the output so that the next `prepare` opens it again (SIGHUP). Returns whether
    /// there was anything to reopen (a file); stdout and TCP have nothing to do.
    func reopen() -> Bool
    /// Releases the output for good (flushed records stay written).
    func close()
}

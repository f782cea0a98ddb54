@preconcurrency import Glibc
import Foundation
import PortraitCore

/// Appends lines to a file, logrotate-safe.
///
/// - Opened with `O_APPEND` (every write lands at the current end, so after a truncation the next
///   line starts at offset 0 — no sparse hole of NULs). A file the sink creates gets mode 0640
///   (set explicitly, whatever the umask).
/// - Before each batch the sink compares the open file with the path: when the path is gone or
///   names another file (logrotate `create`, or any move) it reopens the path; when the file
///   shrank below what the sink wrote (logrotate `copytruncate`) it notes the truncation and
///   carries on at the new end. `reopen()` (SIGHUP) closes the file so that the next batch opens
///   the path again.
/// - A write that fails midway is rolled back with `ftruncate` to the start of the line, so the
///   file never holds a partial line (the line is written again on the next attempt).
/// - A path that is not a regular file (a FIFO, `/dev/stderr`) is written without those checks.
final class FileSink: OutputSink, @unchecked Sendable {
    let path: String
    let description: String
    private let logger: Logger
    private let stallTimeout: Duration
    /// Mode of a file the sink creates.
    static let createMode: mode_t = 0o640

    private var fd: Int32 = -1
    private var device: UInt64 = 0
    private var inode: UInt64 = 0
    private var isRegular = true
    /// File size the sink expects: size at open plus bytes written since.
    private var expectedSize: Int64 = 0

    init(path: String, logger: Logger, stallTimeout: Duration) {
        self.path = path
        self.description = "file \(path)"
        self.logger = logger
        self.stallTimeout = stallTimeout
    }

    var isConnectionOriented: Bool { false }
    var isOpen: Bool { fd >= 0 }

    func prepare(idle: Bool) -> OutputProgress {
        if fd >= 0 && !idle { checkRotation() }
        guard fd < 0 else { return OutputProgress() }
        if let error = open() { return OutputProgress(error: error) }
        return OutputProgress(opened: true)
    }

    func write(_ batch: Batch, budget: Duration) -> OutputProgress {
        guard fd >= 0 else { return OutputProgress(error: OutputError("write \(path)", code: EBADF)) }
        let (bytes, ends) = batch.flattened()
        let writer = DescriptorWriter(fd: fd, call: .write, stallTimeout: stallTimeout)
        let outcome = StdoutSink.withSIGPIPEBlocked { writer.write(bytes, ends: ends, budget: budget) }
        var progress = OutputProgress(written: outcome.lines, bytes: outcome.lineBytes)
        expectedSize += Int64(outcome.position)
        if let code = outcome.error {
            progress.error = outcome.stalled
                ? OutputError("write \(path)", code: 0, detail: "no byte accepted for \(stallTimeout)")
                : OutputError("write \(path)", code: code)
            if outcome.position > outcome.lineBytes && isRegular {
                // Remove the partial line so the file holds whole lines only.
                var info = stat()
                if fstat(fd, &info) == 0 {
                    let lineStart = Int64(info.st_size) - Int64(outcome.position - outcome.lineBytes)
                    if lineStart >= 0 && ftruncate(fd, off_t(lineStart)) == 0 { expectedSize = lineStart }
                }
            }
        }
        return progress
    }

    func reopen() -> Bool {
        closeDescriptor()
        return true
    }

    func close() {
        closeDescriptor()
    }

    private func closeDescriptor() {
        if fd >= 0 { _ = Glibc.close(fd) }
        fd = -1
    }

    /// Opens (creating with mode 0640 if needed) the path for appending.
    private func open() -> OutputError? {
        var created = false
        var descriptor: Int32 = -1
        while true {
            // O_NONBLOCK: opening a FIFO without a reader fails (ENXIO) instead of hanging.
            descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_CREAT | O_EXCL | O_NONBLOCK, Self.createMode)
            if descriptor >= 0 {
                created = true
                break
            }
            if errno == EINTR { continue }
            guard errno == EEXIST else { return OutputError("open \(path)", code: errno) }
            descriptor = Glibc.open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK)
            if descriptor >= 0 { break }
            if errno == EINTR || errno == ENOENT { continue } // ENOENT: removed between the two opens
            return OutputError("open \(path)", code: errno)
        }
        let flags = fcntl(descriptor, F_GETFL)
        if flags >= 0 { _ = fcntl(descriptor, F_SETFL, flags & ~O_NONBLOCK) }
        if created { _ = fchmod(descriptor, Self.createMode) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else {
            let code = errno
            _ = Glibc.close(descriptor)
            return OutputError("stat \(path)", code: code)
        }
        fd = descriptor
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        isRegular = (info.st_mode & S_IFMT) == S_IFREG
        expectedSize = Int64(info.st_size)
        if created { logger.info("jsonl file created", ["path": path]) }
        return nil
    }

    /// Reopens the path when the open file was moved or replaced; notes a truncation.
    private func checkRotation() {
        guard isRegular else { return }
        var atPath = stat()
        if stat(path, &atPath) != 0 {
            if errno == ENOENT {
                logger.info("jsonl file was moved or removed; reopening the path", ["path": path])
                closeDescriptor()
            }
            return
        }
        if UInt64(atPath.st_dev) != device || UInt64(atPath.st_ino) != inode {
            logger.info("jsonl file at the path was replaced; reopening the path", ["path": path])
            closeDescriptor()
            return
        }
        var open = stat()
        guard fstat(fd, &open) == 0 else { return }
        if Int64(open.st_size) < expectedSize {
            logger.info("jsonl file was truncated; continuing at its new end", ["path": path, "size": String(open.st_size)])
        }
        expectedSize = Int64(open.st_size)
    }
}

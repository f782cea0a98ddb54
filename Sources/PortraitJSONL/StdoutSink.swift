@preconcurrency import Glibc
import Foundation

/// Writes lines to standard output (or another inherited descriptor) with `write(2)`: nothing
/// is buffered in the process, so every batch is flushed when `write` returns.
///
/// SIGPIPE is blocked on the writing thread around each write (and a SIGPIPE raised by it is
/// consumed), so a closed pipe reports EPIPE instead of killing the process even where the
/// process does not ignore SIGPIPE. A write that fails midway may leave a partial line behind;
/// the whole line is written again on the next attempt.
final class StdoutSink: OutputSink, @unchecked Sendable {
    let fd: Int32
    let description: String
    private let stallTimeout: Duration

    init(fd: Int32 = 1, description: String = "stdout", stallTimeout: Duration) {
        self.fd = fd
        self.description = description
        self.stallTimeout = stallTimeout
    }

    var isConnectionOriented: Bool { false }
    var isOpen: Bool { true }

    func prepare(idle: Bool) -> OutputProgress { OutputProgress() }

    func write(_ batch: Batch, budget: Duration) -> OutputProgress {
        let (bytes, ends) = batch.flattened()
        let writer = DescriptorWriter(fd: fd, call: .write, stallTimeout: stallTimeout)
        let outcome = Self.withSIGPIPEBlocked { writer.write(bytes, ends: ends, budget: budget) }
        var progress = OutputProgress(written: outcome.lines, bytes: outcome.lineBytes)
        if let code = outcome.error {
            progress.error = outcome.stalled
                ? OutputError("write \(description)", code: 0, detail: "no byte accepted for \(stallTimeout)")
                : OutputError("write \(description)", code: code)
        }
        return progress
    }

    func reopen() -> Bool { false }
    func close() {}

    /// Runs `body` with SIGPIPE blocked on this thread; a SIGPIPE that `body` raised is consumed
    /// before the old mask is restored.
    static func withSIGPIPEBlocked(_ body: () -> DescriptorWriter.Outcome) -> DescriptorWriter.Outcome {
        var pipeSet = sigset_t()
        sigemptyset(&pipeSet)
        sigaddset(&pipeSet, SIGPIPE)
        var pending = sigset_t()
        sigemptyset(&pending)
        sigpending(&pending)
        let wasPending = sigismember(&pending, SIGPIPE) == 1
        var previous = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSet, &previous)
        let outcome = body()
        if outcome.error == EPIPE && !wasPending {
            var zero = timespec()
            while sigtimedwait(&pipeSet, nil, &zero) < 0 && errno == EINTR {}
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        return outcome
    }
}

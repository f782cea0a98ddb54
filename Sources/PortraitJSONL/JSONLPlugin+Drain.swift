import Foundation
import PortraitCore
import Synchronization

extension JSONLPlugin {
    /// Waits between failed attempts: 100 ms (or `maximum` if smaller), doubling up to `maximum`.
    struct Backoff {
        let maximum: Duration
        private var current: Duration?

        init(maximum: Duration) { self.maximum = maximum }

        mutating func next() -> Duration {
            let value = current.map { min($0 * 2, maximum) } ?? min(.milliseconds(100), maximum)
            current = value
            return value
        }

        mutating func reset() { current = nil }
    }

    /// Whether the output works, so that a failure is logged once when it starts (or changes)
    /// and once when it ends — never per record or per retry.
    struct Health {
        private(set) var failure: OutputError?
        private(set) var failedAttempts = 0

        mutating func failed(_ error: OutputError, logger: Logger, output: String) {
            failedAttempts += 1
            guard failure != error else { return }
            logger.warning("jsonl output failing; records wait in the queue and the output is retried",
                           ["output": output, "error": error.description])
            failure = error
        }

        mutating func succeeded(logger: Logger, output: String) {
            guard failure != nil else { return }
            logger.info("jsonl output recovered", ["output": output, "failed_attempts": String(failedAttempts)])
            failure = nil
            failedAttempts = 0
        }
    }

    private enum Step {
        case exit
        case reopen
        case proceed(hasWork: Bool, stopping: Bool)
    }

    /// The drain task: keeps the output ready and moves batches from the queue to it until
    /// stopped (queue empty, or the shutdown deadline passed).
    func drain(_ runtime: Runtime) async {
        let sink = runtime.sink
        let time = runtime.time
        let logger = runtime.logger
        let metrics = self.metrics
        let output = summary
        var backoff = Backoff(maximum: configuration.reconnectMax)
        var health = Health()

        loop: while true {
            let step = control.withLock { control -> Step in
                if control.stopping, let deadline = control.stopDeadline, time.now() >= deadline { return .exit }
                if control.reopenRequested {
                    control.reopenRequested = false
                    return .reopen
                }
                return .proceed(hasWork: !control.queue.isEmpty, stopping: control.stopping)
            }
            let hasWork: Bool
            let stopping: Bool
            switch step {
            case .exit:
                break loop
            case .reopen:
                if await runtime.io.run({ sink.reopen() }) {
                    logger.info("jsonl output reopened (SIGHUP)", ["output": output])
                    backoff.reset()
                }
                continue loop
            case .proceed(let work, let stop):
                hasWork = work
                stopping = stop
            }
            if stopping && !hasWork { break loop }

            guard let batch = takeBatch() else {
                // Idle: open the output if needed; TCP also notices a dead peer and reconnects.
                let prepared = await runtime.io.run {
                    let progress = sink.prepare(idle: true)
                    metrics.connected.store(sink.isOpen ? 1 : 0, ordering: .relaxed)
                    return progress
                }
                requeue(prepared.resend)
                if let error = prepared.error {
                    metrics.writeErrors.add(1, ordering: .relaxed)
                    health.failed(error, logger: logger, output: output)
                    await pause(backoff.next(), time: time)
                    continue loop
                }
                if prepared.opened { health.succeeded(logger: logger, output: output) }
                if prepared.resend.isEmpty && !stopping {
                    await bell.wait(timeout: configuration.idleCheckInterval, time: time)
                }
                continue loop
            }

            // Check the output (rotation, dead peer, reconnect) right before writing, in the same
            // hop as the write, so nothing can slip in between.
            let budget = configuration.writeBudget
            let (prepared, written) = await runtime.io.run { () -> (OutputProgress, OutputProgress?) in
                defer { metrics.connected.store(sink.isOpen ? 1 : 0, ordering: .relaxed) }
                let prepared = sink.prepare(idle: false)
                // Lines to write again come before the batch: put both back and start over.
                guard prepared.error == nil, prepared.resend.isEmpty else { return (prepared, nil) }
                return (prepared, sink.write(batch, budget: budget))
            }
            guard let progress = written else {
                complete(batch, OutputProgress(resend: prepared.resend))
                if let error = prepared.error {
                    metrics.writeErrors.add(1, ordering: .relaxed)
                    health.failed(error, logger: logger, output: output)
                    await pause(backoff.next(), time: time)
                }
                continue loop
            }
            complete(batch, progress)
            if let error = progress.error {
                metrics.writeErrors.add(1, ordering: .relaxed)
                health.failed(error, logger: logger, output: output)
                await pause(backoff.next(), time: time)
                continue loop
            }
            if progress.written > 0 {
                backoff.reset()
                health.succeeded(logger: logger, output: output)
            }
        }

        await runtime.io.run {
            sink.close()
            metrics.connected.store(0, ordering: .relaxed)
        }
        let left = control.withLock { control -> Int in
            control.finished = true
            return control.queue.count + control.inFlight
        }
        if left > 0 {
            logger.warning("jsonl exporter stopped with records left unwritten (shutdown timeout)",
                           ["output": output, "records": String(left)])
        }
        finishedBell.ring()
    }

    /// Takes the next batch off the queue; nil when the queue is empty or a reopen is pending
    /// (so records published after `reopenOutputs()` never go to the old file).
    private func takeBatch() -> Batch? {
        let maxRecords = max(1, min(configuration.maxBatchRecords, configuration.queueMaxRecords))
        let maxBytes = configuration.maxBatchBytes
        return control.withLock { control -> Batch? in
            guard !control.reopenRequested, !control.queue.isEmpty else { return nil }
            let records = control.queue.removeFirst(maxRecords: maxRecords, maxBytes: maxBytes)
            control.inFlight = records.count
            return Batch(records: records)
        }
    }

    /// Accounts for a written batch and puts back what must be written again, in order.
    private func complete(_ batch: Batch, _ progress: OutputProgress) {
        if progress.written > 0 {
            metrics.records.add(UInt64(progress.written), ordering: .relaxed)
            metrics.bytes.add(UInt64(progress.bytes), ordering: .relaxed)
        }
        var front = progress.resend
        if progress.written < batch.records.count { front.append(contentsOf: batch.records[progress.written...]) }
        restore(front, afterBatch: true)
    }

    /// Puts records that must be written again in front of the queue.
    private func requeue(_ records: [[UInt8]]) {
        guard !records.isEmpty else { return }
        restore(records, afterBatch: false)
    }

    private func restore(_ records: [[UInt8]], afterBatch: Bool) {
        let limit = configuration.queueMaxRecords
        let (dropped, warn) = control.withLock { control -> (Int, Bool) in
            if afterBatch { control.inFlight = 0 }
            control.queue.prepend(records)
            var dropped = 0
            while control.queue.count + control.inFlight > limit && control.queue.dropFirst() { dropped += 1 }
            if control.queue.isEmpty { control.dropWarned = false }
            let warn = dropped > 0 && !control.dropWarned
            if warn { control.dropWarned = true }
            return (dropped, warn)
        }
        noteDropped(dropped, warn: warn)
    }

    /// Waits `duration` before the next attempt; cut short by `stop()` (to flush at once) and by
    /// a reopen request, and never past the shutdown deadline.
    private func pause(_ duration: Duration, time: any TimeSource) async {
        let start = time.now()
        let stoppingAtStart = control.withLock { $0.stopping }
        while true {
            let (interrupt, deadline) = control.withLock { control in
                ((control.stopping && !stoppingAtStart) || control.reopenRequested, control.stopDeadline)
            }
            if interrupt { return }
            let now = time.now()
            var remaining = duration.seconds - now.timeIntervalSince(start)
            if let deadline { remaining = min(remaining, deadline.timeIntervalSince(now)) }
            if remaining <= 0 { return }
            await bell.wait(timeout: .milliseconds(Int64((remaining * 1000).rounded(.up))), time: time)
        }
    }
}

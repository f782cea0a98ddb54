import PortraitCore
import Synchronization

/// The plugin's counters, updated from the sender's queue and the publishing task, read by the
/// self-metrics provider. Lock-free.
final class StatsDCounters: Sendable {
    /// Datagrams sent.
    let packets = Atomic<UInt64>(0)
    /// Lines in datagrams sent.
    let lines = Atomic<UInt64>(0)
    /// Payload bytes of datagrams sent (without IP/UDP headers).
    let bytes = Atomic<UInt64>(0)
    /// Failed sends: each `send(2)` error (an ECONNREFUSED reports that an earlier datagram was
    /// refused), and each datagram not sent because the host did not resolve or no socket opened.
    let sendErrors = Atomic<UInt64>(0)
    /// Lines too long for a datagram (should stay 0: the configuration rules it out).
    let droppedLines = Atomic<UInt64>(0)
    /// Failed name resolutions of the target host.
    let resolveErrors = Atomic<UInt64>(0)
    /// Times the prepared datagrams were handed to the sender (each publish and each resend).
    let flushes = Atomic<UInt64>(0)
    /// Flushes replaced by a newer one before the sender got to them (the sender was busy).
    let supersededFlushes = Atomic<UInt64>(0)
    /// Datagrams prepared for the current state (sent on every flush).
    let preparedPackets = Atomic<UInt64>(0)
    /// Lines prepared for the current state.
    let preparedLines = Atomic<UInt64>(0)

    init() {}

    /// A consistent-enough copy of every counter (each read on its own).
    var values: StatsDStatistics {
        StatsDStatistics(
            packets: packets.load(ordering: .relaxed),
            lines: lines.load(ordering: .relaxed),
            bytes: bytes.load(ordering: .relaxed),
            sendErrors: sendErrors.load(ordering: .relaxed),
            droppedLines: droppedLines.load(ordering: .relaxed),
            resolveErrors: resolveErrors.load(ordering: .relaxed),
            flushes: flushes.load(ordering: .relaxed),
            supersededFlushes: supersededFlushes.load(ordering: .relaxed),
            preparedPackets: preparedPackets.load(ordering: .relaxed),
            preparedLines: preparedLines.load(ordering: .relaxed)
        )
    }
}

extension Atomic where Value == UInt64 {
    /// Adds `amount` (relaxed); negative or zero amounts are ignored.
    @inline(__always)
    func add(_ amount: Int) {
        guard amount > 0 else { return }
        wrappingAdd(UInt64(amount), ordering: .relaxed)
    }
}

/// The StatsD plugin's counters at one moment (see the self-metrics on `StatsDPlugin`).
public struct StatsDStatistics: Sendable, Equatable {
    /// Datagrams sent.
    public var packets: UInt64
    /// Lines in datagrams sent.
    public var lines: UInt64
    /// Payload bytes sent.
    public var bytes: UInt64
    /// Failed sends (see `wechat_portrait_statsd_send_errors_total`).
    public var sendErrors: UInt64
    /// Lines too long for a datagram, never sent.
    public var droppedLines: UInt64
    /// Failed resolutions of the target's host name.
    public var resolveErrors: UInt64
    /// Times the prepared datagrams were handed to the sender (publish and resend).
    public var flushes: UInt64
    /// Flushes replaced by a newer one before the sender got to them.
    public var supersededFlushes: UInt64
    /// Datagrams prepared for the current state.
    public var preparedPackets: UInt64
    /// Lines prepared for the current state.
    public var preparedLines: UInt64
}

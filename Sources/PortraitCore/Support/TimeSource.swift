import Foundation

/// The wall clock and the way to wait, injected everywhere so that tests drive time by hand.
///
/// Scheduling is in wall-clock terms because WeChat's days are China days: "after 10:00 China
/// time" cannot be expressed with a monotonic clock alone.
public protocol TimeSource: Sendable {
    /// The current instant.
    func now() -> Date
    /// Suspends for `duration` of this source's time. Throws `CancellationError` when cancelled.
    func sleep(for duration: Duration) async throws
}

extension TimeSource {
    /// Suspends until `instant` (returns at once if it has passed).
    public func sleep(until instant: Date) async throws {
        let seconds = instant.timeIntervalSince(now())
        guard seconds > 0 else { return }
        try await sleep(for: .seconds(seconds))
    }
}

/// Real time.
public struct SystemTimeSource: TimeSource {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(for duration: Duration) async throws { try await Task.sleep(for: duration) }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}

/// A small deterministic random generator (SplitMix64) for jitter, seedable in tests.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    /// A generator seeded from a string (e.g. an app name), stable across runs.
    public init(seed text: String) {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        state = hash
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

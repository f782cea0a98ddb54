/// The rounds of a polling loop in a test, bounded by real time rather than by a count:
///
///     for _ in PollingRounds() {
///         guard !done() else { break }
///         try await Task.sleep(for: .milliseconds(10))
///     }
///
/// End the loop with `break`: a `where` clause only skips rounds, and the rounds go on until
/// the time is up.
///
/// A count of rounds times a sleep is a timed assertion in disguise: on a loaded 2-core machine the
/// work inside each round takes longer and 400 rounds run out long before the code under test is
/// late. The bound here is generous (60 s by default) and only there to end a test that hangs.
public struct PollingRounds: Sequence, IteratorProtocol {
    private let end: ContinuousClock.Instant
    private var round = 0

    public init(timeout: Duration = .seconds(60)) {
        end = ContinuousClock.now.advanced(by: timeout)
    }

    /// The next round's number, or nil once the time is up (the first round always runs).
    public mutating func next() -> Int? {
        defer { round += 1 }
        if round > 0 && ContinuousClock.now >= end { return nil }
        return round
    }
}

/// Polls `condition` every 5 ms until it holds or `timeout` (generous: it only ends a hang) has
/// passed; returns whether it held. For async tests; the waiting is `Task.sleep`, never a
/// blocked thread.
@discardableResult
public func eventually(timeout: Duration = .seconds(60), _ condition: () -> Bool) async -> Bool {
    for _ in PollingRounds(timeout: timeout) {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(5))
    }
    return condition()
}

import CBenchSupport

/// Wall times of repeated runs of a piece of work, in milliseconds.
struct Timing: Codable, Sendable {
    var medianMs: Double
    var minMs: Double
    var iterations: Int
}

/// Allocation calls and requested bytes of one run of a piece of work on the calling thread.
struct Allocations: Codable, Sendable {
    var count: UInt64
    var bytes: UInt64
}

enum Measure {
    /// Scales every time budget (`--quick` makes the CPU sections short).
    nonisolated(unsafe) static var budgetScale = 1.0

    /// Runs `body` once to warm up, then repeatedly: at least `minIterations` times and until
    /// `budgetSeconds` have passed (at most `maxIterations`).
    static func time(minIterations: Int = 5, maxIterations: Int = 200, budgetSeconds: Double = 1.5,
                     _ body: () -> Void) -> Timing {
        body()
        let clock = ContinuousClock()
        var samples: [Double] = []
        let start = clock.now
        let budgetSeconds = budgetSeconds * budgetScale
        while samples.count < maxIterations {
            let before = clock.now
            body()
            samples.append(milliseconds(clock.now - before))
            if samples.count >= minIterations && milliseconds(clock.now - start) > budgetSeconds * 1000 { break }
        }
        samples.sort()
        return Timing(medianMs: samples[samples.count / 2], minMs: samples[0], iterations: samples.count)
    }

    /// Counts the allocations `body` makes on this thread (after one warm-up run).
    static func allocations(_ body: () -> Void) -> Allocations {
        body()
        var count: UInt64 = 0, bytes: UInt64 = 0
        bench_alloc_begin(0)
        body()
        bench_alloc_end(&count, &bytes)
        return Allocations(count: count, bytes: bytes)
    }
}

/// Keeps a value alive and opaque to the optimiser.
@inline(never)
func blackHole<T>(_ value: T) {
    withExtendedLifetime(value) {}
}

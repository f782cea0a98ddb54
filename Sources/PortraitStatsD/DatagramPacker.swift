/// One UDP payload: whole lines separated by `\n` (no trailing newline).
public struct Datagram: Sendable, Equatable {
    /// The payload.
    public var bytes: [UInt8]
    /// Number of lines in `bytes`.
    public var lines: Int

    public init(bytes: [UInt8], lines: Int) {
        self.bytes = bytes
        self.lines = lines
    }
}

/// Packs lines into as few datagrams of at most `maxPayloadBytes` as it can, never splitting a line.
///
/// A datagram of lines `l₁ … lₖ` takes `Σ len(lᵢ) + (k − 1)` bytes, so with weights
/// `wᵢ = len(lᵢ) + 1` and capacity `C = maxPayloadBytes + 1` this is bin packing, and
/// `L = ⌈Σw / C⌉` (total bytes including separators over the limit) is a lower bound for any
/// packing. Two packings are computed and the one with fewer datagrams kept:
///
/// - **first-fit decreasing** (longest line first, into the first datagram with room);
/// - **tightest fill with a balanced tail** (`tightestFill`): datagrams filled exactly by a bounded
///   subset sum over the distinct line lengths, and the last few dealt longest-first onto the
///   emptiest datagram. Skipped when it would cost more than `tightFillBudget` steps (about
///   `total bytes × distinct lengths`), e.g. for a huge hostile state.
///
/// Guarantees (proofs in `DatagramPackerTests`, checked over random inputs):
/// - every datagram ≤ `maxPayloadBytes`; every line sent exactly once, whole;
/// - count ≤ first-fit decreasing's, and ≤ `⌈Σw / (C − w_max + 1)⌉` (every datagram but the last
///   is fuller than `C − w_max`);
/// - count ≤ `L + 1` whenever the exact fills succeed, which they do when line lengths are
///   varied: random lengths up to half a datagram at 512, 1432 and 8932 bytes; real snapshots at
///   8932 bytes, and in `graphite` and `plain` at 1432 bytes.
///
/// No algorithm can promise `L + 1` for every input: 900 lines of 149 bytes need 100 datagrams
/// of 1432 bytes (nine lines each) while `L = 95`; lines longer than half a datagram cannot
/// share one. Measured on real snapshots: dogstatsd/influx lines cluster at 108–118 bytes, giving
/// up to `L + 2` at 1432 bytes (107 vs 105 for 1336 lines) and ~12 % above `L` at 512 bytes
/// (four lines per datagram with ~50 bytes to spare). With random lengths up to a whole datagram
/// the count stays within 4 of Martello and Toth's lower bound.
///
/// A line longer than `maxPayloadBytes` cannot be sent and is dropped and counted; the
/// configuration makes that impossible (`StatsDLineEncoder.maximumLineBytes` ≤ `maxPayloadBytes`).
public struct DatagramPacker: Sendable {
    /// Largest payload in bytes (UDP payload, excluding IP and UDP headers).
    public let maxPayloadBytes: Int

    /// Default payload limit in bytes: 1500-byte Ethernet MTU minus IPv6 (40) and UDP (8)
    /// headers and some room for tunnels (20).
    public static let defaultMaxPayloadBytes = 1432
    /// Allowed payload limits in bytes: 512 (safe everywhere) up to the largest IPv4 UDP payload.
    /// 8932 suits jumbo frames (9000-byte MTU); above 1432 datagrams may be fragmented.
    public static let allowedPayloadBytes = 512...65507
    /// Work limit of the tightest-fill pass (inner-loop steps per snapshot).
    public static let tightFillBudget = 20_000_000

    public init(maxPayloadBytes: Int = DatagramPacker.defaultMaxPayloadBytes) {
        self.maxPayloadBytes = maxPayloadBytes
    }

    /// The outcome of packing one snapshot's lines.
    public struct Result: Sendable {
        /// Datagrams in a stable order; lines inside keep their input order.
        public var datagrams: [Datagram]
        /// Lines longer than `maxPayloadBytes`, not sent.
        public var droppedLines: Int
    }

    /// Packs `lines` (see the type's documentation).
    public func pack(_ lines: EncodedLines) -> Result {
        var weights: [Int] = []
        var indices: [Int] = []
        weights.reserveCapacity(lines.count)
        indices.reserveCapacity(lines.count)
        var dropped = 0
        for index in 0..<lines.count {
            let length = lines.length(index)
            if length > maxPayloadBytes || length == 0 {
                dropped += 1
                continue
            }
            weights.append(length + 1)
            indices.append(index)
        }
        let bins = Self.bins(weights: weights, capacity: maxPayloadBytes + 1)
        var datagrams: [Datagram] = []
        datagrams.reserveCapacity(bins.count)
        for bin in bins {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(maxPayloadBytes)
            for (position, item) in bin.sorted().enumerated() {
                if position > 0 { bytes.append(0x0A) }
                bytes.append(contentsOf: lines.line(indices[item]))
            }
            datagrams.append(Datagram(bytes: bytes, lines: bin.count))
        }
        return Result(datagrams: datagrams, droppedLines: dropped)
    }

    /// Bins (lists of positions in `weights`) of total weight ≤ `capacity` each; every weight must
    /// be in `1...capacity`. The better of first-fit decreasing and tightest fill.
    static func bins(weights: [Int], capacity: Int) -> [[Int]] {
        guard !weights.isEmpty else { return [] }
        let ffd = firstFitDecreasing(weights: weights, capacity: capacity)
        guard ffd.count > 1, ffd.count > lowerBound(weights: weights, capacity: capacity) else { return ffd }
        let distinct = Set(weights).count
        let total = weights.reduce(0, +)
        guard total.multipliedReportingOverflow(by: distinct).partialValue <= tightFillBudget else { return ffd }
        let tight = tightestFill(weights: weights, capacity: capacity)
        return tight.count < ffd.count ? tight : ffd
    }

    /// No packing of `weights` into bins of `capacity` uses fewer bins than this.
    static func lowerBound(weights: [Int], capacity: Int) -> Int {
        guard !weights.isEmpty else { return 0 }
        let total = weights.reduce(0, +)
        var fitting = 0
        var sum = 0
        for weight in weights.sorted() {
            sum += weight
            if sum > capacity { break }
            fitting += 1
        }
        let byBytes = (total + capacity - 1) / capacity
        let byCount = (weights.count + max(fitting, 1) - 1) / max(fitting, 1)
        return max(byBytes, byCount)
    }

    /// First-fit decreasing.
    static func firstFitDecreasing(weights: [Int], capacity: Int) -> [[Int]] {
        let order = weights.indices.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
        var bins: [[Int]] = []
        var room: [Int] = []
        // Smallest weight not yet placed bounds which bins are still worth scanning.
        var firstOpen = 0
        let smallest = weights.min() ?? 1
        for item in order {
            let weight = weights[item]
            var placed = false
            var index = firstOpen
            while index < bins.count {
                if room[index] >= weight {
                    bins[index].append(item)
                    room[index] -= weight
                    placed = true
                    break
                }
                index += 1
            }
            if !placed {
                bins.append([item])
                room.append(capacity - weight)
            }
            while firstOpen < bins.count, room[firstOpen] < smallest { firstOpen += 1 }
        }
        return bins
    }

    /// Tightest fill with a balanced tail:
    ///
    /// 1. While the remaining lines need more than `balancedTailBins` datagrams, open a datagram
    ///    with a line of the most numerous length and fill it with the subset of the remaining
    ///    lines that leaves the least room (bounded subset sum over the distinct lengths, preferring
    ///    the most numerous lengths so that the mix stays varied for later datagrams).
    /// 2. Before each datagram, try to deal all remaining lines onto `B = ⌈Σw_rest / C⌉` datagrams,
    ///    longest first, each onto the emptiest (LPT). If that fits, stop there. If only `B + 1`
    ///    fits, remember it and go on; the best outcome wins.
    ///
    /// When the datagrams of step 1 are filled exactly (the usual case with mixed lengths), the
    /// result is within one of `⌈Σw / C⌉`: LPT onto `B + 1` datagrams always fits when
    /// `Σw_rest / (B + 1) + w_max ≤ C` (the emptiest datagram holds at most the average).
    static func tightestFill(weights: [Int], capacity: Int) -> [[Int]] {
        // Items grouped by weight; each class keeps a stack of item positions.
        let classWeights = Set(weights).sorted(by: >)
        let classOf = Dictionary(uniqueKeysWithValues: classWeights.enumerated().map { ($1, $0) })
        var stacks = [[Int]](repeating: [], count: classWeights.count)
        for index in weights.indices.reversed() { if let k = classOf[weights[index]] { stacks[k].append(index) } }
        var remaining = weights.count
        var remainingWeight = weights.reduce(0, +)
        var bins: [[Int]] = []
        var reachedBy = [Int32](repeating: -1, count: capacity + 1)
        var used = [Int32](repeating: 0, count: capacity + 1)
        var order = Array(classWeights.indices)
        var fallback: [[Int]]?

        while remaining > 0 {
            let needed = (remainingWeight + capacity - 1) / capacity
            if needed <= balancedTailBins {
                let rest = stacks.flatMap { $0 }
                if let tail = longestProcessingTime(rest, weights: weights, capacity: capacity, bins: needed) {
                    return bins + tail
                }
                if fallback == nil, let tail = longestProcessingTime(rest, weights: weights, capacity: capacity, bins: needed + 1) {
                    fallback = bins + tail
                }
            }
            // Most numerous classes first (heavier first among equals).
            order.sort { stacks[$0].count != stacks[$1].count ? stacks[$0].count > stacks[$1].count : $0 < $1 }
            let opener = order[0]
            var bin = [stacks[opener].removeLast()]
            remaining -= 1
            remainingWeight -= classWeights[opener]
            let room = capacity - classWeights[opener]
            if room > 0, remaining > 0 {
                for s in 0...room { reachedBy[s] = -1 }
                reachedBy[0] = -2
                var best = 0
                for k in order where !stacks[k].isEmpty && classWeights[k] <= room {
                    let weight = classWeights[k]
                    let available = Int32(stacks[k].count)
                    for s in 0...room { used[s] = 0 }
                    var s = weight
                    while s <= room {
                        if reachedBy[s] == -1, reachedBy[s - weight] != -1 {
                            let before = reachedBy[s - weight] == Int32(k) ? used[s - weight] : 0
                            if before < available {
                                reachedBy[s] = Int32(k)
                                used[s] = before + 1
                                if s > best { best = s }
                            }
                        }
                        s += 1
                    }
                    if best == room { break }
                }
                var s = best
                while s > 0 {
                    let k = Int(reachedBy[s])
                    bin.append(stacks[k].removeLast())
                    remaining -= 1
                    remainingWeight -= classWeights[k]
                    s -= classWeights[k]
                }
            }
            bins.append(bin)
        }
        if let fallback, fallback.count < bins.count { return fallback }
        return bins
    }

    /// Tails of at most this many datagrams are dealt by `longestProcessingTime`.
    static let balancedTailBins = 64

    /// Deals `items` (heaviest first) onto `bins` bins, each item onto the least loaded one;
    /// `nil` if an item does not fit there.
    static func longestProcessingTime(_ items: [Int], weights: [Int], capacity: Int, bins count: Int) -> [[Int]]? {
        guard count > 0 else { return items.isEmpty ? [] : nil }
        let sorted = items.sorted { weights[$0] != weights[$1] ? weights[$0] > weights[$1] : $0 < $1 }
        var bins = [[Int]](repeating: [], count: count)
        var loads = [Int](repeating: 0, count: count)
        for item in sorted {
            var emptiest = 0
            for index in 1..<count where loads[index] < loads[emptiest] { emptiest = index }
            guard loads[emptiest] + weights[item] <= capacity else { return nil }
            loads[emptiest] += weights[item]
            bins[emptiest].append(item)
        }
        return bins.filter { !$0.isEmpty }
    }
}

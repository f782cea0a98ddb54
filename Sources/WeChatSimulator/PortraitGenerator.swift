import Glibc
import PortraitCore

/// How much data the simulator generates for one app.
public struct DataScale: Sendable, Hashable {
    /// Typical daily active users: the size of a 1d `visit_uv` total, before weekday, seasonal
    /// and daily noise (about ±35 % together). `nil` picks a size from the appid (3,000 to 50,000).
    public var dailyActiveUsers: Int?
    /// Number of city buckets: up to 109 real cities, then synthetic ones (at most 100,000).
    public var cities: Int
    /// Number of device models: up to 42 real models, then synthetic ones (at most 100,000).
    public var devices: Int

    public init(dailyActiveUsers: Int? = nil, cities: Int = Gazetteer.cities.count, devices: Int = Gazetteer.devices.count) {
        self.dailyActiveUsers = dailyActiveUsers
        self.cities = cities
        self.devices = devices
    }

    /// Every real city and device model, users chosen from the appid.
    public static let standard = DataScale()
}

/// One generated `getUserPortrait` answer before encoding. Unlike `Portrait`, names are kept
/// exactly as they will be sent (an empty name stays empty), so faults can shape them.
public struct SimulatedPortrait: Sendable, Equatable {
    /// One bucket as it will be written.
    public struct Item: Sendable, Hashable {
        /// `nil` for devices (written without an `id` member).
        public var id: Int?
        public var name: String
        public var value: UInt64
    }

    /// `ref_date`: one date for 1d, `begin-end` for 7d and 30d.
    public var refDate: String
    var lists: [[Item]] = Array(repeating: [], count: 12)

    /// The buckets of one breakdown, in the order they are written.
    public subscript(segment: Segment, dimension: Dimension) -> [Item] {
        get { lists[segment.index * 6 + dimension.index] }
        set { lists[segment.index * 6 + dimension.index] = newValue }
    }

    /// Sum of the values of one breakdown.
    public func total(_ segment: Segment, _ dimension: Dimension) -> UInt64 {
        self[segment, dimension].reduce(0) { $0 &+ $1.value }
    }

    /// The same data as the exporter's model (empty names become `Bucket.unknownName`).
    public var portrait: Portrait {
        var portrait = Portrait()
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                portrait[segment, dimension] = self[segment, dimension].map {
                    Bucket(id: $0.id.map(Int64.init), name: $0.name, value: $0.value)
                }
            }
        }
        return portrait
    }
}

/// Realistic, deterministic portrait data: a pure function of (seed, appid, window, end date, scale).
///
/// Shape of the data:
/// - A daily active-user curve per app: a base size, a weekend effect, a four-week wave and
///   ±8 % daily noise, so values change from day to day.
/// - Window totals: 1d is the day's actives; 7d and 30d count distinct users over the window
///   (sum of daily actives × 0.55 and × 0.35), so they are always larger than 1d.
///   New users are 12–30 % (1d), 25–40 % (7d) or 38–55 % (30d) of the actives.
/// - Every dimension of a segment is an exact split of the same total (largest remainder), and
///   each active bucket is its new bucket plus a split of the returning users, so
///   `visit_uv >= visit_uv_new` bucket by bucket.
/// - Bucket shares: the gazetteer's weight × a stable per-app skew (one "home" province gets ×4)
///   × a per-day jitter. Every bucket of the table is listed, even at 0, sorted by value.
public struct PortraitGenerator: Sendable {
    /// Mixed into every hash: a different seed gives different (equally realistic) data.
    public let seed: UInt64

    public init(seed: UInt64 = 0) { self.seed = seed }

    /// `ref_date` for a window ending on `end`.
    public static func refDate(window: Window, end: ChinaDate) -> String {
        window == .day1 ? end.yyyymmdd : window.beginDate(endingOn: end).yyyymmdd + "-" + end.yyyymmdd
    }

    /// The answer for `appid`'s `window` ending on `end`.
    public func portrait(appid: String, window: Window, end: ChinaDate, scale: DataScale = .standard) -> SimulatedPortrait {
        let app = mix(hashString(appid), seed)
        // Clamped so that 30-day sums stay far below UInt64.max.
        let users = min(1e12, Double(max(0, scale.dailyActiveUsers ?? 3_000 + Int(47_000 * unit(mix(app, 0xDA0))))))
        let (active, new) = totals(app: app, users: users, window: window, end: end)

        var result = SimulatedPortrait(refDate: Self.refDate(window: window, end: end))
        let homeProvince = Gazetteer.provinces[Int(mix(app, 0x40E) % UInt64(Gazetteer.provinces.count))].id
        let dayKey = mix(app, UInt64(bitPattern: Int64(end.dayNumber)), UInt64(window.spanDays))
        for dimension in Dimension.allCases {
            let table = entries(dimension, scale: scale)
            let dimensionKey = UInt64(dimension.index + 1) &* 0x1000_0000
            // Stable per-app skew: strong for places and devices, mild for the small tables.
            let strong = dimension == .province || dimension == .city || dimension == .device
            let skew = table.indices.map { i -> Double in
                let u = unit(mix(app, dimensionKey &+ UInt64(i)))
                var factor = strong ? 0.5 + u : 0.85 + 0.3 * u
                if strong, let home = homeProvince, table[i].id == home || table[i].provinceID == home { factor *= 4 }
                return table[i].weight * factor
            }
            var newValues = [UInt64](), extraValues = [UInt64]()
            for segment in Segment.allCases {
                let segmentKey = dayKey ^ (UInt64(segment.index + 1) &* 0xABCD_EF01) ^ dimensionKey
                let weights = skew.indices.map { skew[$0] * (0.85 + 0.3 * unit(mix(segmentKey, UInt64($0)))) }
                if segment == .new {
                    newValues = apportion(new, weights)
                } else {
                    extraValues = apportion(active - new, weights)
                }
            }
            for segment in Segment.allCases {
                var items = table.indices.map { i in
                    SimulatedPortrait.Item(
                        id: table[i].id,
                        name: table[i].name,
                        value: segment == .new ? newValues[i] : newValues[i] + extraValues[i]
                    )
                }
                // Largest first; ties keep table order (the sort is stable).
                items = items.enumerated().sorted { a, b in
                    a.element.value != b.element.value ? a.element.value > b.element.value : a.offset < b.offset
                }.map(\.element)
                result[segment, dimension] = items
            }
        }
        return result
    }

    /// The answer body exactly as the simulator sends it for a successful call.
    public func body(appid: String, window: Window, end: ChinaDate, scale: DataScale = .standard) -> [UInt8] {
        var out: [UInt8] = []
        portrait(appid: appid, window: window, end: end, scale: scale).encode(into: &out)
        return out
    }

    // MARK: Totals

    /// Daily actives of one day.
    func dailyActive(app: UInt64, users: Double, day: Int) -> Double {
        let weekday = ((day + 4) % 7 + 7) % 7  // 1970-01-01 was a Thursday; 0 = Sunday.
        let weekendEffect = -0.2 + 0.45 * unit(mix(app, 0x3EE))
        let week = weekday == 0 || weekday == 6 ? 1 + weekendEffect : 1
        let phase = 2 * Double.pi * unit(mix(app, 0x9A5E))
        let wave = 1 + 0.12 * sin(2 * Double.pi * Double(day) / 28 + phase)
        let noise = 0.92 + 0.16 * unit(mix(app, UInt64(bitPattern: Int64(day)), 0xD1))
        return users * week * wave * noise
    }

    /// (active, new) distinct users of a window.
    func totals(app: UInt64, users: Double, window: Window, end: ChinaDate) -> (UInt64, UInt64) {
        let days = (0...window.spanDays).map { dailyActive(app: app, users: users, day: end.dayNumber - $0) }
        let distinctShare: Double
        let newShare: (Double, Double)
        switch window {
        case .day1: (distinctShare, newShare) = (1, (0.12, 0.18))
        case .day7: (distinctShare, newShare) = (0.55, (0.25, 0.15))
        case .day30: (distinctShare, newShare) = (0.35, (0.38, 0.17))
        }
        let active = UInt64(max(0, (days.reduce(0, +) * distinctShare).rounded()))
        let u = unit(mix(app, UInt64(bitPattern: Int64(end.dayNumber)), UInt64(window.spanDays), 0x2E5))
        let new = min(active, UInt64((Double(active) * (newShare.0 + newShare.1 * u)).rounded()))
        return (active, new)
    }

    func entries(_ dimension: Dimension, scale: DataScale) -> [Gazetteer.Entry] {
        switch dimension {
        case .province: Gazetteer.provinces
        case .city: scale.cities == Gazetteer.cities.count ? Gazetteer.cities : Gazetteer.cities(count: scale.cities)
        case .gender: Gazetteer.genders
        case .platform: Gazetteer.platforms
        case .device: scale.devices == Gazetteer.devices.count ? Gazetteer.devices : Gazetteer.devices(count: scale.devices)
        case .age: Gazetteer.ages
        }
    }
}

/// Splits `total` into integers proportional to `weights` that add up to exactly `total`
/// (largest remainder; ties go to the earlier index). All zero when there are no positive weights.
func apportion(_ total: UInt64, _ weights: [Double]) -> [UInt64] {
    let sum = weights.reduce(0) { $0 + max(0, $1) }
    guard sum > 0, sum.isFinite, !weights.isEmpty else { return Array(repeating: 0, count: weights.count) }
    var values = [UInt64](repeating: 0, count: weights.count)
    var remainders = [(Double, Int)]()
    remainders.reserveCapacity(weights.count)
    var assigned: UInt64 = 0
    for (i, weight) in weights.enumerated() {
        let exact = Double(total) * max(0, weight) / sum
        let whole = min(UInt64(exact.rounded(.down)), total - assigned)
        values[i] = whole
        assigned += whole
        remainders.append((exact - Double(whole), i))
    }
    var left = total - assigned
    if left > 0 {
        remainders.sort { $0.0 != $1.0 ? $0.0 > $1.0 : $0.1 < $1.1 }
        var k = 0
        while left > 0 {
            values[remainders[k % remainders.count].1] += 1
            left -= 1
            k += 1
        }
    }
    return values
}

// MARK: Hashing

/// FNV-1a of a string's UTF-8, finished with a SplitMix64 step.
func hashString(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return mix(hash)
}

/// A well-spread hash of a few 64-bit words.
func mix(_ parts: UInt64...) -> UInt64 {
    var generator = SplitMix64(seed: 0x5EED)
    var state: UInt64 = 0
    for part in parts {
        generator = SplitMix64(seed: state ^ part)
        state = generator.next()
    }
    return state
}

/// A hash mapped to [0, 1).
func unit(_ hash: UInt64) -> Double { Double(hash >> 11) / 9_007_199_254_740_992 }

/// A reporting window of `getUserPortrait`: the last 1, 7 or 30 China days ending at `end_date`.
///
/// The upstream accepts exactly three spans between `begin_date` and `end_date`: 0, 6 and 29 days.
public enum Window: String, CaseIterable, Sendable, Hashable, Comparable, CustomStringConvertible {
    case day1 = "1d"
    case day7 = "7d"
    case day30 = "30d"

    /// Days between `begin_date` and `end_date` (0, 6 or 29), as the upstream counts them.
    public var spanDays: Int {
        switch self {
        case .day1: 0
        case .day7: 6
        case .day30: 29
        }
    }

    /// The first day of the window that ends on `end`.
    public func beginDate(endingOn end: ChinaDate) -> ChinaDate { end.adding(days: -spanDays) }

    public var description: String { rawValue }

    public static func < (lhs: Window, rhs: Window) -> Bool { lhs.spanDays < rhs.spanDays }
}

/// Which users a portrait counts.
public enum Segment: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// `visit_uv_new`: users whose first visit falls into the window.
    case new
    /// `visit_uv`: users who visited during the window.
    case active

    /// The key of this segment's object in the upstream response.
    public var upstreamKey: String {
        switch self {
        case .new: "visit_uv_new"
        case .active: "visit_uv"
        }
    }

    /// Position in `Segment.allCases`.
    public var index: Int { self == .new ? 0 : 1 }

    public var description: String { rawValue }
}

/// How a portrait is broken down.
public enum Dimension: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    case province, city, gender, platform, device, age

    /// The key of this dimension's array inside a segment object of the upstream response.
    public var upstreamKey: String {
        switch self {
        case .province: "province"
        case .city: "city"
        case .gender: "genders"
        case .platform: "platforms"
        case .device: "devices"
        case .age: "ages"
        }
    }

    /// Position in `Dimension.allCases`.
    public var index: Int {
        switch self {
        case .province: 0
        case .city: 1
        case .gender: 2
        case .platform: 3
        case .device: 4
        case .age: 5
        }
    }

    public var description: String { rawValue }
}

import Foundation

/// A calendar day in China Standard Time (Asia/Shanghai), the days WeChat's data is cut into.
///
/// China has kept UTC+8 without daylight saving since 1991, so the conversion is a fixed offset;
/// the tests cross-check it against Foundation's `Asia/Shanghai` calendar. Stored as days since
/// 1970-01-01 so that arithmetic is exact and cheap.
public struct ChinaDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Days since 1970-01-01 (a China day).
    public let dayNumber: Int

    /// China Standard Time is UTC+8.
    public static let utcOffsetSeconds = 8 * 3600

    public init(dayNumber: Int) { self.dayNumber = dayNumber }

    /// The China day that contains `instant`.
    public init(containing instant: Date) {
        let seconds = Int((instant.timeIntervalSince1970).rounded(.down)) + ChinaDate.utcOffsetSeconds
        dayNumber = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
    }

    /// A date from its civil fields; `nil` if they do not name a real day.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= ChinaDate.daysIn(month: month, year: year) else { return nil }
        dayNumber = ChinaDate.days(fromCivil: year, month, day)
    }

    /// Parses `yyyymmdd` (the upstream's format); `nil` for anything else.
    public init?(yyyymmdd text: some StringProtocol) {
        let bytes = Array(text.utf8)
        guard bytes.count == 8, bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        func number(_ range: Range<Int>) -> Int { bytes[range].reduce(0) { $0 * 10 + Int($1 - 0x30) } }
        self.init(year: number(0..<4), month: number(4..<6), day: number(6..<8))
    }

    /// Parses `yyyy-mm-dd`.
    public init?(iso text: some StringProtocol) {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
              let y = Int(parts[0]), let m = Int(parts[1]), let d = Int(parts[2]) else { return nil }
        self.init(year: y, month: m, day: d)
    }

    /// Civil fields of this day.
    public var components: (year: Int, month: Int, day: Int) { ChinaDate.civil(fromDays: dayNumber) }

    /// `yyyymmdd`, as the upstream expects in `begin_date`/`end_date`.
    public var yyyymmdd: String {
        let (y, m, d) = components
        return pad(y, 4) + pad(m, 2) + pad(d, 2)
    }

    /// `yyyy-mm-dd`.
    public var iso: String {
        let (y, m, d) = components
        return pad(y, 4) + "-" + pad(m, 2) + "-" + pad(d, 2)
    }

    public var description: String { iso }

    public func adding(days: Int) -> ChinaDate { ChinaDate(dayNumber: dayNumber + days) }

    /// Days from `other` to `self`.
    public func days(since other: ChinaDate) -> Int { dayNumber - other.dayNumber }

    /// 00:00 China time at the start of this day, as Unix seconds.
    public var midnightUnixSeconds: Int { dayNumber * 86_400 - ChinaDate.utcOffsetSeconds }

    /// 00:00 China time at the start of this day.
    public var midnight: Date { Date(timeIntervalSince1970: TimeInterval(midnightUnixSeconds)) }

    /// The instant at `time` China time on this day.
    public func at(_ time: TimeOfDay) -> Date {
        Date(timeIntervalSince1970: TimeInterval(midnightUnixSeconds + time.secondsSinceMidnight))
    }

    public static func < (lhs: ChinaDate, rhs: ChinaDate) -> Bool { lhs.dayNumber < rhs.dayNumber }

    // MARK: Civil calendar arithmetic (proleptic Gregorian, days since 1970-01-01).

    static func days(fromCivil year: Int, _ month: Int, _ day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    static func civil(fromDays days: Int) -> (Int, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}

/// A wall-clock time of day in China, e.g. the 10:00 at which yesterday's data is usually ready.
public struct TimeOfDay: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// Seconds after midnight, 0 ..< 86400.
    public let secondsSinceMidnight: Int

    public init(hour: Int, minute: Int = 0, second: Int = 0) {
        secondsSinceMidnight = hour * 3600 + minute * 60 + second
    }

    /// Parses `HH:MM` or `HH:MM:SS` (24-hour clock).
    public init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard (2...3).contains(parts.count), parts.allSatisfy({ $0.count == 2 }),
              let h = Int(parts[0]), let m = Int(parts[1]), (0..<24).contains(h), (0..<60).contains(m) else { return nil }
        var s = 0
        if parts.count == 3 {
            guard let sec = Int(parts[2]), (0..<60).contains(sec) else { return nil }
            s = sec
        }
        self.init(hour: h, minute: m, second: s)
    }

    /// The China time of day of `instant`.
    public init(of instant: Date) {
        let day = ChinaDate(containing: instant)
        secondsSinceMidnight = Int(instant.timeIntervalSince1970.rounded(.down)) - day.midnightUnixSeconds
    }

    public var description: String {
        let h = secondsSinceMidnight / 3600, m = secondsSinceMidnight / 60 % 60, s = secondsSinceMidnight % 60
        return s == 0 ? pad(h, 2) + ":" + pad(m, 2) : pad(h, 2) + ":" + pad(m, 2) + ":" + pad(s, 2)
    }

    public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool { lhs.secondsSinceMidnight < rhs.secondsSinceMidnight }
}

@inline(__always)
private func pad(_ value: Int, _ width: Int) -> String {
    let digits = String(value)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}

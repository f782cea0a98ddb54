import Foundation
import PortraitCore
import Testing

@Suite("China calendar")
struct ChinaDateTests {
    @Test("00:30 China time on 1 March is still 28 February in UTC; yesterday is 28 February")
    func yesterdayAroundChinaMidnight() {
        let instant = Date(timeIntervalSince1970: 1_772_296_200) // 2026-02-28T16:30:00Z
        let today = ChinaDate(containing: instant)
        #expect(today.iso == "2026-03-01")
        #expect(today.adding(days: -1).iso == "2026-02-28")
        #expect(today.adding(days: -1).yyyymmdd == "20260228")
        #expect(TimeOfDay(of: instant) == TimeOfDay(hour: 0, minute: 30))
    }

    @Test("one second before China midnight is the previous China day")
    func secondBeforeMidnight() {
        let midnight = ChinaDate(year: 2026, month: 3, day: 1)!.midnight
        #expect(ChinaDate(containing: midnight.addingTimeInterval(-1)).iso == "2026-02-28")
        #expect(ChinaDate(containing: midnight).iso == "2026-03-01")
        #expect(midnight.timeIntervalSince1970 == 1_772_294_400) // 2026-02-28T16:00:00Z
    }

    @Test("leap days and year ends", arguments: [
        ("2024-03-01", -1, "2024-02-29"),
        ("2025-03-01", -1, "2025-02-28"),
        ("2000-03-01", -1, "2000-02-29"),
        ("2100-03-01", -1, "2100-02-28"),
        ("2027-01-01", -1, "2026-12-31"),
        ("2026-12-31", -29, "2026-12-02"),
        ("2027-01-05", -29, "2026-12-07"),
        ("2024-03-05", -6, "2024-02-28"),
    ])
    func arithmetic(start: String, days: Int, expected: String) throws {
        let date = try #require(ChinaDate(iso: start))
        #expect(date.adding(days: days).iso == expected)
    }

    @Test("windows end on the given day and span 0, 6 or 29 days")
    func windowSpans() throws {
        let end = try #require(ChinaDate(yyyymmdd: "20260228"))
        #expect(Window.day1.beginDate(endingOn: end).yyyymmdd == "20260228")
        #expect(Window.day7.beginDate(endingOn: end).yyyymmdd == "20260222")
        #expect(Window.day30.beginDate(endingOn: end).yyyymmdd == "20260130")
    }

    @Test("invalid dates are rejected", arguments: ["20260230", "20261301", "2026011", "2026-01-01", "abcdefgh", "20260100", ""])
    func invalid(text: String) {
        #expect(ChinaDate(yyyymmdd: text) == nil)
    }

    @Test("agrees with Foundation's Asia/Shanghai calendar over 40 years of instants")
    func agreesWithFoundation() throws {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = try #require(TimeZone(identifier: "Asia/Shanghai"))
        var random = SplitMix64(seed: 42)
        // 1995..2035, plus instants right around China midnights.
        for i in 0..<3000 {
            var seconds = Double(788_918_400 + Int(random.next() % 1_262_304_000))
            if i % 3 == 0 { seconds = Double(ChinaDate(containing: Date(timeIntervalSince1970: seconds)).midnightUnixSeconds) + Double(Int(random.next() % 3) - 1) }
            let instant = Date(timeIntervalSince1970: seconds)
            let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: instant)
            let ours = ChinaDate(containing: instant).components
            #expect(ours.year == parts.year && ours.month == parts.month && ours.day == parts.day, "instant \(seconds)")
            #expect(TimeOfDay(of: instant).secondsSinceMidnight == parts.hour! * 3600 + parts.minute! * 60 + parts.second!)
        }
    }

    @Test("times of day parse and print")
    func timeOfDay() {
        #expect(TimeOfDay(parsing: "10:00")?.secondsSinceMidnight == 36_000)
        #expect(TimeOfDay(parsing: "23:59:59")?.secondsSinceMidnight == 86_399)
        #expect(TimeOfDay(parsing: "24:00") == nil)
        #expect(TimeOfDay(parsing: "9:00") == nil)
        #expect(TimeOfDay(hour: 15, minute: 5).description == "15:05")
    }
}

import PortraitCore
import Testing
@testable import WeChatSimulator

/// The generated data: decodable by the exporter, consistent, realistic and deterministic.
@Suite struct PortraitGeneratorTests {
    let generator = PortraitGenerator(seed: 7)
    let end = chinaDay(2026, 3, 9)
    let appid = TestApps.alpha.appid

    @Test(arguments: Window.allCases)
    func decodesWithTheExportersDecoder(window: Window) throws {
        let body = generator.body(appid: appid, window: window, end: end)
        let answer = try PortraitDecoder.decode(body)
        #expect(answer.portrait == generator.portrait(appid: appid, window: window, end: end).portrait)
        #expect(answer.refDate == PortraitGenerator.refDate(window: window, end: end))
        #expect(answer.portrait.bucketCount > 300)
    }

    @Test func refDateIsOneDayOrARange() {
        #expect(PortraitGenerator.refDate(window: .day1, end: end) == "20260309")
        #expect(PortraitGenerator.refDate(window: .day7, end: end) == "20260303-20260309")
        #expect(PortraitGenerator.refDate(window: .day30, end: end) == "20260208-20260309")
    }

    @Test(arguments: Window.allCases)
    func everyDimensionOfASegmentSumsToTheSameTotal(window: Window) {
        let data = generator.portrait(appid: appid, window: window, end: end)
        for segment in Segment.allCases {
            let totals = Set(Dimension.allCases.map { data.total(segment, $0) })
            #expect(totals.count == 1, "\(segment): \(totals)")
            #expect(totals.first ?? 0 > 0)
        }
    }

    @Test(arguments: Window.allCases)
    func activeIsAtLeastNewInEveryBucket(window: Window) {
        let data = generator.portrait(appid: appid, window: window, end: end)
        for dimension in Dimension.allCases {
            let new = Dictionary(uniqueKeysWithValues: data[.new, dimension].map { ($0.name, $0.value) })
            #expect(data[.active, dimension].count == new.count)
            for item in data[.active, dimension] {
                #expect(item.value >= new[item.name] ?? 0, "\(dimension) \(item.name)")
            }
        }
        #expect(data.total(.active, .province) > data.total(.new, .province))
    }

    @Test func tablesHaveTheRealShape() throws {
        let portrait = try PortraitDecoder.decode(generator.body(appid: appid, window: .day1, end: end)).portrait
        #expect(portrait[.active, .province].count >= 34)
        #expect(portrait[.active, .city].count >= 100)
        #expect(portrait[.active, .device].count >= 30)
        #expect(portrait[.active, .device].allSatisfy { $0.id == nil })
        for dimension in Dimension.allCases where dimension != .device {
            #expect(portrait[.active, dimension].allSatisfy { $0.id != nil }, "\(dimension)")
        }
        #expect(portrait[.active, .province].contains(Bucket(id: 31, name: "广东省", value: portrait[.active, .province].first { $0.id == 31 }?.value ?? 0)))
        #expect(portrait[.active, .city].first { $0.id == 3102 }?.name == "广州")
        #expect(Set(portrait[.active, .gender].map(\.name)) == ["男", "女", "未知"])
        #expect(portrait[.active, .gender].first { $0.id == 1 }?.name == "男")
        #expect(Set(portrait[.active, .platform].map(\.name)) == ["iPhone", "Android", "其他"])
        #expect(portrait[.active, .platform].first { $0.id == 1 }?.name == "iPhone")
        #expect(Set(portrait[.active, .age].map(\.name)) == ["17岁以下", "18-24岁", "25-29岁", "30-39岁", "40-49岁", "50岁以上", "未知"])
        #expect(portrait[.active, .age].first { $0.id == 1 }?.name == "17岁以下")
        let devices = Set(portrait[.active, .device].map(\.name))
        #expect(devices.isSuperset(of: ["iPhone 13", "OPPO R9", "HUAWEI Mate 40 Pro"]))
    }

    @Test func devicesAreWrittenWithoutAnIdMember() {
        let text = String(decoding: generator.body(appid: appid, window: .day1, end: end), as: UTF8.self)
        #expect(text.contains(#"{"name":"OPPO R9","value":"#))
        #expect(!text.contains(#""id":null"#))
    }

    @Test func namesAndIdsAreUniqueWithinABreakdown() {
        let data = generator.portrait(appid: appid, window: .day30, end: end)
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                let items = data[segment, dimension]
                #expect(Set(items.map(\.name)).count == items.count, "\(segment) \(dimension)")
                if dimension != .device { #expect(Set(items.map(\.id)).count == items.count) }
            }
        }
    }

    @Test(arguments: [chinaDay(2026, 3, 9), chinaDay(2024, 2, 29), chinaDay(2026, 1, 1)])
    func longerWindowsCountMoreUsers(end: ChinaDate) {
        for app in ["wx1", "wx2", TestApps.alpha.appid, TestApps.beta.appid] {
            let totals = Window.allCases.map { generator.portrait(appid: app, window: $0, end: end) }
            for segment in Segment.allCases {
                let (d1, d7, d30) = (totals[0].total(segment, .age), totals[1].total(segment, .age), totals[2].total(segment, .age))
                #expect(d1 < d7 && d7 < d30, "\(app) \(segment): \(d1) \(d7) \(d30)")
            }
        }
    }

    @Test func valuesChangeFromDayToDay() {
        let days = (0..<10).map { generator.portrait(appid: appid, window: .day1, end: end.adding(days: -$0)) }
        let totals = Set(days.map { $0.total(.active, .province) })
        #expect(totals.count >= 9)
        #expect(days[0][.active, .city] != days[1][.active, .city])
    }

    @Test func sameInputsGiveTheSameBytes() {
        let a = PortraitGenerator(seed: 7).body(appid: appid, window: .day7, end: end)
        let b = PortraitGenerator(seed: 7).body(appid: appid, window: .day7, end: end)
        #expect(a == b)
        #expect(PortraitGenerator(seed: 8).body(appid: appid, window: .day7, end: end) != a)
        #expect(generator.body(appid: TestApps.beta.appid, window: .day7, end: end) != a)
    }

    @Test func appsDifferInSizeAndShape() {
        let a = generator.portrait(appid: "wxaaaaaaaaaaaaaaaa", window: .day1, end: end)
        let b = generator.portrait(appid: "wxbbbbbbbbbbbbbbbb", window: .day1, end: end)
        #expect(a.total(.active, .age) != b.total(.active, .age))
        #expect(a[.active, .province].first?.name != b[.active, .province].first?.name
            || a[.active, .device].map(\.name) != b[.active, .device].map(\.name))
    }

    @Test func breakdownsAreSortedLargestFirst() {
        let data = generator.portrait(appid: appid, window: .day1, end: end)
        for dimension in Dimension.allCases {
            let values = data[.active, dimension].map(\.value)
            #expect(values == values.sorted(by: >))
        }
    }

    @Test func scaleAsksForMoreCitiesAndDevices() throws {
        let scale = DataScale(dailyActiveUsers: 1_000_000, cities: 400, devices: 5_000)
        let body = generator.body(appid: appid, window: .day30, end: end, scale: scale)
        let portrait = try PortraitDecoder.decode(body).portrait
        #expect(portrait[.active, .city].count == 400)
        #expect(portrait[.active, .device].count == 5_000)
        #expect(Set(portrait[.active, .device].map(\.name)).count == 5_000)
        #expect(Set(portrait[.active, .city].map(\.id)).count == 400)
        #expect(portrait[.active, .city].reduce(0) { $0 + $1.value } == portrait[.active, .age].reduce(0) { $0 + $1.value })
    }

    @Test func dailyActiveUsersFollowsTheScale() {
        let small = generator.portrait(appid: appid, window: .day1, end: end, scale: DataScale(dailyActiveUsers: 1_000))
        let large = generator.portrait(appid: appid, window: .day1, end: end, scale: DataScale(dailyActiveUsers: 100_000))
        #expect((600...1_400).contains(small.total(.active, .age)))
        #expect((60_000...140_000).contains(large.total(.active, .age)))
        let none = generator.portrait(appid: appid, window: .day30, end: end, scale: DataScale(dailyActiveUsers: 0))
        #expect(none.total(.active, .age) == 0)
    }

    @Test func hostileScaleValuesDoNotTrap() {
        _ = generator.portrait(appid: "", window: .day1, end: ChinaDate(dayNumber: -1_000_000), scale: DataScale(dailyActiveUsers: -5, cities: -1, devices: 0))
        let huge = Gazetteer.cities(count: Int.max)
        #expect(huge.count == Gazetteer.maxTableSize)
    }

    @Test(arguments: [(0, [Double]()), (10, [1.0, 1.0, 1.0]), (7, [0, 0, 0]), (100, [3, 1])] as [(UInt64, [Double])])
    func apportionAddsUpExactly(total: UInt64, weights: [Double]) {
        let parts = apportion(total, weights)
        #expect(parts.count == weights.count)
        if weights.contains(where: { $0 > 0 }) { #expect(parts.reduce(0, +) == total) }
    }

    @Test func gazetteerIsComplete() {
        #expect(Gazetteer.provinces.count == 34)
        #expect(Set(Gazetteer.provinces.map(\.id)).count == 34)
        #expect(Gazetteer.cities.count >= 100)
        #expect(Set(Gazetteer.cities.map(\.id)).count == Gazetteer.cities.count)
        #expect(Gazetteer.devices.count >= 40)
        #expect(Gazetteer.devices.allSatisfy { $0.id == nil })
    }
}

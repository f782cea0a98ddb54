import Foundation
import PortraitCore
import PortraitStatsD

/// Snapshots and states for the StatsD tests.
enum Fixtures {
    static let day = ChinaDate(year: 2026, month: 3, day: 1)!
    static let fetchedAt = Date(timeIntervalSince1970: 1_772_330_400)

    static let provinces: [(Int64, String)] = [
        (1, "北京"), (2, "天津"), (3, "河北省"), (4, "山西省"), (5, "内蒙古自治区"), (6, "辽宁省"), (7, "吉林省"), (8, "黑龙江省"),
        (9, "上海"), (10, "江苏省"), (11, "浙江省"), (12, "安徽省"), (13, "福建省"), (14, "江西省"), (15, "山东省"), (16, "河南省"),
        (17, "湖北省"), (18, "湖南省"), (31, "广东省"), (20, "广西壮族自治区"), (21, "海南省"), (22, "重庆"), (23, "四川省"),
        (24, "贵州省"), (25, "云南省"), (26, "西藏自治区"), (27, "陕西省"), (28, "甘肃省"), (29, "青海省"), (30, "宁夏回族自治区"),
        (19, "新疆维吾尔自治区"), (32, "台湾省"), (33, "香港特别行政区"), (34, "澳门特别行政区"), (0, "未知"),
    ]
    static let cityStems = ["深圳", "广州", "杭州", "成都", "武汉", "南京", "苏州", "西安", "长沙", "郑州", "东莞", "佛山", "宁波", "青岛",
                            "沈阳", "昆明", "合肥", "无锡", "厦门", "济南", "福州", "温州", "大连", "哈尔滨", "长春", "泉州", "石家庄", "南宁"]
    static let devices = ["iPhone X", "iPhone 12 Pro Max", "OPPO R9", "OPPO R9s Plus", "vivo X21", "vivo X9", "HUAWEI P30", "HUAWEI Mate 20",
                          "华为 Mate 30", "小米 8", "Redmi Note 7", "OnePlus 6T", "SM-G9650", "MI 9", "M2007J3SC", "V1824A", "PBEM00",
                          "iPad Air (3rd generation)", "Galaxy S10+", "荣耀 20"]
    static let ages: [(Int64, String)] = [(1, "17岁以下"), (2, "18-24岁"), (3, "25-29岁"), (4, "30-39岁"), (5, "40-49岁"), (6, "50岁以上"), (0, "未知")]

    /// A portrait shaped like a real answer: provinces, `cities` cities, genders, platforms,
    /// devices and ages, values from `generator`.
    static func realisticPortrait(cities: Int = 120, using generator: inout SplitMix64) -> Portrait {
        var portrait = Portrait()
        func value() -> UInt64 {
            switch generator.next() % 4 {
            case 0: generator.next() % 10
            case 1: generator.next() % 1000
            case 2: generator.next() % 100_000
            default: generator.next() % 10_000_000
            }
        }
        for segment in Segment.allCases {
            portrait[segment, .province] = provinces.map { Bucket(id: $0.0, name: $0.1, value: value()) }
            portrait[segment, .city] = (0..<cities).map { i in
                let stem = cityStems[i % cityStems.count]
                let name = i < cityStems.count ? stem + "市" : stem + "\(i / cityStems.count)区"
                return Bucket(id: 440_000 + Int64(i), name: name, value: value())
            }
            portrait[segment, .gender] = [Bucket(id: 1, name: "男", value: value()), Bucket(id: 2, name: "女", value: value()), Bucket(id: 0, name: "未知", value: value())]
            portrait[segment, .platform] = [Bucket(id: 1, name: "iPhone", value: value()), Bucket(id: 2, name: "Android", value: value()), Bucket(id: 3, name: "其他", value: value())]
            portrait[segment, .device] = devices.map { Bucket(id: nil, name: $0, value: value()) }
            portrait[segment, .age] = ages.map { Bucket(id: $0.0, name: $0.1, value: value()) }
        }
        return portrait
    }

    static func snapshot(app: String = "shop", window: Window = .day7, portrait: Portrait) -> Snapshot {
        Snapshot(app: AppIdentity(name: app, appid: "wx0123456789abcdef"), window: window, endDate: day, refDate: "20260223-20260301",
                 fetchedAt: fetchedAt, portrait: portrait)
    }

    static func state(_ snapshots: [Snapshot], generation: UInt64 = 1) -> PortraitState {
        var map: [SnapshotKey: Snapshot] = [:]
        for snapshot in snapshots { map[snapshot.key] = snapshot }
        var apps: [AppIdentity] = []
        for snapshot in snapshots where !apps.contains(snapshot.app) { apps.append(snapshot.app) }
        return PortraitState(generation: generation, apps: apps, windows: Window.allCases, snapshots: map)
    }

    /// A realistic state: `apps` apps × the given windows.
    static func realisticState(apps: [String] = ["shop"], windows: [Window] = [.day7], cities: Int = 120, seed: UInt64 = 1) -> PortraitState {
        var generator = SplitMix64(seed: seed)
        var snapshots: [Snapshot] = []
        for app in apps {
            for window in windows {
                snapshots.append(snapshot(app: app, window: window, portrait: realisticPortrait(cities: cities, using: &generator)))
            }
        }
        return state(snapshots)
    }

    /// Bucket names built to break lines.
    static let hostileNames: [String] = [
        "", "unknown", "a b", "a_b", "a\tb", "a\nb", "a\r\nb", "a:b", "a|b", "a@b", "a#b", "a,b", "a=b", "a;b", "a.b", "a/b",
        "\"quoted\"", "'single'", "back\\slash", "\\", "\\n", "|g|#", ":1|c", "x:1|g\ny:2|g", "-5", "+5", "@0.5", "#tag:value",
        "😀", "👨‍👩‍👧", "广东省", "OPPO R9", "OPPO_R9", "OPPO\u{00A0}R9", "zero\u{200B}width", "line\u{2028}sep", "nul\u{0}byte",
        "bell\u{7}", "del\u{7F}", "~tilde", "^caret", "!bang", "a..b", ".", "..", "_", "-",
        String(repeating: "长", count: 300), String(repeating: "x", count: 300), String(repeating: "x", count: 299) + "y",
        String(repeating: "a b", count: 100), String(repeating: "😀", count: 300), "é", "e\u{301}", String(repeating: "x", count: 118) + "😀",
    ]

    /// A state whose apps and buckets carry every hostile name, with and without ids, and duplicates.
    static func hostileState(apps appCount: Int = 6, dimensions: [PortraitCore.Dimension] = PortraitCore.Dimension.allCases) -> PortraitState {
        var snapshots: [Snapshot] = []
        let apps = ["shop", "shop app", "shop_app", "商店", String(repeating: "app", count: 100), "a:b|c"].prefix(appCount)
        var value: UInt64 = 1
        for (appIndex, app) in apps.enumerated() {
            var portrait = Portrait()
            for segment in Segment.allCases {
                for dimension in dimensions {
                    var buckets: [Bucket] = []
                    for (i, name) in hostileNames.enumerated() {
                        var bucket = Bucket(id: nil, name: "x", value: value)
                        bucket.name = name  // bypass the empty-name mapping of Bucket.init
                        bucket.id = dimension == .device ? nil : (i % 3 == 0 ? Int64(i) : (i % 3 == 1 ? -Int64(i) : Int64.min + Int64(i)))
                        buckets.append(bucket)
                        value &+= 7
                    }
                    // Same name and id twice: summed.
                    buckets.append(Bucket(id: buckets[2].id, name: buckets[2].name, value: 5))
                    // Same name, different id.
                    buckets.append(Bucket(id: 999, name: "a b", value: 6))
                    buckets.append(Bucket(id: nil, name: "a b", value: UInt64.max))
                    portrait[segment, dimension] = buckets
                }
            }
            snapshots.append(snapshot(app: app, window: Window.allCases[appIndex % 3], portrait: portrait))
        }
        return state(snapshots)
    }
}

/// A line parsed by `StrictParser`.
struct ParsedLine: Hashable, CustomStringConvertible {
    var name: String
    var app: String
    var window: String
    var segment: String
    var dimension: String
    var bucket: String
    var bucketID: Int64?
    var value: UInt64

    /// Everything but the value.
    var identity: [String] { [name, app, window, segment, dimension, bucket, bucketID.map(String.init) ?? "-"] }

    var description: String { "\(identity.joined(separator: "/"))=\(value)" }
}

/// A strict parser per dialect, written independently of the encoder: it accepts exactly the
/// documented grammar and character sets and nothing else.
struct StrictParser {
    let dialect: StatsDDialect
    let prefix: String

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Characters allowed in a label value of `dialect`.
    func isValueScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", "-": return true
        case ".": return dialect != .plain
        case "/": return dialect == .dogstatsd || dialect == .influx
        default:
            guard !scalar.isASCII, dialect == .dogstatsd || dialect == .influx else { return false }
            switch scalar.properties.generalCategory {
            case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .surrogate: return false
            default: return true
            }
        }
    }

    func labelValue(_ text: Substring, _ what: String) throws -> String {
        guard !text.isEmpty else { throw Failure(description: "empty \(what)") }
        guard text.unicodeScalars.allSatisfy(isValueScalar) else { throw Failure(description: "bad character in \(what): \(text.debugDescription)") }
        return String(text)
    }

    func gaugeValue(_ text: Substring) throws -> UInt64 {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), text == "0" || !text.hasPrefix("0"),
              let value = UInt64(text) else { throw Failure(description: "bad gauge value \(text.debugDescription)") }
        return value
    }

    func parse(_ line: String) throws -> ParsedLine {
        guard !line.contains("\n") else { throw Failure(description: "newline inside a line") }
        switch dialect {
        case .dogstatsd:
            // name:value|g|#k:v,k:v…
            guard line.hasPrefix(prefix + ":") else { throw Failure(description: "does not start with the name: \(line.debugDescription)") }
            let rest = line.dropFirst(prefix.count + 1)
            guard let bar = rest.firstIndex(of: "|") else { throw Failure(description: "no type") }
            let value = try gaugeValue(rest[..<bar])
            let afterValue = rest[bar...]
            guard afterValue.hasPrefix("|g|#") else { throw Failure(description: "not |g|# after the value: \(line.debugDescription)") }
            let tags = afterValue.dropFirst(4).split(separator: ",", omittingEmptySubsequences: false).map { tag -> (Substring, Substring) in
                let parts = tag.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
                return (parts[0], parts.count > 1 ? parts[1] : "")
            }
            for (_, v) in tags where v.contains(":") { throw Failure(description: "colon in tag value") }
            return try fromTags(tags, name: prefix, value: value)
        case .influx, .graphite:
            let separator: Character = dialect == .influx ? "," : ";"
            guard let colon = line.lastIndex(of: ":") else { throw Failure(description: "no colon") }
            let series = line[..<colon]
            let valuePart = line[line.index(after: colon)...]
            guard valuePart.hasSuffix("|g") else { throw Failure(description: "not a gauge") }
            let value = try gaugeValue(valuePart.dropLast(2))
            let parts = series.split(separator: separator, omittingEmptySubsequences: false)
            guard parts[0] == prefix else { throw Failure(description: "name \(parts[0]) is not the prefix") }
            guard !series.dropFirst(prefix.count).contains(":") else { throw Failure(description: "colon in series") }
            let tags = try parts.dropFirst().map { tag -> (Substring, Substring) in
                let kv = tag.split(separator: "=", omittingEmptySubsequences: false)
                guard kv.count == 2 else { throw Failure(description: "tag \(tag.debugDescription) is not key=value") }
                return (kv[0], kv[1])
            }
            return try fromTags(tags, name: prefix, value: value)
        case .plain:
            guard line.hasPrefix(prefix + ".") else { throw Failure(description: "does not start with the prefix") }
            guard let colon = line.lastIndex(of: ":") else { throw Failure(description: "no colon") }
            let valuePart = line[line.index(after: colon)...]
            guard valuePart.hasSuffix("|g") else { throw Failure(description: "not a gauge") }
            let value = try gaugeValue(valuePart.dropLast(2))
            let components = line[line.index(line.startIndex, offsetBy: prefix.count + 1)..<colon].split(separator: ".", omittingEmptySubsequences: false)
            guard components.count == 5 else { throw Failure(description: "\(components.count) name components in \(line.debugDescription)") }
            return ParsedLine(name: prefix, app: try labelValue(components[0], "app"), window: try window(components[1]),
                              segment: try segment(components[2]), dimension: try dimension(components[3]),
                              bucket: try labelValue(components[4], "bucket"), bucketID: nil, value: value)
        }
    }

    private func window(_ text: Substring) throws -> String {
        guard Window(rawValue: String(text)) != nil else { throw Failure(description: "bad window \(text)") }
        return String(text)
    }

    private func segment(_ text: Substring) throws -> String {
        guard Segment(rawValue: String(text)) != nil else { throw Failure(description: "bad segment \(text)") }
        return String(text)
    }

    private func dimension(_ text: Substring) throws -> String {
        guard Dimension(rawValue: String(text)) != nil else { throw Failure(description: "bad dimension \(text)") }
        return String(text)
    }

    private func fromTags(_ tags: [(Substring, Substring)], name: String, value: UInt64) throws -> ParsedLine {
        let keys = tags.map { String($0.0) }
        guard keys == ["app", "window", "segment", "dimension", "bucket"] || keys == ["app", "window", "segment", "dimension", "bucket", "bucket_id"] else {
            throw Failure(description: "unexpected tag keys \(keys)")
        }
        var id: Int64?
        if tags.count == 6 {
            let text = tags[5].1
            let digits = text.hasPrefix("-") ? text.dropFirst() : text
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let parsed = Int64(text) else {
                throw Failure(description: "bad bucket_id \(text)")
            }
            id = parsed
        }
        return ParsedLine(name: name, app: try labelValue(tags[0].1, "app"), window: try window(tags[1].1), segment: try segment(tags[2].1),
                          dimension: try dimension(tags[3].1), bucket: try labelValue(tags[4].1, "bucket"), bucketID: id, value: value)
    }
}

/// 32-bit FNV-1a, written again for the tests.
func testFNV(_ text: String) -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 8 - hex.count) + hex
}

/// The label a realistic (collision-free, short) bucket name gets in `dialect`, per the README rules.
func expectedLabel(_ name: String, id: Int64?, dialect: StatsDDialect) -> String {
    let asciiOnly = dialect == .graphite || dialect == .plain
    if asciiOnly, name.unicodeScalars.contains(where: { !$0.isASCII }) {
        if let id { return "id\(id)" }
        return "u" + testFNV(name)
    }
    return String(name.map { character -> Character in
        switch character {
        case " ", "(", ")", "+": "_"
        case ".": dialect == .plain ? "_" : "."
        default: character
        }
    })
}

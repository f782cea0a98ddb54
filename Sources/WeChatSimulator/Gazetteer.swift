import Foundation

/// The name tables the simulator draws portraits from: provinces, cities, genders, platforms,
/// device models and age bands, each with a base weight (a rough share of WeChat users).
///
/// WeChat publishes no id→name tables. The only pairs known from real answers are kept
/// (province 31 = 广东省, city 3102 = 广州, gender 1 = 男, platform 1 = iPhone, age 1 = 17岁以下);
/// every other id is this simulator's own stable choice. Devices carry no id, as upstream.
public enum Gazetteer {
    /// One named entry of a table.
    public struct Entry: Sendable, Hashable {
        /// The upstream id; `nil` for devices.
        public let id: Int?
        /// The display name as WeChat sends it.
        public let name: String
        /// Relative share of users (any positive scale; only ratios matter).
        public let weight: Double
        /// For cities: the id of the province the city lies in.
        public let provinceID: Int?

        init(id: Int?, name: String, weight: Double, provinceID: Int? = nil) {
            self.id = id
            self.name = name
            self.weight = weight
            self.provinceID = provinceID
        }
    }

    /// The 34 province-level divisions; weights are rough populations in millions (2020),
    /// lowered for Taiwan, Hong Kong and Macao where WeChat is less used.
    public static let provinces: [Entry] = [
        (1, "北京市", 21.9), (2, "天津市", 13.9), (3, "河北省", 74.6), (4, "山西省", 34.9),
        (5, "内蒙古自治区", 24.0), (6, "辽宁省", 42.6), (7, "吉林省", 24.1), (8, "黑龙江省", 31.9),
        (9, "上海市", 24.9), (10, "江苏省", 84.7), (11, "浙江省", 64.6), (12, "安徽省", 61.0),
        (13, "福建省", 41.5), (14, "江西省", 45.2), (15, "山东省", 101.5), (16, "河南省", 99.4),
        (17, "湖北省", 57.8), (18, "湖南省", 66.4), (19, "广西壮族自治区", 50.1), (20, "海南省", 10.1),
        (21, "重庆市", 32.1), (22, "四川省", 83.7), (23, "贵州省", 38.6), (24, "云南省", 47.2),
        (25, "西藏自治区", 3.6), (26, "陕西省", 39.5), (27, "甘肃省", 25.0), (28, "青海省", 5.9),
        (29, "宁夏回族自治区", 7.2), (30, "新疆维吾尔自治区", 25.9), (31, "广东省", 126.0),
        (32, "台湾省", 1.2), (33, "香港特别行政区", 2.5), (34, "澳门特别行政区", 0.6),
    ].map { Entry(id: $0.0, name: $0.1, weight: $0.2) }

    /// Cities by province id, largest first. A city's id is `provinceID * 100 + position` (1-based),
    /// which puts 广州 at 3102 as in real answers.
    static let citiesByProvince: [(Int, [String])] = [
        (1, ["北京"]),
        (2, ["天津"]),
        (3, ["石家庄", "唐山", "保定", "邯郸", "廊坊", "沧州", "秦皇岛"]),
        (4, ["太原", "大同", "运城"]),
        (5, ["呼和浩特", "包头", "鄂尔多斯"]),
        (6, ["沈阳", "大连", "鞍山"]),
        (7, ["长春", "吉林"]),
        (8, ["哈尔滨", "大庆", "齐齐哈尔"]),
        (9, ["上海"]),
        (10, ["苏州", "南京", "无锡", "常州", "南通", "徐州", "扬州", "盐城"]),
        (11, ["杭州", "宁波", "温州", "金华", "绍兴", "嘉兴", "台州", "湖州"]),
        (12, ["合肥", "芜湖", "阜阳", "蚌埠"]),
        (13, ["福州", "厦门", "泉州", "漳州"]),
        (14, ["南昌", "赣州", "九江"]),
        (15, ["青岛", "济南", "烟台", "潍坊", "临沂", "济宁", "淄博"]),
        (16, ["郑州", "洛阳", "南阳", "新乡", "商丘"]),
        (17, ["武汉", "宜昌", "襄阳", "荆州"]),
        (18, ["长沙", "株洲", "衡阳", "岳阳"]),
        (19, ["南宁", "柳州", "桂林"]),
        (20, ["海口", "三亚"]),
        (21, ["重庆"]),
        (22, ["成都", "绵阳", "南充", "宜宾"]),
        (23, ["贵阳", "遵义"]),
        (24, ["昆明", "曲靖", "大理"]),
        (25, ["拉萨"]),
        (26, ["西安", "咸阳", "宝鸡"]),
        (27, ["兰州", "天水"]),
        (28, ["西宁"]),
        (29, ["银川"]),
        (30, ["乌鲁木齐", "喀什"]),
        (31, ["深圳", "广州", "东莞", "佛山", "惠州", "珠海", "汕头", "中山", "江门", "湛江"]),
        (32, ["台北"]),
        (33, ["香港"]),
        (34, ["澳门"]),
    ]

    /// Real cities (109): each takes a share of its province that falls off with its position.
    public static let cities: [Entry] = {
        var result: [Entry] = []
        let provinceWeight = Dictionary(uniqueKeysWithValues: provinces.map { ($0.id ?? 0, $0.weight) })
        for (provinceID, names) in citiesByProvince {
            // Shares 1, 1/2^0.8, 1/3^0.8, …, normalised to 60 % of the province (the rest lives in
            // towns no table lists).
            let raw = names.indices.map { 1 / pow(Double($0 + 1), 0.8) }
            let sum = raw.reduce(0, +)
            for (index, name) in names.enumerated() {
                let weight = (provinceWeight[provinceID] ?? 1) * 0.6 * raw[index] / sum
                result.append(Entry(id: provinceID * 100 + index + 1, name: name, weight: weight, provinceID: provinceID))
            }
        }
        return result
    }()

    /// Genders: 0 未知, 1 男, 2 女 (WeChat's usual `sex` codes).
    public static let genders: [Entry] = [
        Entry(id: 1, name: "男", weight: 0.49),
        Entry(id: 2, name: "女", weight: 0.46),
        Entry(id: 0, name: "未知", weight: 0.05),
    ]

    /// Platforms.
    public static let platforms: [Entry] = [
        Entry(id: 1, name: "iPhone", weight: 0.34),
        Entry(id: 2, name: "Android", weight: 0.62),
        Entry(id: 3, name: "其他", weight: 0.04),
    ]

    /// Age bands as WeChat names them; 未知 is id 0.
    public static let ages: [Entry] = [
        Entry(id: 1, name: "17岁以下", weight: 0.05),
        Entry(id: 2, name: "18-24岁", weight: 0.17),
        Entry(id: 3, name: "25-29岁", weight: 0.18),
        Entry(id: 4, name: "30-39岁", weight: 0.27),
        Entry(id: 5, name: "40-49岁", weight: 0.16),
        Entry(id: 6, name: "50岁以上", weight: 0.13),
        Entry(id: 0, name: "未知", weight: 0.04),
    ]

    /// Device models (no ids), most common first.
    public static let devices: [Entry] = [
        ("iPhone 15 Pro Max", 5.0), ("iPhone 15 Pro", 4.2), ("iPhone 15", 3.6), ("iPhone 14 Pro Max", 3.9),
        ("iPhone 14 Pro", 3.1), ("iPhone 14", 2.8), ("iPhone 13 Pro Max", 2.6), ("iPhone 13 Pro", 2.2),
        ("iPhone 13", 3.3), ("iPhone 12", 2.4), ("iPhone 11", 2.1), ("iPhone XR", 1.2), ("iPhone SE", 0.8),
        ("iPhone 8 Plus", 0.5), ("iPad", 0.6),
        ("HUAWEI Mate 60 Pro", 3.4), ("HUAWEI Mate 40 Pro", 2.2), ("HUAWEI Mate 30", 1.3), ("HUAWEI P40", 1.4),
        ("HUAWEI nova 11", 1.6), ("HONOR 90", 1.5), ("HONOR X40", 1.3), ("Xiaomi 14", 2.0), ("Xiaomi 13", 1.6),
        ("Redmi K70", 1.7), ("Redmi Note 12", 1.9), ("Redmi Note 11", 1.2), ("OPPO R9", 0.6), ("OPPO R11", 0.7),
        ("OPPO Reno10", 1.8), ("OPPO A57", 1.5), ("OPPO Find X6", 0.9), ("vivo X100", 1.9), ("vivo X90", 1.4),
        ("vivo Y76s", 1.3), ("vivo S17", 1.2), ("iQOO 12", 0.9), ("OnePlus 11", 0.7), ("realme GT Neo5", 0.6),
        ("Samsung Galaxy S23", 0.5), ("Meizu 20", 0.3), ("其他", 2.5),
    ].map { Entry(id: nil, name: $0.0, weight: $0.1) }

    /// `count` cities: the real ones first, then synthetic ones ("广东-11") spread over the
    /// provinces by weight, with ids from 10000 up so they never collide with real ones.
    public static func cities(count: Int) -> [Entry] {
        let wanted = max(0, min(count, maxTableSize))
        if wanted <= cities.count { return Array(cities.prefix(wanted)) }
        var result = cities
        let shortNames = provinces.map { short($0.name) }
        var n = 0
        while result.count < wanted {
            let province = provinces[n % provinces.count]
            let round = n / provinces.count + 1
            result.append(Entry(
                id: 10_000 + n,
                name: "\(shortNames[n % provinces.count])-\(round)",
                weight: province.weight * 0.02 / Double(round),
                provinceID: province.id
            ))
            n += 1
        }
        return result
    }

    /// `count` device models: the real ones first, then synthetic model names
    /// ("OPPO A101", "vivo Y102 Pro", …) with small weights.
    public static func devices(count: Int) -> [Entry] {
        let wanted = max(0, min(count, maxTableSize))
        if wanted <= devices.count { return Array(devices.prefix(wanted)) }
        var result = devices
        let prefixes = ["OPPO A", "vivo Y", "Redmi Note ", "HUAWEI nova ", "HONOR X", "Galaxy A", "realme C", "Meizu "]
        let suffixes = ["", " Pro", " Plus", "s", "t", " 5G"]
        var n = 0
        while result.count < wanted {
            let prefix = prefixes[n % prefixes.count]
            let suffix = suffixes[(n / prefixes.count) % suffixes.count]
            let number = 100 + n / (prefixes.count * suffixes.count)
            result.append(Entry(id: nil, name: "\(prefix)\(number)\(suffix)", weight: 0.3 / Double(1 + n / 64)))
            n += 1
        }
        return result
    }

    /// Largest table `cities(count:)` and `devices(count:)` build.
    public static let maxTableSize = 100_000

    /// "广东省" → "广东", "内蒙古自治区" → "内蒙古", "北京市" → "北京".
    static func short(_ name: String) -> String {
        for suffix in ["壮族自治区", "回族自治区", "维吾尔自治区", "特别行政区", "自治区", "省", "市"] where name.hasSuffix(suffix) {
            return String(name.dropLast(suffix.count))
        }
        return name
    }
}

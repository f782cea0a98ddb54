import PortraitCore
import PortraitStatsD
import Testing

@Suite("StatsD line encoder")
struct LineEncoderTests {
    static func smallState() -> PortraitState {
        var portrait = Portrait()
        portrait[.new, .province] = [Bucket(id: 31, name: "广东省", value: 215)]
        portrait[.active, .device] = [Bucket(id: nil, name: "OPPO R9", value: 3)]
        portrait[.active, .age] = [Bucket(id: -1, name: "", value: 0)]
        return Fixtures.state([Fixtures.snapshot(app: "shop", window: .day7, portrait: portrait)])
    }

    @Test("exact line format per dialect", arguments: [
        (StatsDDialect.dogstatsd, [
            "wechat.portrait.users:215|g|#app:shop,window:7d,segment:new,dimension:province,bucket:广东省,bucket_id:31",
            "wechat.portrait.users:3|g|#app:shop,window:7d,segment:active,dimension:device,bucket:OPPO_R9",
            "wechat.portrait.users:0|g|#app:shop,window:7d,segment:active,dimension:age,bucket:unknown,bucket_id:-1",
        ]),
        (.influx, [
            "wechat.portrait.users,app=shop,window=7d,segment=new,dimension=province,bucket=广东省,bucket_id=31:215|g",
            "wechat.portrait.users,app=shop,window=7d,segment=active,dimension=device,bucket=OPPO_R9:3|g",
            "wechat.portrait.users,app=shop,window=7d,segment=active,dimension=age,bucket=unknown,bucket_id=-1:0|g",
        ]),
        (.graphite, [
            "wechat.portrait.users;app=shop;window=7d;segment=new;dimension=province;bucket=id31;bucket_id=31:215|g",
            "wechat.portrait.users;app=shop;window=7d;segment=active;dimension=device;bucket=OPPO_R9:3|g",
            "wechat.portrait.users;app=shop;window=7d;segment=active;dimension=age;bucket=unknown;bucket_id=-1:0|g",
        ]),
        (.plain, [
            "wechat.portrait.users.shop.7d.new.province.id31:215|g",
            "wechat.portrait.users.shop.7d.active.device.OPPO_R9:3|g",
            "wechat.portrait.users.shop.7d.active.age.unknown:0|g",
        ]),
    ])
    func format(dialect: StatsDDialect, expected: [String]) {
        let encoded = StatsDLineEncoder(dialect: dialect).encode(Self.smallState())
        #expect(encoded.count == 1)
        #expect(encoded.first?.lines.strings == expected)
    }

    @Test("a custom prefix is the metric name")
    func customPrefix() {
        let lines = StatsDLineEncoder(dialect: .plain, prefix: "mp.users").encode(Self.smallState())[0].lines.strings
        #expect(lines.first == "mp.users.shop.7d.new.province.id31:215|g")
    }

    @Test("hostile names give only grammatical lines with unique identities within the limits",
          arguments: StatsDDialect.allCases, [127, 80])
    func hostile(dialect: StatsDDialect, maxNameBytes: Int) async throws {
        let encoder = StatsDLineEncoder(dialect: dialect, maxNameBytes: maxNameBytes)
        let state = Fixtures.hostileState()
        let parser = StrictParser(dialect: dialect, prefix: encoder.prefix)
        var identities = Set<[String]>()
        var outputValues: [String: [UInt64]] = [:]
        var lineCount = 0
        for snapshot in encoder.encode(state) {
            await Task.yield()  // CPU-heavy in debug builds: let socket tests running alongside progress
            for index in 0..<snapshot.lines.count {
                let bytes = snapshot.lines.line(index)
                #expect(!bytes.contains(0x0A) && !bytes.contains(0x0D) && !bytes.contains(0))
                #expect(bytes.count <= encoder.maximumLineBytes)
                let text = try #require(String(validating: bytes, as: UTF8.self))
                let parsed = try parser.parse(text)
                #expect(identities.insert(parsed.identity).inserted, "duplicate identity \(parsed)")
                if dialect == .plain {
                    let name = text[..<text.lastIndex(of: ":")!]
                    #expect(name.utf8.count <= maxNameBytes, "name too long: \(name)")
                } else {
                    #expect(parsed.app.utf8.count <= maxNameBytes)
                    #expect(parsed.bucket.utf8.count <= maxNameBytes)
                }
                outputValues["\(snapshot.key)/\(parsed.segment)/\(parsed.dimension)", default: []].append(parsed.value)
                lineCount += 1
            }
        }
        // Every bucket is there: per breakdown, exactly the values of the input with equal
        // (name, id) buckets summed — no bucket lost, none merged with another.
        var expectedCount = 0
        for snapshot in state.orderedSnapshots {
            for segment in Segment.allCases {
                for dimension in Dimension.allCases {
                    var sums: [String: UInt64] = [:]
                    var order: [String] = []
                    for bucket in snapshot.portrait[segment, dimension] {
                        let key = (bucket.name.isEmpty ? "unknown" : bucket.name) + "\u{0}" + (bucket.id.map(String.init) ?? "nil")
                        if sums[key] == nil { order.append(key) }
                        let (sum, overflow) = sums[key, default: 0].addingReportingOverflow(bucket.value)
                        sums[key] = overflow ? UInt64.max : sum
                    }
                    expectedCount += order.count
                    let got = outputValues["\(snapshot.key)/\(segment)/\(dimension)", default: []].sorted()
                    #expect(got == order.map { sums[$0]! }.sorted(), "values differ in \(snapshot.key) \(segment) \(dimension)")
                }
            }
        }
        #expect(lineCount == expectedCount)
    }

    @Test("values never carry a sign", arguments: StatsDDialect.allCases)
    func unsigned(dialect: StatsDDialect) throws {
        var portrait = Portrait()
        portrait[.new, .gender] = [Bucket(id: -5, name: "-5", value: 0), Bucket(id: 1, name: "+1", value: UInt64.max),
                                   Bucket(id: 2, name: "x", value: 1), Bucket(id: 3, name: "y", value: 10)]
        let state = Fixtures.state([Fixtures.snapshot(portrait: portrait)])
        let lines = StatsDLineEncoder(dialect: dialect).encode(state)[0].lines.strings
        #expect(lines.count == 4)
        let parser = StrictParser(dialect: dialect, prefix: StatsDLineEncoder.defaultPrefix)
        var values: [UInt64] = []
        for line in lines {
            let value = try parser.parse(line).value
            values.append(value)
            // Between the value's colon and "|g" there are only digits, never a sign.
            let colon = dialect == .dogstatsd ? line.firstIndex(of: ":")! : line.lastIndex(of: ":")!
            let digits = line[line.index(after: colon)...].prefix { $0 != "|" }
            #expect(!digits.isEmpty && digits.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 }, "\(line)")
        }
        #expect(values == [0, UInt64.max, 1, 10])
        #expect(lines.contains { $0.contains("18446744073709551615|g") })
    }

    @Test("distinct buckets that sanitize alike are told apart; equal ones are summed")
    func collisions() {
        var portrait = Portrait()
        portrait[.new, .device] = [
            Bucket(id: nil, name: "OPPO R9", value: 1),
            Bucket(id: nil, name: "OPPO_R9", value: 2),
            Bucket(id: nil, name: "OPPO|R9", value: 4),
            Bucket(id: nil, name: "OPPO R9", value: 8),
        ]
        portrait[.new, .city] = [Bucket(id: 2, name: "unknown", value: 1), Bucket(id: 1, name: "unknown", value: 2)]
        let state = Fixtures.state([
            Fixtures.snapshot(app: "shop app", portrait: portrait),
            Fixtures.snapshot(app: "shop_app", portrait: portrait),
        ])
        let oppo = "_" + testFNV("OPPO R9\u{0}")
        let bar = "_" + testFNV("OPPO|R9\u{0}")
        let appHash = "_" + testFNV("shop app\u{0}")
        let plain = StatsDLineEncoder(dialect: .plain).encode(state).flatMap(\.lines.strings)
        #expect(plain == [
            "wechat.portrait.users.shop_app\(appHash).7d.new.city.unknown_\(testFNV("unknown\u{0}2")):1|g",
            "wechat.portrait.users.shop_app\(appHash).7d.new.city.unknown:2|g",
            "wechat.portrait.users.shop_app\(appHash).7d.new.device.OPPO_R9\(oppo):9|g",
            "wechat.portrait.users.shop_app\(appHash).7d.new.device.OPPO_R9:2|g",
            "wechat.portrait.users.shop_app\(appHash).7d.new.device.OPPO_R9\(bar):4|g",
            "wechat.portrait.users.shop_app.7d.new.city.unknown_\(testFNV("unknown\u{0}2")):1|g",
            "wechat.portrait.users.shop_app.7d.new.city.unknown:2|g",
            "wechat.portrait.users.shop_app.7d.new.device.OPPO_R9\(oppo):9|g",
            "wechat.portrait.users.shop_app.7d.new.device.OPPO_R9:2|g",
            "wechat.portrait.users.shop_app.7d.new.device.OPPO_R9\(bar):4|g",
        ])
        // Tagged dialects keep the id, so equal names with distinct ids need no suffix.
        let tagged = StatsDLineEncoder(dialect: .influx).encode(state)[1].lines.strings
        #expect(tagged.prefix(2) == [
            "wechat.portrait.users,app=shop_app,window=7d,segment=new,dimension=city,bucket=unknown,bucket_id=2:1|g",
            "wechat.portrait.users,app=shop_app,window=7d,segment=new,dimension=city,bucket=unknown,bucket_id=1:2|g",
        ])
    }

    @Test("plain names are cut to max_name_bytes, bucket first, with a hash of the whole value")
    func plainShortening() {
        let longApp = String(repeating: "a", count: 100)
        let longBucket = String(repeating: "b", count: 100)
        var portrait = Portrait()
        portrait[.new, .device] = [Bucket(id: nil, name: longBucket, value: 1), Bucket(id: nil, name: "short", value: 2)]
        let state = Fixtures.state([Fixtures.snapshot(app: longApp, portrait: portrait)])
        let lines = StatsDLineEncoder(dialect: .plain).encode(state)[0].lines.strings
        let names = lines.map { String($0[..<$0.lastIndex(of: ":")!]) }
        #expect(names.allSatisfy { $0.utf8.count <= 127 })
        // Fixed part: "wechat.portrait.users" + ".7d.new.device" + 2 dots = 37 bytes; 90 bytes of room.
        // Long bucket (100) > room/2, so the app keeps 45 bytes and the bucket gets 45.
        let appCut = String(repeating: "a", count: 36) + "_" + testFNV(longApp)
        let bucketCut = String(repeating: "b", count: 36) + "_" + testFNV(longBucket)
        #expect(names[0] == "wechat.portrait.users.\(appCut).7d.new.device.\(bucketCut)")
        // A short bucket leaves the app room − 5 = 85 bytes.
        #expect(names[1] == "wechat.portrait.users.\(String(repeating: "a", count: 76))_\(testFNV(longApp)).7d.new.device.short")
        #expect(names[1].utf8.count == 127)
    }

    @Test("the longest possible line fits the smallest datagram with the defaults")
    func longestLine() {
        for dialect in StatsDDialect.allCases {
            let encoder = StatsDLineEncoder(dialect: dialect)
            #expect(encoder.maximumLineBytes <= 512, "\(dialect): \(encoder.maximumLineBytes)")
        }
        #expect(StatsDLineEncoder(dialect: .dogstatsd).maximumLineBytes == 21 + 2 * 127 + 113)
        #expect(StatsDLineEncoder(dialect: .influx).maximumLineBytes == 21 + 2 * 127 + 112)
        #expect(StatsDLineEncoder(dialect: .graphite).maximumLineBytes == 21 + 2 * 127 + 112)
        #expect(StatsDLineEncoder(dialect: .plain).maximumLineBytes == 127 + 23)
    }

    @Test("a realistic state encodes every bucket with the documented labels", arguments: StatsDDialect.allCases)
    func realistic(dialect: StatsDDialect) throws {
        let state = Fixtures.realisticState(apps: ["shop", "news"], windows: [.day1, .day30], cities: 40)
        let parser = StrictParser(dialect: dialect, prefix: StatsDLineEncoder.defaultPrefix)
        let parsed = try StatsDLineEncoder(dialect: dialect).encode(state).flatMap(\.lines.strings).map(parser.parse)
        #expect(Set(parsed) == Self.expected(state, dialect: dialect))
        #expect(parsed.count == Self.expected(state, dialect: dialect).count)
    }

    /// What a collision-free state must produce, built from the documented rules.
    static func expected(_ state: PortraitState, dialect: StatsDDialect) -> Set<ParsedLine> {
        var result = Set<ParsedLine>()
        for snapshot in state.orderedSnapshots {
            for segment in Segment.allCases {
                for dimension in Dimension.allCases {
                    for bucket in snapshot.portrait[segment, dimension] {
                        result.insert(ParsedLine(
                            name: StatsDLineEncoder.defaultPrefix, app: snapshot.app.name, window: snapshot.window.rawValue,
                            segment: segment.rawValue, dimension: dimension.rawValue,
                            bucket: expectedLabel(bucket.name, id: bucket.id, dialect: dialect),
                            bucketID: dialect == .plain ? nil : bucket.id, value: bucket.value))
                    }
                }
            }
        }
        return result
    }
}

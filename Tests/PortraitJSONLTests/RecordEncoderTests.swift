import Foundation
import PortraitCore
import Testing
@testable import PortraitJSONL

@Suite("Record encoder")
struct RecordEncoderTests {
    static let bucketKeys = ["record", "timestamp", "app", "appid", "window", "begin_date", "end_date", "ref_date",
                             "segment", "dimension", "bucket", "bucket_id", "value"]

    static func parse(_ line: [UInt8]) throws -> [(key: String, value: JSONValue)] {
        #expect(line.last == 0x0A, "every record ends with a newline")
        #expect(line.dropLast().contains(0x0A) == false, "no newline inside a record")
        let value = try JSONParser.parse(line.dropLast())
        return try #require(value.objectMembers)
    }

    @Test("a bucket record is exactly the documented line")
    func golden() {
        var portrait = Portrait()
        portrait[.new, .province] = [Bucket(id: 31, name: "广东省", value: 215)]
        portrait[.active, .device] = [Bucket(id: nil, name: "iPhone 15", value: 7)]
        let snapshot = Snapshot(app: Fixtures.shop, window: .day7, endDate: Fixtures.endDate, refDate: "20261122-20261128",
                                fetchedAt: Fixtures.fetchedAt, portrait: portrait)
        let lines = RecordEncoder().lines(of: snapshot).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines == [
            #"{"record":"bucket","timestamp":"2026-11-29T02:00:05.123Z","app":"shop","appid":"wx0123456789abcdef","window":"7d","begin_date":"2026-11-22","end_date":"2026-11-28","ref_date":"20261122-20261128","segment":"new","dimension":"province","bucket":"广东省","bucket_id":31,"value":215}"# + "\n",
            #"{"record":"bucket","timestamp":"2026-11-29T02:00:05.123Z","app":"shop","appid":"wx0123456789abcdef","window":"7d","begin_date":"2026-11-22","end_date":"2026-11-28","ref_date":"20261122-20261128","segment":"active","dimension":"device","bucket":"iPhone 15","value":7}"# + "\n",
            #"{"record":"snapshot","timestamp":"2026-11-29T02:00:05.123Z","app":"shop","appid":"wx0123456789abcdef","window":"7d","begin_date":"2026-11-22","end_date":"2026-11-28","ref_date":"20261122-20261128","buckets":2,"segments":{"new":{"province":{"buckets":1,"total":215},"city":{"buckets":0,"total":0},"gender":{"buckets":0,"total":0},"platform":{"buckets":0,"total":0},"device":{"buckets":0,"total":0},"age":{"buckets":0,"total":0}},"active":{"province":{"buckets":0,"total":0},"city":{"buckets":0,"total":0},"gender":{"buckets":0,"total":0},"platform":{"buckets":0,"total":0},"device":{"buckets":1,"total":7},"age":{"buckets":0,"total":0}}}}"# + "\n",
        ])
        var joined: [UInt8] = []
        RecordEncoder().encode(snapshot, into: &joined)
        #expect(String(decoding: joined, as: UTF8.self) == lines.joined())
    }

    @Test("every line parses and round-trips to the snapshot, fields in a stable order")
    func roundTrip() throws {
        let snapshot = Fixtures.snapshot(window: .day30, seed: 3, perBreakdown: 4)
        let lines = RecordEncoder().lines(of: snapshot)
        #expect(lines.count == snapshot.portrait.bucketCount + 1)
        var index = 0
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                for bucket in snapshot.portrait[segment, dimension] {
                    let members = try Self.parse(lines[index])
                    index += 1
                    let object = JSONValue.object(members)
                    let expectedKeys = bucket.id == nil ? Self.bucketKeys.filter { $0 != "bucket_id" } : Self.bucketKeys
                    #expect(members.map(\.key) == expectedKeys)
                    #expect(object["record"] == .string("bucket"))
                    #expect(object["timestamp"] == .string("2026-11-29T02:00:05.123Z"))
                    #expect(object["app"] == .string("shop"))
                    #expect(object["appid"] == .string("wx0123456789abcdef"))
                    #expect(object["window"] == .string("30d"))
                    #expect(object["begin_date"] == .string("2026-10-30"))
                    #expect(object["end_date"] == .string("2026-11-28"))
                    #expect(object["ref_date"] == .string(snapshot.refDate))
                    #expect(object["segment"] == .string(segment.rawValue))
                    #expect(object["dimension"] == .string(dimension.rawValue))
                    #expect(object["bucket"] == .string(bucket.name))
                    #expect(object["bucket_id"]?.integerValue == bucket.id)
                    #expect(object["value"]?.integerValue == Int64(bucket.value))
                }
            }
        }
        let summary = JSONValue.object(try Self.parse(lines[index]))
        #expect(summary["record"] == .string("snapshot"))
        #expect(summary["buckets"] == .integer(48))
        #expect(summary["segments"]?.objectMembers?.map(\.key) == ["new", "active"])
        for segment in Segment.allCases {
            let breakdowns = try #require(summary["segments"]?[segment.rawValue])
            #expect(breakdowns.objectMembers?.map(\.key) == Dimension.allCases.map(\.rawValue))
            for dimension in Dimension.allCases {
                let buckets = snapshot.portrait[segment, dimension]
                #expect(breakdowns[dimension.rawValue]?["buckets"] == .integer(Int64(buckets.count)))
                #expect(breakdowns[dimension.rawValue]?["total"] == .integer(Int64(buckets.reduce(0) { $0 + $1.value })))
            }
        }
    }

    @Test("hostile names stay one line each and round-trip", arguments: [
        #"quote " inside"#, #"back\slash\"#, "new\nline", "carriage\r\nreturn", "tab\there", "bell\u{07}nul\u{00}",
        "del\u{7F}", "emoji 👩‍👩‍👧‍👦🇨🇳", "line\u{2028}separator", "{\"record\":\"bucket\"}\n{", String(repeating: "长", count: 300),
        String(repeating: "\"\\\n", count: 100),
    ])
    func hostileNames(name: String) throws {
        var portrait = Portrait()
        portrait[.active, .city] = [Bucket(id: -5, name: name, value: 1), Bucket(id: nil, name: name, value: 2)]
        let app = AppIdentity(name: "app " + name, appid: "wx\"\n" + name)
        let snapshot = Snapshot(app: app, window: .day1, endDate: Fixtures.endDate, refDate: name,
                                fetchedAt: Fixtures.fetchedAt, portrait: portrait)
        var joined: [UInt8] = []
        RecordEncoder().encode(snapshot, into: &joined)
        #expect(joined.filter { $0 == 0x0A }.count == 3, "two bucket records and one summary, one line each")
        let lines = RecordEncoder().lines(of: snapshot)
        for line in lines {
            let object = JSONValue.object(try Self.parse(line))
            #expect(object["app"] == .string(app.name))
            #expect(object["appid"] == .string(app.appid))
            #expect(object["ref_date"] == .string(name))
        }
        let first = JSONValue.object(try Self.parse(lines[0]))
        #expect(first["bucket"] == .string(name))
        #expect(first["bucket_id"] == .integer(-5))
        let second = JSONValue.object(try Self.parse(lines[1]))
        #expect(second["bucket"] == .string(name))
        #expect(second["bucket_id"] == nil)
    }

    @Test("extreme numbers: Int64.min ids, UInt64.max values, a saturating total")
    func extremes() throws {
        var portrait = Portrait()
        portrait[.new, .age] = [Bucket(id: .min, name: "a", value: .max), Bucket(id: .max, name: "b", value: 5)]
        let snapshot = Snapshot(app: Fixtures.shop, window: .day1, endDate: Fixtures.endDate, refDate: "20261128",
                                fetchedAt: Fixtures.fetchedAt, portrait: portrait)
        let lines = RecordEncoder().lines(of: snapshot).map { String(decoding: $0, as: UTF8.self) }
        #expect(lines[0].hasSuffix(#""bucket":"a","bucket_id":-9223372036854775808,"value":18446744073709551615}"# + "\n"))
        #expect(lines[1].hasSuffix(#""bucket":"b","bucket_id":9223372036854775807,"value":5}"# + "\n"))
        #expect(lines[2].contains(#""age":{"buckets":2,"total":18446744073709551615}"#))
        for line in lines { _ = try JSONParser.parse(line) }
    }

    @Test("integers are written like String(describing:)", arguments: [0, 1, 9, 10, 99, 100, 12_345, 1_000_000_007, UInt64.max / 3, UInt64.max])
    func integers(value: UInt64) {
        var out: [UInt8] = []
        RecordEncoder.appendInteger(value, to: &out)
        #expect(String(decoding: out, as: UTF8.self) == String(value))
    }

    @Test("an empty portrait gives only the summary; summary_records false gives nothing for it")
    func empty() throws {
        let snapshot = Snapshot(app: Fixtures.shop, window: .day1, endDate: Fixtures.endDate, refDate: "20261128",
                                fetchedAt: Fixtures.fetchedAt, portrait: Portrait())
        let lines = RecordEncoder().lines(of: snapshot)
        #expect(lines.count == 1)
        let summary = JSONValue.object(try Self.parse(lines[0]))
        #expect(summary["buckets"] == .integer(0))
        #expect(summary["segments"]?["active"]?["device"]?["total"] == .integer(0))
        #expect(RecordEncoder(summaryRecords: false).lines(of: snapshot).isEmpty)
        let full = Fixtures.snapshot(perBreakdown: 2)
        #expect(RecordEncoder(summaryRecords: false).lines(of: full).count == 24)
    }
}

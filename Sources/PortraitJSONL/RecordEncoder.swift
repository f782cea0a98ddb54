import Foundation
import PortraitCore

/// Turns a snapshot into JSON lines: one `bucket` record per bucket, then (optionally) one
/// `snapshot` summary record. Every line is one compact JSON object in UTF-8 ending in `\n`;
/// strings are escaped by `JSONWriter.appendString`, so no name can break a line. Field names and
/// their order are stable.
///
/// **Bucket record** (one per bucket, in segment order `new`, `active`, then dimension order
/// `province`, `city`, `gender`, `platform`, `device`, `age`, then upstream bucket order):
///
/// ```json
/// {"record":"bucket","timestamp":"2026-11-29T02:00:05.123Z","app":"shop","appid":"wx0123456789abcdef","window":"7d","begin_date":"2026-11-22","end_date":"2026-11-28","ref_date":"20261122-20261128","segment":"new","dimension":"province","bucket":"广东省","bucket_id":31,"value":215}
/// ```
///
/// | field | type | meaning |
/// | --- | --- | --- |
/// | `record` | string | always `"bucket"` |
/// | `timestamp` | string | when the snapshot was fetched: RFC 3339 UTC with milliseconds |
/// | `app`, `appid` | string | the configured app name and its WeChat appid |
/// | `window` | string | `1d`, `7d` or `30d` |
/// | `begin_date`, `end_date` | string | first and last China day of the window, `yyyy-mm-dd` |
/// | `ref_date` | string | `ref_date` exactly as WeChat returned it |
/// | `segment` | string | `new` (visit_uv_new) or `active` (visit_uv) |
/// | `dimension` | string | `province`, `city`, `gender`, `platform`, `device` or `age` |
/// | `bucket` | string | the bucket's name from WeChat (`unknown` when WeChat sent none) |
/// | `bucket_id` | integer | WeChat's id of the bucket; **absent** when the bucket has none (devices) |
/// | `value` | integer | distinct users, 0 … 2^64−1 |
///
/// **Snapshot record** (one per emitted snapshot, written *after* its bucket records, so it
/// marks the snapshot as complete; disabled with `summary_records: false`):
///
/// ```json
/// {"record":"snapshot","timestamp":"2026-11-29T02:00:05.123Z","app":"shop","appid":"wx0123456789abcdef","window":"7d","begin_date":"2026-11-22","end_date":"2026-11-28","ref_date":"20261122-20261128","buckets":140,"segments":{"new":{"province":{"buckets":34,"total":1234},"city":{"buckets":40,"total":1180},"gender":{"buckets":3,"total":1234},"platform":{"buckets":2,"total":1234},"device":{"buckets":20,"total":1100},"age":{"buckets":7,"total":1234}},"active":{…same six dimensions…}}}
/// ```
///
/// | field | type | meaning |
/// | --- | --- | --- |
/// | `record` | string | always `"snapshot"` |
/// | `timestamp` … `ref_date` | | as in the bucket record |
/// | `buckets` | integer | number of bucket records emitted for this snapshot (a consumer can check it received them all) |
/// | `segments.<segment>.<dimension>.buckets` | integer | number of buckets of that breakdown |
/// | `segments.<segment>.<dimension>.total` | integer | sum of their values (saturating at 2^64−1); dimensions can differ because WeChat omits some buckets |
///
/// `segments` always has both segments and all six dimensions, in the order above (empty
/// breakdowns have `"buckets":0,"total":0`). An empty portrait yields only the snapshot record.
public struct RecordEncoder: Sendable {
    /// Whether a `snapshot` summary record follows the bucket records of each snapshot.
    public var summaryRecords: Bool

    public init(summaryRecords: Bool = true) {
        self.summaryRecords = summaryRecords
    }

    /// Appends all lines of `snapshot` (bucket records, then the summary record) to `out`,
    /// each terminated by `\n`.
    public func encode(_ snapshot: Snapshot, into out: inout [UInt8]) {
        for line in lines(of: snapshot) { out.append(contentsOf: line) }
    }

    /// The lines of `snapshot`, each a complete record ending in `\n`.
    public func lines(of snapshot: Snapshot) -> [[UInt8]] {
        let common = Self.commonFields(of: snapshot)
        var lines: [[UInt8]] = []
        lines.reserveCapacity(snapshot.portrait.bucketCount + 1)
        var line: [UInt8] = []
        line.reserveCapacity(256)
        for segment in Segment.allCases {
            for dimension in Dimension.allCases {
                var prefix: [UInt8] = Array(#"{"record":"bucket","#.utf8)
                prefix.append(contentsOf: common)
                prefix.append(contentsOf: #","segment":"#.utf8)
                JSONWriter.appendString(segment.rawValue, to: &prefix)
                prefix.append(contentsOf: #","dimension":"#.utf8)
                JSONWriter.appendString(dimension.rawValue, to: &prefix)
                prefix.append(contentsOf: #","bucket":"#.utf8)
                for bucket in snapshot.portrait[segment, dimension] {
                    line.removeAll(keepingCapacity: true)
                    line.append(contentsOf: prefix)
                    Self.appendBucket(bucket, to: &line)
                    lines.append(line)
                }
            }
        }
        if summaryRecords {
            line.removeAll(keepingCapacity: true)
            Self.appendSummary(of: snapshot, common: common, to: &line)
            lines.append(line)
        }
        return lines
    }

    /// `"timestamp":…,"app":…,…,"ref_date":…` (no braces, no trailing comma).
    static func commonFields(of snapshot: Snapshot) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(192)
        out.append(contentsOf: #""timestamp":"#.utf8)
        JSONWriter.appendString(Logger.timestamp(snapshot.fetchedAt), to: &out)
        out.append(contentsOf: #","app":"#.utf8)
        JSONWriter.appendString(snapshot.app.name, to: &out)
        out.append(contentsOf: #","appid":"#.utf8)
        JSONWriter.appendString(snapshot.app.appid, to: &out)
        out.append(contentsOf: #","window":"#.utf8)
        JSONWriter.appendString(snapshot.window.rawValue, to: &out)
        out.append(contentsOf: #","begin_date":"#.utf8)
        JSONWriter.appendString(snapshot.beginDate.iso, to: &out)
        out.append(contentsOf: #","end_date":"#.utf8)
        JSONWriter.appendString(snapshot.endDate.iso, to: &out)
        out.append(contentsOf: #","ref_date":"#.utf8)
        JSONWriter.appendString(snapshot.refDate, to: &out)
        return out
    }

    /// `"<name>","bucket_id":<id>,"value":<value>}\n` (the `"bucket":` key is in the prefix).
    static func appendBucket(_ bucket: Bucket, to out: inout [UInt8]) {
        JSONWriter.appendString(bucket.name, to: &out)
        if let id = bucket.id {
            out.append(contentsOf: #","bucket_id":"#.utf8)
            appendInteger(id, to: &out)
        }
        out.append(contentsOf: #","value":"#.utf8)
        appendInteger(bucket.value, to: &out)
        out.append(UInt8(ascii: "}"))
        out.append(0x0A)
    }

    static func appendSummary(of snapshot: Snapshot, common: [UInt8], to out: inout [UInt8]) {
        out.append(contentsOf: #"{"record":"snapshot","#.utf8)
        out.append(contentsOf: common)
        out.append(contentsOf: #","buckets":"#.utf8)
        appendInteger(UInt64(snapshot.portrait.bucketCount), to: &out)
        out.append(contentsOf: #","segments":{"#.utf8)
        for (s, segment) in Segment.allCases.enumerated() {
            if s > 0 { out.append(UInt8(ascii: ",")) }
            JSONWriter.appendString(segment.rawValue, to: &out)
            out.append(contentsOf: ":{".utf8)
            for (d, dimension) in Dimension.allCases.enumerated() {
                if d > 0 { out.append(UInt8(ascii: ",")) }
                let buckets = snapshot.portrait[segment, dimension]
                var total: UInt64 = 0
                for bucket in buckets {
                    let (sum, overflow) = total.addingReportingOverflow(bucket.value)
                    total = overflow ? .max : sum
                }
                JSONWriter.appendString(dimension.rawValue, to: &out)
                out.append(contentsOf: #":{"buckets":"#.utf8)
                appendInteger(UInt64(buckets.count), to: &out)
                out.append(contentsOf: #","total":"#.utf8)
                appendInteger(total, to: &out)
                out.append(UInt8(ascii: "}"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(contentsOf: "}}".utf8)
        out.append(0x0A)
    }

    /// Appends the decimal digits of `value` without allocating a `String`.
    static func appendInteger(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[19 - count] = 0x30 &+ UInt8(truncatingIfNeeded: rest % 10)
                rest /= 10
                count += 1
            }
            out.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// Appends the decimal digits of `value`, with a `-` when negative (`Int64.min` included).
    static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        appendInteger(value.magnitude, to: &out)
    }
}

import PortraitCore

/// The lines of one snapshot, concatenated without separators: line `i` is
/// `bytes[ends[i - 1] ..< ends[i]]` (from 0 for the first). Never contains a newline.
public struct EncodedLines: Sendable, Equatable {
    /// All lines back to back.
    public var bytes: [UInt8] = []
    /// End offset of each line in `bytes`.
    public var ends: [Int] = []

    public init() {}

    /// Number of lines.
    public var count: Int { ends.count }

    /// Bytes of line `index`.
    public func line(_ index: Int) -> ArraySlice<UInt8> {
        bytes[(index == 0 ? 0 : ends[index - 1])..<ends[index]]
    }

    /// Length in bytes of line `index`.
    public func length(_ index: Int) -> Int { ends[index] - (index == 0 ? 0 : ends[index - 1]) }

    /// Every line as a string (tests, debugging).
    public var strings: [String] { (0..<count).map { String(decoding: line($0), as: UTF8.self) } }

    /// Appends one line (must not contain a newline).
    public mutating func append(_ line: some Collection<UInt8>) {
        bytes.append(contentsOf: line)
        ends.append(bytes.count)
    }
}

/// Turns a `PortraitState` into StatsD gauge lines, one per bucket, in the format of `dialect`
/// (see `StatsDDialect`), with label values made safe by `StatsDSanitizer`.
///
/// **Order**: snapshots by app name then window; segments `new`, `active`; dimensions `province`,
/// `city`, `gender`, `platform`, `device`, `age`; buckets in the upstream's order.
///
/// **Length limit** (`maxNameBytes`, bytes, default 127 — collectd cuts names at 127 bytes and so
/// would merge distinct long names silently): in `plain` the whole dotted name
/// `<prefix>.<app>.<window>.<segment>.<dimension>.<bucket>` is at most `maxNameBytes`; in the
/// tagged dialects the metric name (the prefix, checked by the configuration) and each tag value
/// are. Over-long values are cut by `StatsDSanitizer.shortened` (first bytes + `_` + 8-hex-digit
/// hash of the whole value). In `plain`, when app and bucket together do not fit into what the
/// fixed components leave (`room`), the app keeps `max(room − bucket length, room / 2)` bytes and
/// the bucket gets the rest.
///
/// **Unique identities** (a line's identity is everything but its value):
/// 1. Buckets of one breakdown with the same name (empty = `unknown`) and id are summed (values
///    saturate at `UInt64.max`), like the Prometheus plugin does.
/// 2. Distinct buckets of one breakdown that sanitize to the same identity (e.g. `OPPO R9` and
///    `OPPO_R9`; in `plain` also equal names with different ids) are told apart: the one whose name
///    was not altered by sanitizing keeps it (if several, the one with the smallest id, none first),
///    every other gets `_` + the 8-hex-digit FNV-1a hash of its raw name, a zero byte and its id in
///    decimal (nothing without an id). App names colliding across the state get the same treatment
///    (apps have no id: hash of the raw name and a zero byte).
/// 3. Values are then shortened (the hash covers the whole value, so distinct values stay distinct).
/// 4. Should two lines of the state still share an identity (this needs a 32-bit hash collision),
///    they are summed, so the output never holds two lines with one identity.
public struct StatsDLineEncoder: Sendable {
    public let dialect: StatsDDialect
    /// The metric name (`plain`: the first name component); already valid (`StatsDSanitizer.prefixProblem`).
    public let prefix: String
    /// Limit in bytes for names and tag values, as described on the type.
    public let maxNameBytes: Int
    private let sanitizer: StatsDSanitizer
    private let prefixBytes: [UInt8]

    /// Default `maxNameBytes`: collectd's limit.
    public static let defaultMaxNameBytes = 127
    /// Default metric name.
    public static let defaultPrefix = "wechat.portrait.users"

    public init(dialect: StatsDDialect = .default, prefix: String = StatsDLineEncoder.defaultPrefix, maxNameBytes: Int = StatsDLineEncoder.defaultMaxNameBytes) {
        self.dialect = dialect
        self.prefix = prefix
        self.maxNameBytes = maxNameBytes
        sanitizer = StatsDSanitizer(dialect: dialect)
        prefixBytes = Array(prefix.utf8)
    }

    /// Lines of one snapshot.
    public struct SnapshotLines: Sendable {
        public var key: SnapshotKey
        public var lines: EncodedLines
    }

    // MARK: Limits

    /// The longest window, segment and dimension label values.
    static let longestFixedLabels: (window: Int, segment: Int, dimension: Int) = (
        Window.allCases.map(\.rawValue.utf8.count).max() ?? 0,
        Segment.allCases.map(\.rawValue.utf8.count).max() ?? 0,
        Dimension.allCases.map(\.rawValue.utf8.count).max() ?? 0
    )

    /// The smallest `maxNameBytes` that leaves every label value `StatsDSanitizer.minimumValueBytes`
    /// of room with `prefix` in `dialect`.
    public static func minimumMaxNameBytes(dialect: StatsDDialect, prefix: String) -> Int {
        let p = prefix.utf8.count
        if dialect.isTagged { return max(p, StatsDSanitizer.minimumValueBytes) }
        let fixed = longestFixedLabels
        return p + fixed.window + fixed.segment + fixed.dimension + 5 + 2 * StatsDSanitizer.minimumValueBytes
    }

    /// The longest line this encoder can produce, in bytes: the line of a bucket whose app name and
    /// bucket name use the whole `maxNameBytes`, the longest window, segment and dimension, the
    /// longest id (`Int64.min`) and value (`UInt64.max`). Every label value is at most that long by
    /// construction, so no real line is longer.
    public var maximumLineBytes: Int {
        if !dialect.isTagged { return maxNameBytes + 1 + 20 + 2 }
        let filler = [UInt8](repeating: UInt8(ascii: "a"), count: maxNameBytes)
        var line: [UInt8] = []
        let (before, after) = series(app: filler, window: .day30, segment: .active, dimension: .province, bucket: filler, id: Int64.min)
        appendLine(before: before, after: after, value: UInt64.max, to: &line)
        return line.count
    }

    // MARK: Encoding

    /// Every bucket of every snapshot of `state` as lines, one entry per snapshot (in order).
    public func encode(_ state: PortraitState) -> [SnapshotLines] {
        let snapshots = state.orderedSnapshots
        let appLabels = appLabels(snapshots.map(\.app.name))

        // Identity → (snapshot, position) of its first line, for the final de-duplication.
        var seen: [[UInt8]: (snapshot: Int, line: Int)] = [:]
        var pending: [[(before: [UInt8], after: [UInt8], value: UInt64)]] = []
        pending.reserveCapacity(snapshots.count)

        for (snapshotIndex, snapshot) in snapshots.enumerated() {
            var lines: [(before: [UInt8], after: [UInt8], value: UInt64)] = []
            lines.reserveCapacity(snapshot.portrait.bucketCount)
            let app = appLabels[snapshot.app.name] ?? Array("unknown".utf8)
            for segment in Segment.allCases {
                for dimension in Dimension.allCases {
                    let buckets = Self.merged(snapshot.portrait[segment, dimension])
                    guard !buckets.isEmpty else { continue }
                    let names = bucketLabels(buckets)
                    for (bucket, name) in zip(buckets, names) {
                        var appValue = app
                        var bucketValue = name
                        fit(app: &appValue, bucket: &bucketValue, window: snapshot.window, segment: segment, dimension: dimension)
                        let (before, after) = series(app: appValue, window: snapshot.window, segment: segment, dimension: dimension,
                                                     bucket: bucketValue, id: dialect.isTagged ? bucket.id : nil)
                        let identity = before + after
                        if let first = seen[identity] {
                            if first.snapshot == snapshotIndex {
                                lines[first.line].value = Self.saturatingSum(lines[first.line].value, bucket.value)
                            } else {
                                pending[first.snapshot][first.line].value = Self.saturatingSum(pending[first.snapshot][first.line].value, bucket.value)
                            }
                            continue
                        }
                        seen[identity] = (snapshotIndex, lines.count)
                        lines.append((before, after, bucket.value))
                    }
                }
            }
            pending.append(lines)
        }

        var result: [SnapshotLines] = []
        result.reserveCapacity(snapshots.count)
        var line: [UInt8] = []
        for (snapshot, lines) in zip(snapshots, pending) {
            var encoded = EncodedLines()
            encoded.bytes.reserveCapacity(lines.count * 120)
            encoded.ends.reserveCapacity(lines.count)
            for entry in lines {
                line.removeAll(keepingCapacity: true)
                appendLine(before: entry.before, after: entry.after, value: entry.value, to: &line)
                encoded.append(line)
            }
            result.append(SnapshotLines(key: snapshot.key, lines: encoded))
        }
        return result
    }

    /// Writes one line: `before:value|g after`. The value is decimal digits only.
    @inline(__always)
    func appendLine(before: [UInt8], after: [UInt8], value: UInt64, to output: inout [UInt8]) {
        output.append(contentsOf: before)
        output.append(UInt8(ascii: ":"))
        StatsDSanitizer.appendDecimal(value, to: &output)
        output.append(UInt8(ascii: "|"))
        output.append(UInt8(ascii: "g"))
        output.append(contentsOf: after)
    }

    /// The parts of a line before its `:value` and after its `|g`.
    func series(app: [UInt8], window: Window, segment: Segment, dimension: Dimension, bucket: [UInt8], id: Int64?) -> (before: [UInt8], after: [UInt8]) {
        var out = prefixBytes
        out.reserveCapacity(prefixBytes.count + app.count + bucket.count + 80)
        let separator = dialect.tagSeparator
        if !dialect.isTagged {
            for component in [app, Array(window.rawValue.utf8), Array(segment.rawValue.utf8), Array(dimension.rawValue.utf8), bucket] {
                out.append(separator)
                out.append(contentsOf: component)
            }
            return (out, [])
        }
        var tags: [UInt8] = []
        tags.reserveCapacity(app.count + bucket.count + 80)
        func tag(_ key: String, _ value: some Collection<UInt8>) {
            if !(dialect == .dogstatsd && tags.isEmpty) { tags.append(separator) }
            tags.append(contentsOf: key.utf8)
            tags.append(dialect.tagAssignment)
            tags.append(contentsOf: value)
        }
        tag("app", app)
        tag("window", window.rawValue.utf8)
        tag("segment", segment.rawValue.utf8)
        tag("dimension", dimension.rawValue.utf8)
        tag("bucket", bucket)
        if let id {
            var digits: [UInt8] = []
            StatsDSanitizer.appendDecimal(id, to: &digits)
            tag("bucket_id", digits)
        }
        if dialect == .dogstatsd { return (out, [UInt8(ascii: "|"), UInt8(ascii: "#")] + tags) }
        out.append(contentsOf: tags)
        return (out, [])
    }

    /// Applies the length limit to one line's app and bucket values.
    func fit(app: inout [UInt8], bucket: inout [UInt8], window: Window, segment: Segment, dimension: Dimension) {
        if dialect.isTagged {
            app = StatsDSanitizer.shortened(app, toAtMost: maxNameBytes)
            bucket = StatsDSanitizer.shortened(bucket, toAtMost: maxNameBytes)
            return
        }
        let fixed = prefixBytes.count + window.rawValue.utf8.count + segment.rawValue.utf8.count + dimension.rawValue.utf8.count + 5
        let room = max(maxNameBytes - fixed, 2 * StatsDSanitizer.minimumValueBytes)
        guard app.count + bucket.count > room else { return }
        app = StatsDSanitizer.shortened(app, toAtMost: max(room - bucket.count, room / 2))
        bucket = StatsDSanitizer.shortened(bucket, toAtMost: room - app.count)
    }

    /// Sanitized, disambiguated (not yet shortened) label values of the apps in `names`.
    func appLabels(_ names: [String]) -> [String: [UInt8]] {
        var unique: [String] = []
        var seen: Set<String> = []
        for name in names where seen.insert(name).inserted { unique.append(name) }
        let values = unique.map { sanitizer.sanitize($0) }
        let labels = Self.disambiguated(raw: unique, ids: Array(repeating: nil, count: unique.count), values: values, idInIdentity: false)
        return Dictionary(uniqueKeysWithValues: zip(unique, labels))
    }

    /// Sanitized, disambiguated (not yet shortened) names of one breakdown's merged buckets.
    func bucketLabels(_ buckets: [Bucket]) -> [[UInt8]] {
        let raw = buckets.map { $0.name.isEmpty ? Bucket.unknownName : $0.name }
        let ids = buckets.map(\.id)
        let values = zip(raw, ids).map { sanitizer.sanitize($0, id: $1) }
        return Self.disambiguated(raw: raw, ids: ids, values: values, idInIdentity: dialect.isTagged)
    }

    /// Rule 2 of the type's documentation: members of a group of equal identities other than the
    /// keeper get a hash suffix of their raw name and id.
    static func disambiguated(raw: [String], ids: [Int64?], values: [StatsDSanitizer.Value], idInIdentity: Bool) -> [[UInt8]] {
        struct Identity: Hashable {
            var bytes: [UInt8]
            var id: Int64?
        }
        var groups: [Identity: [Int]] = [:]
        for (index, value) in values.enumerated() {
            groups[Identity(bytes: value.bytes, id: idInIdentity ? ids[index] : nil), default: []].append(index)
        }
        var result = values.map(\.bytes)
        for members in groups.values where members.count > 1 {
            let keeper = members.filter { !values[$0].altered }.min { lhs, rhs in
                switch (ids[lhs], ids[rhs]) {
                case (nil, nil): lhs < rhs
                case (nil, _): true
                case (_, nil): false
                case let (l?, r?): l != r ? l < r : lhs < rhs
                }
            }
            for member in members where member != keeper {
                var hashed = Array(raw[member].utf8)
                hashed.append(0)
                if let id = ids[member] { StatsDSanitizer.appendDecimal(id, to: &hashed) }
                StatsDSanitizer.appendHashSuffix(of: hashed, to: &result[member])
            }
        }
        return result
    }

    /// Rule 1: buckets with the same name and id summed, in order of first occurrence.
    static func merged(_ buckets: [Bucket]) -> [Bucket] {
        guard buckets.count > 1 else { return buckets }
        struct Key: Hashable {
            var name: String
            var id: Int64?
        }
        var index: [Key: Int] = [:]
        var result: [Bucket] = []
        result.reserveCapacity(buckets.count)
        for bucket in buckets {
            let key = Key(name: bucket.name.isEmpty ? Bucket.unknownName : bucket.name, id: bucket.id)
            if let existing = index[key] {
                result[existing].value = saturatingSum(result[existing].value, bucket.value)
            } else {
                index[key] = result.count
                result.append(bucket)
            }
        }
        return result
    }

    @inline(__always)
    static func saturatingSum(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? UInt64.max : sum
    }
}

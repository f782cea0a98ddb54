/// The StatsD line format the plugin writes. Every line is one gauge: `…:<value>|g`.
///
/// Labels are `app`, `window` (`1d`, `7d`, `30d`), `segment` (`new`, `active`), `dimension`
/// (`province`, `city`, `gender`, `platform`, `device`, `age`), `bucket` (the bucket's name) and,
/// where the upstream gives one, `bucket_id`. Exact formats (`<name>` is the configured prefix,
/// `[…]` only when the bucket has an id):
///
/// | dialect | line |
/// | --- | --- |
/// | `dogstatsd` | `<name>:<value>\|g\|#app:<app>,window:<w>,segment:<s>,dimension:<d>,bucket:<b>[,bucket_id:<id>]` |
/// | `influx` | `<name>,app=<app>,window=<w>,segment=<s>,dimension=<d>,bucket=<b>[,bucket_id=<id>]:<value>\|g` |
/// | `graphite` | `<name>;app=<app>;window=<w>;segment=<s>;dimension=<d>;bucket=<b>[;bucket_id=<id>]:<value>\|g` |
/// | `plain` | `<name>.<app>.<w>.<s>.<d>.<b>:<value>\|g` (no id, no tags) |
///
/// `<value>` is the bucket's user count in decimal digits, never signed. How `<app>` and `<b>` are
/// made safe is described on `StatsDSanitizer`.
public enum StatsDDialect: String, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// Datadog's DogStatsD: tags after `|#`, `key:value` pairs separated by `,`. UTF-8 tag values.
    case dogstatsd
    /// Telegraf's `statsd` input (templates off): Influx-style `,key=value` tags in the name. UTF-8 tag values.
    case influx
    /// Graphite 1.1 tagged series: `;key=value` tags in the name. ASCII only.
    case graphite
    /// No tags: all labels folded into one dotted name (Graphite's classic layout, collectd). ASCII only.
    case plain

    /// The default dialect.
    public static let `default` = StatsDDialect.dogstatsd

    public var description: String { rawValue }

    /// Whether the dialect carries labels as tags (and `bucket_id`).
    public var isTagged: Bool { self != .plain }

    /// Whether non-ASCII characters (Chinese names, emoji) are written as UTF-8. Where they are
    /// not, a value containing any is replaced as a whole (see `StatsDSanitizer`).
    public var allowsUTF8: Bool { self == .dogstatsd || self == .influx }

    /// The byte between the name and the first tag, and between tags (tagged dialects); between
    /// name components (`plain`).
    var tagSeparator: UInt8 {
        switch self {
        case .dogstatsd, .influx: UInt8(ascii: ",")
        case .graphite: UInt8(ascii: ";")
        case .plain: UInt8(ascii: ".")
        }
    }

    /// The byte between a tag's key and its value (tagged dialects).
    var tagAssignment: UInt8 { self == .dogstatsd ? UInt8(ascii: ":") : UInt8(ascii: "=") }
}

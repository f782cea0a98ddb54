/// Makes label values (`app`, `bucket`) safe for one dialect, so that no value can break a line,
/// a tag or a datagram. Applied in this order:
///
/// 1. **Empty** → `unknown` (as `Bucket` and the Prometheus plugin do).
/// 2. **Non-ASCII in an ASCII-only dialect** (`graphite`, `plain`): a value containing any
///    non-ASCII character is replaced as a whole by `id<bucket id>` (e.g. `广东省` with id 31 →
///    `id31`, id −1 → `id-1`) or, without an id (devices, app names), by `u` + 8 lowercase hex
///    digits of the 32-bit FNV-1a hash of its UTF-8 bytes (e.g. `u1a2b3c4d`). Stable across runs.
/// 3. **Character rule**: every character outside the dialect's allowed set becomes `_`
///    (one `_` per character). Allowed: ASCII letters, digits, `_` and `-` in every dialect; `.`
///    except in `plain` (where it separates name components); `/` in `dogstatsd` and `influx`;
///    any non-ASCII character in `dogstatsd` and `influx` except Unicode control, format
///    (e.g. zero-width joiner) and space/line/paragraph separator characters. Everything else —
///    `:` `|` `@` `#` `,` `=` `;` `"` `'` `\`, space, tab, newlines, other ASCII control characters,
///    `+` `*` `!` `?` `~` `^` `$` `%` `&` brackets — becomes `_`. So `OPPO R9` → `OPPO_R9`.
///
/// A value changed by steps 2–3 counts as *altered*; `StatsDLineEncoder` uses that to tell apart
/// distinct buckets that end up equal (see there). Over-long values are cut by `shortened`.
public struct StatsDSanitizer: Sendable {
    /// The dialect whose rules apply.
    public let dialect: StatsDDialect

    /// The replacement for a disallowed character.
    public static let replacement = UInt8(ascii: "_")
    /// Bytes of a hash suffix: `_` and 8 hex digits.
    public static let hashSuffixBytes = 9
    /// The smallest limit `shortened(_:toAtMost:)` is ever given (bytes); the configuration
    /// guarantees every label value this much room.
    public static let minimumValueBytes = 16

    public init(dialect: StatsDDialect) { self.dialect = dialect }

    /// A sanitized value and whether sanitizing changed it.
    public struct Value: Sendable, Hashable {
        /// The value's bytes: never empty, never containing a disallowed character.
        public var bytes: [UInt8]
        /// True when a character was replaced or the value was replaced as a whole.
        public var altered: Bool
    }

    /// `raw` made safe for `dialect`; `id` is used to replace non-ASCII values in ASCII-only dialects.
    public func sanitize(_ raw: String, id: Int64? = nil) -> Value {
        if raw.isEmpty { return Value(bytes: Array("unknown".utf8), altered: false) }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(raw.utf8.count)
        if !dialect.allowsUTF8, raw.utf8.contains(where: { $0 >= 0x80 }) {
            if let id {
                bytes.append(contentsOf: "id".utf8)
                StatsDSanitizer.appendDecimal(id, to: &bytes)
            } else {
                bytes.append(UInt8(ascii: "u"))
                StatsDSanitizer.appendHex(StatsDSanitizer.fnv1a32(raw.utf8), to: &bytes)
            }
            return Value(bytes: bytes, altered: true)
        }
        var altered = false
        for scalar in raw.unicodeScalars {
            if scalar.isASCII {
                let byte = UInt8(scalar.value)
                if isAllowedASCII(byte) { bytes.append(byte) } else {
                    bytes.append(StatsDSanitizer.replacement)
                    altered = true
                }
            } else if StatsDSanitizer.isInvisibleOrBreaking(scalar) {
                bytes.append(StatsDSanitizer.replacement)
                altered = true
            } else if let encoded = UTF8.encode(scalar) {
                bytes.append(contentsOf: encoded)
            }
        }
        return Value(bytes: bytes, altered: altered)
    }

    /// Whether `byte` (ASCII) may appear in a label value of this dialect.
    @inline(__always)
    public func isAllowedASCII(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
            true
        case UInt8(ascii: "."): dialect != .plain
        case UInt8(ascii: "/"): dialect.allowsUTF8
        default: false
        }
    }

    /// Non-ASCII characters that are replaced even where UTF-8 is allowed: control, format and
    /// separator characters (invisible, or line breaks to some parsers).
    static func isInvisibleOrBreaking(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .spaceSeparator, .lineSeparator, .paragraphSeparator, .surrogate: true
        default: false
        }
    }

    /// `value` cut to at most `limit` bytes so that distinct long values stay distinct: a value
    /// longer than `limit` keeps its first `limit − 9` bytes (fewer if that would split a UTF-8
    /// character) followed by `_` and the 8-hex-digit FNV-1a hash of the whole value. A value that
    /// fits is returned unchanged. `limit` must be at least `hashSuffixBytes`.
    public static func shortened(_ value: [UInt8], toAtMost limit: Int) -> [UInt8] {
        guard value.count > limit else { return value }
        var cut = max(0, limit - hashSuffixBytes)
        while cut > 0, value[cut] & 0xC0 == 0x80 { cut -= 1 }
        var result = Array(value[..<cut])
        appendHashSuffix(of: value, to: &result)
        return result
    }

    /// Appends `_` and the 8-hex-digit FNV-1a hash of `bytes`.
    public static func appendHashSuffix(of bytes: some Sequence<UInt8>, to output: inout [UInt8]) {
        output.append(replacement)
        appendHex(fnv1a32(bytes), to: &output)
    }

    /// The 32-bit FNV-1a hash.
    public static func fnv1a32(_ bytes: some Sequence<UInt8>) -> UInt32 {
        var hash: UInt32 = 0x811C_9DC5
        for byte in bytes { hash = (hash ^ UInt32(byte)) &* 0x0100_0193 }
        return hash
    }

    /// Appends `value` as 8 lowercase hex digits.
    static func appendHex(_ value: UInt32, to output: inout [UInt8]) {
        let digits: StaticString = "0123456789abcdef"
        digits.withUTF8Buffer { table in
            for shift in stride(from: 28, through: 0, by: -4) { output.append(table[Int((value >> UInt32(shift)) & 0xF)]) }
        }
    }

    /// Appends `value` in decimal, with `-` when negative (for ids only — gauge values are unsigned).
    static func appendDecimal(_ value: Int64, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        appendDecimal(value.magnitude, to: &output)
    }

    /// Appends `value` in decimal digits; never a sign.
    @inline(__always)
    static func appendDecimal(_ value: UInt64, to output: inout [UInt8]) {
        if value < 10 {
            output.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        var rest = value
        withUnsafeMutableBytes(of: &digits) { buffer in
            while rest > 0 {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(rest % 10)
                rest /= 10
                count += 1
            }
            output.append(contentsOf: buffer[(20 - count)...])
        }
    }

    // MARK: Prefix

    /// Why `prefix` cannot be the metric name, or `nil` if it can. A prefix is never rewritten:
    /// it must already be safe in every dialect — ASCII letters, digits, `_` and `.`, starting with
    /// a letter, with no empty dot-separated component.
    public static func prefixProblem(_ prefix: String) -> String? {
        if prefix.isEmpty { return "must not be empty" }
        let safe = sanitizedPrefix(prefix)
        if safe != prefix { return "must use only ASCII letters, digits, \"_\" and \".\" (e.g. \"\(safe)\")" }
        guard let first = prefix.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first | 0x20) else {
            return "must start with a letter"
        }
        if prefix.hasSuffix(".") || prefix.contains("..") { return "must not have an empty component (\"..\" or a trailing \".\")" }
        return nil
    }

    /// `prefix` with every character outside `A-Z a-z 0-9 _ .` replaced by `_`.
    public static func sanitizedPrefix(_ prefix: String) -> String {
        String(decoding: prefix.unicodeScalars.map { scalar -> UInt8 in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".": UInt8(scalar.value)
            default: replacement
            }
        }, as: UTF8.self)
    }
}

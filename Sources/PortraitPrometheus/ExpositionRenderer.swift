/// The type of a metric family, as written in `# TYPE`.
public enum MetricType: String, Sendable {
    case counter
    case gauge
}

/// Writes the Prometheus text exposition format 0.0.4 into one reusable byte buffer.
///
/// The renderer is a plain value with no Foundation on its path: callers announce a family with
/// `family(_:help:type:)` and then write its samples; the `# HELP` and `# TYPE` lines go out
/// lazily with the first sample, so a family without samples leaves no trace and a family's
/// samples are always contiguous. Label values are escaped as the format requires (`\` → `\\`,
/// `"` → `\"`, newline → `\n`); every other byte, UTF-8 included, is kept as is.
///
/// The portrait data, the fetch status and the process and server counters are rendered by the
/// extensions in `ExpositionRenderer+Portrait.swift`, `+Status.swift` and `+Runtime.swift`.
public struct ExpositionRenderer: Sendable {
    /// The rendered text so far (UTF-8).
    public internal(set) var bytes: [UInt8]

    private var pendingFamily: (name: String, help: String, type: MetricType)?
    private var currentFamily: String?

    /// A renderer whose buffer starts with room for `capacity` bytes.
    public init(capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Empties the buffer, keeping its storage for the next rendering.
    public mutating func reset() {
        bytes.removeAll(keepingCapacity: true)
        pendingFamily = nil
        currentFamily = nil
    }

    /// Hands the rendered bytes over (without copying) and leaves the renderer empty.
    public mutating func take() -> [UInt8] {
        pendingFamily = nil
        currentFamily = nil
        defer { bytes = [] }
        return bytes
    }

    /// Announces the family whose samples follow. Its `# HELP`/`# TYPE` lines are written with
    /// the first sample; `help` is escaped (`\` and newline).
    public mutating func family(_ name: String, help: String, type: MetricType) {
        pendingFamily = (name, help, type)
        currentFamily = nil
    }

    /// Writes the pending family header, if any, and returns the current family's name.
    @inline(__always)
    private mutating func openFamily() -> String {
        if let pending = pendingFamily {
            pendingFamily = nil
            bytes.append(contentsOf: "# HELP ".utf8)
            bytes.append(contentsOf: pending.name.utf8)
            bytes.append(0x20)
            appendEscapedHelp(pending.help)
            bytes.append(contentsOf: "\n# TYPE ".utf8)
            bytes.append(contentsOf: pending.name.utf8)
            bytes.append(0x20)
            bytes.append(contentsOf: pending.type.rawValue.utf8)
            bytes.append(0x0A)
            currentFamily = pending.name
        }
        return currentFamily ?? ""
    }

    // MARK: Samples

    /// Writes `name{labels} value` for the current family, `value` as a counter or gauge integer.
    public mutating func sample(_ labels: KeyValuePairs<String, String>, _ value: UInt64) {
        beginSample(labels)
        NumberFormatting.append(value, to: &bytes)
        bytes.append(0x0A)
    }

    /// Writes `name{labels} value` for the current family with a `Double` value.
    public mutating func sample(_ labels: KeyValuePairs<String, String>, _ value: Double) {
        beginSample(labels)
        NumberFormatting.append(value, to: &bytes)
        bytes.append(0x0A)
    }

    /// Writes `name{labels} timestamp`, the value being Unix seconds rounded to the millisecond.
    public mutating func sample(_ labels: KeyValuePairs<String, String>, timestampSeconds: Double) {
        beginSample(labels)
        NumberFormatting.appendTimestamp(seconds: timestampSeconds, to: &bytes)
        bytes.append(0x0A)
    }

    /// Writes `name value` (no labels) for the current family.
    public mutating func sample(_ value: UInt64) { sample([:], value) }

    /// Writes `name value` (no labels) for the current family with a `Double` value.
    public mutating func sample(_ value: Double) { sample([:], value) }

    /// Writes `name timestamp` (no labels), the value being Unix seconds rounded to the millisecond.
    public mutating func sample(timestampSeconds: Double) { sample([:], timestampSeconds: timestampSeconds) }

    /// Writes `name{labels} value` with labels given as an array (label names must be valid).
    public mutating func sample(labels: [(String, String)], _ value: Double) {
        let name = openFamily()
        bytes.append(contentsOf: name.utf8)
        if !labels.isEmpty {
            bytes.append(0x7B)
            for (i, (key, labelValue)) in labels.enumerated() {
                if i > 0 { bytes.append(0x2C) }
                appendLabel(key, labelValue)
            }
            bytes.append(0x7D)
        }
        bytes.append(0x20)
        NumberFormatting.append(value, to: &bytes)
        bytes.append(0x0A)
    }

    @inline(__always)
    private mutating func beginSample(_ labels: KeyValuePairs<String, String>) {
        let name = openFamily()
        bytes.append(contentsOf: name.utf8)
        if !labels.isEmpty {
            bytes.append(0x7B)
            var first = true
            for (key, value) in labels {
                if !first { bytes.append(0x2C) }
                first = false
                appendLabel(key, value)
            }
            bytes.append(0x7D)
        }
        bytes.append(0x20)
    }

    // MARK: Low-level pieces for hot loops (see ExpositionRenderer+Portrait.swift)

    /// Writes the pending family header (if any) followed by the raw `prefix` bytes, which must
    /// be a series prefix built with `appendLabel` (e.g. `name{a="b",`).
    @inline(__always)
    mutating func appendSeriesStart(_ prefix: [UInt8]) {
        if pendingFamily != nil { _ = openFamily() }
        bytes.append(contentsOf: prefix)
    }

    /// Writes the pending family's `# HELP`/`# TYPE` lines, if a family is pending.
    mutating func openPendingFamily() {
        if pendingFamily != nil { _ = openFamily() }
    }

    /// Lets `body` write at most `maximumCount` bytes straight into the buffer's spare capacity
    /// (grown geometrically when needed) through a `ByteWriter`; keeps what it wrote. For hot
    /// loops that know an upper bound of their output: one capacity check per call instead of
    /// one per piece.
    @inline(__always)
    mutating func appendUnsafe(maximumCount: Int, _ body: (inout ByteWriter) -> Void) {
        bytes.append(addingCapacity: maximumCount) { (output: inout OutputSpan<UInt8>) in
            output.withUnsafeMutableBufferPointer { buffer, initialized in
                guard let base = buffer.baseAddress else { return }
                var writer = ByteWriter(base + initialized)
                body(&writer)
                let written = (base + initialized).distance(to: writer.position)
                precondition(written <= maximumCount, "ExpositionRenderer.appendUnsafe: wrote past its bound")
                initialized += written
            }
        }
    }

    /// Appends raw bytes.
    @inline(__always)
    mutating func appendRaw(_ raw: some Sequence<UInt8>) { bytes.append(contentsOf: raw) }

    /// Appends a single raw byte.
    @inline(__always)
    mutating func appendByte(_ byte: UInt8) { bytes.append(byte) }

    /// Appends an integer.
    @inline(__always)
    mutating func appendInteger(_ value: UInt64) { NumberFormatting.append(value, to: &bytes) }

    /// Appends `key="escaped value"`.
    @inline(__always)
    mutating func appendLabel(_ key: String, _ value: String) {
        Self.appendLabel(key, value, to: &bytes)
    }

    /// Appends `key="escaped value"` to `out`.
    static func appendLabel(_ key: String, _ value: String, to out: inout [UInt8]) {
        out.append(contentsOf: key.utf8)
        out.append(0x3D)
        out.append(0x22)
        appendEscapedLabelValue(value, to: &out)
        out.append(0x22)
    }

    /// Appends a label value with `\`, `"` and newline escaped; other bytes unchanged.
    static func appendEscapedLabelValue(_ value: String, to out: inout [UInt8]) {
        var text = value
        text.withUTF8 { utf8 in
            guard utf8.contains(where: { $0 == 0x5C || $0 == 0x22 || $0 == 0x0A }) else {
                out.append(contentsOf: utf8)
                return
            }
            for byte in utf8 {
                switch byte {
                case 0x5C: out.append(0x5C); out.append(0x5C)
                case 0x22: out.append(0x5C); out.append(0x22)
                case 0x0A: out.append(0x5C); out.append(0x6E)
                default: out.append(byte)
                }
            }
        }
    }

    /// Appends HELP text with `\` and newline escaped (the format's HELP escaping).
    private mutating func appendEscapedHelp(_ help: String) {
        for byte in help.utf8 {
            switch byte {
            case 0x5C: bytes.append(0x5C); bytes.append(0x5C)
            case 0x0A: bytes.append(0x5C); bytes.append(0x6E)
            default: bytes.append(byte)
            }
        }
    }

    // MARK: Name validation

    /// Whether `name` is a valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`.
    public static func isValidMetricName(_ name: String) -> Bool {
        var first = true
        for byte in name.utf8 {
            let ok = isLetterOrUnderscore(byte) || byte == 0x3A || (!first && isDigit(byte))
            if !ok { return false }
            first = false
        }
        return !first
    }

    /// Whether `name` is a valid label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
    public static func isValidLabelName(_ name: String) -> Bool {
        guard !name.hasPrefix("__") else { return false }
        var first = true
        for byte in name.utf8 {
            let ok = isLetterOrUnderscore(byte) || (!first && isDigit(byte))
            if !ok { return false }
            first = false
        }
        return !first
    }

    @inline(__always)
    private static func isLetterOrUnderscore(_ byte: UInt8) -> Bool {
        (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x41 && byte <= 0x5A) || byte == 0x5F
    }

    @inline(__always)
    private static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
}

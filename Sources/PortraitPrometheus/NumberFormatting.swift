/// Number spellings of the Prometheus text format 0.0.4, written straight into a byte buffer.
///
/// `Double.description` spells infinities and NaN as `inf`/`nan`, which Prometheus rejects, and
/// Foundation's formatters are slow and locale-dependent; so the exposition uses these instead:
/// - integers (`UInt64`, `Int64`): plain decimal digits, never an exponent;
/// - `Double` samples: `+Inf`, `-Inf`, `NaN`; integral values below 2^53 as plain digits
///   (`-0` as `0`); anything else as the shortest decimal that reads back to the same `Double`
///   (the standard library's algorithm; it may use an exponent such as `1e-07`, which
///   Prometheus accepts);
/// - timestamps: seconds with at most three fractional digits (milliseconds), never an exponent.
public enum NumberFormatting {
    /// The largest magnitude below which an integral `Double` is printed as plain digits (2^53:
    /// every integer up to it is exact in a `Double`).
    public static let plainIntegerLimit: Double = 9_007_199_254_740_992

    /// Appends the decimal digits of `value`.
    @inline(__always)
    public static func append(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(0x30 &+ UInt8(truncatingIfNeeded: value))
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var rest = value
            var index = 20
            while rest > 0 {
                let (quotient, remainder) = rest.quotientAndRemainder(dividingBy: 10)
                index -= 1
                digits[index] = 0x30 &+ UInt8(truncatingIfNeeded: remainder)
                rest = quotient
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[index..<20]))
        }
    }

    /// Appends `value` in decimal with a leading `-` when negative.
    @inline(__always)
    public static func append(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(0x2D) }
        append(value.magnitude, to: &out)
    }

    /// Appends a sample value: `+Inf`, `-Inf`, `NaN`, plain digits for integral values below
    /// 2^53, otherwise the shortest round-trip decimal.
    public static func append(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN {
            out.append(contentsOf: "NaN".utf8)
        } else if value.isInfinite {
            out.append(contentsOf: value < 0 ? "-Inf".utf8 : "+Inf".utf8)
        } else if value.rounded(.towardZero) == value, value.magnitude < plainIntegerLimit {
            append(Int64(value), to: &out)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }

    /// Appends a Unix timestamp in seconds, rounded to the millisecond: `1717171200`,
    /// `1717171200.5`, `1717171200.123`. Non-finite input is spelled like a sample value.
    public static func appendTimestamp(seconds: Double, to out: inout [UInt8]) {
        let millis = (seconds * 1000).rounded()
        guard millis.isFinite, millis.magnitude < plainIntegerLimit else {
            append(seconds, to: &out)
            return
        }
        let total = Int64(millis)
        if total < 0 { out.append(0x2D) }
        let (whole, fraction) = total.magnitude.quotientAndRemainder(dividingBy: 1000)
        append(whole, to: &out)
        guard fraction != 0 else { return }
        out.append(0x2E)
        var digits = fraction
        var width = 3
        while digits % 10 == 0 {
            digits /= 10
            width -= 1
        }
        // Leading zeros of the fraction (e.g. .05 for 50 ms, .005 for 5 ms).
        var scale: UInt64 = 1
        for _ in 1..<width { scale *= 10 }
        while scale > digits {
            out.append(0x30)
            scale /= 10
        }
        append(digits, to: &out)
    }

    /// `value` spelled as `append(_:to:)` would write it, as a `String` (tests, landing page).
    public static func string(_ value: Double) -> String {
        var bytes: [UInt8] = []
        append(value, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `seconds` spelled as `appendTimestamp(seconds:to:)` would write it, as a `String`.
    public static func timestampString(seconds: Double) -> String {
        var bytes: [UInt8] = []
        appendTimestamp(seconds: seconds, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

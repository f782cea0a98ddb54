import PortraitTestKit
import Testing
@testable import PortraitPrometheus

@Suite("Number formatting")
struct NumberFormattingTests {
    @Test("unsigned integers never use an exponent", arguments: [
        (UInt64(0), "0"), (7, "7"), (10, "10"), (215, "215"), (1_000_000, "1000000"),
        (UInt64.max, "18446744073709551615"),
    ])
    func unsigned(value: UInt64, expected: String) {
        var out: [UInt8] = []
        NumberFormatting.append(value, to: &out)
        #expect(out.text == expected)
    }

    @Test("signed integers", arguments: [
        (Int64(0), "0"), (-1, "-1"), (42, "42"), (Int64.min, "-9223372036854775808"), (Int64.max, "9223372036854775807"),
    ])
    func signed(value: Int64, expected: String) {
        var out: [UInt8] = []
        NumberFormatting.append(value, to: &out)
        #expect(out.text == expected)
    }

    @Test("doubles use Prometheus spellings", arguments: [
        (Double.infinity, "+Inf"), (-Double.infinity, "-Inf"), (Double.nan, "NaN"), (-Double.nan, "NaN"),
        (0.0, "0"), (-0.0, "0"), (1.0, "1"), (-3.0, "-3"), (215.0, "215"),
        (1e15, "1000000000000000"), (9_007_199_254_740_991, "9007199254740991"),
        (0.5, "0.5"), (0.1, "0.1"), (1.25, "1.25"), (-2.5, "-2.5"), (1e-7, "1e-07"),
        (1717171200.123, "1717171200.123"), (1e20, "1e+20"), (Double.greatestFiniteMagnitude, "1.7976931348623157e+308"),
    ])
    func doubles(value: Double, expected: String) throws {
        #expect(NumberFormatting.string(value) == expected)
        // Everything finite reads back to the same number.
        if value.isFinite { #expect(Double(expected) == value || (value == 0 && Double(expected) == 0)) }
    }

    @Test("timestamps: seconds with at most milliseconds, no exponent", arguments: [
        (0.0, "0"), (1717171200.0, "1717171200"), (1717171200.5, "1717171200.5"), (1717171200.05, "1717171200.05"),
        (1717171200.005, "1717171200.005"), (1717171200.123, "1717171200.123"), (1717171200.1234, "1717171200.123"),
        (1717171200.9996, "1717171201"), (-1.5, "-1.5"), (0.001, "0.001"), (4102444800.25, "4102444800.25"),
        (Double.infinity, "+Inf"), (Double.nan, "NaN"),
    ])
    func timestamps(value: Double, expected: String) {
        #expect(NumberFormatting.timestampString(seconds: value) == expected)
    }
}

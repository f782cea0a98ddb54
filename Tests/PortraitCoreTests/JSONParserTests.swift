import PortraitCore
import Testing

@Suite("JSON")
struct JSONParserTests {
    @Test("parses documents with escapes, unicode and numbers")
    func parses() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2, 3.5, 1e2, true, false, null], "s": "x\"\\\/\n\u00e9\ud83d\ude00广东", "o": {}} "#)
        #expect(value["a"] == .array([.integer(1), .integer(-2), .double(3.5), .double(100), .bool(true), .bool(false), .null]))
        #expect(value["s"] == .string("x\"\\/\né😀广东"))
        #expect(value["o"] == .object([]))
    }

    @Test("rejects malformed input without trapping", arguments: [
        "", "{", "}", "[1,]", "{\"a\":1,}", "01", "1.", "-", "1e", "\"abc", "\"\\x\"", "\"\\u12\"",
        "\"\\ud800\"", "\"\\udc00x\"", "tru", "nul", "{\"a\" 1}", "[1 2]", "\"a\nb\"", "1 2", "{\"a\":}", "\u{0}",
    ])
    func rejects(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test("rejects invalid UTF-8 and excessive nesting")
    func limits() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]) }
        let deep = String(repeating: "[", count: 1000) + String(repeating: "]", count: 1000)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: Never.self) { try JSONParser.parse(fine) }
    }

    @Test("writer output parses back to the same value")
    func roundTrip() throws {
        let value: JSONValue = .object([
            ("name", .string("OPPO \"R9\"\\\n\t\u{1}广东😀")),
            ("n", .integer(-12)), ("d", .double(0.25)), ("list", .array([.null, .bool(true)])),
        ])
        let bytes = JSONWriter.encode(value)
        #expect(try JSONParser.parse(bytes) == value)
        #expect(!bytes.contains(0x0A))
    }

    @Test("integral doubles count as integers, others do not")
    func integerValue() {
        #expect(JSONValue.double(12.0).integerValue == 12)
        #expect(JSONValue.double(12.5).integerValue == nil)
        #expect(JSONValue.string("12").integerValue == nil)
    }
}

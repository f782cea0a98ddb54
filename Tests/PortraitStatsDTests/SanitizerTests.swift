import PortraitStatsD
import Testing

@Suite("StatsD sanitizer")
struct SanitizerTests {
    static func text(_ value: StatsDSanitizer.Value) -> String { String(decoding: value.bytes, as: UTF8.self) }

    @Test("each disallowed character becomes _ in every dialect", arguments: StatsDDialect.allCases)
    func replacements(dialect: StatsDDialect) {
        let sanitizer = StatsDSanitizer(dialect: dialect)
        let hostile = ":|@#,=;\"'\\ \t\n\r\u{0}\u{7F}+*!?~^$%&()[]{}<>`"
        let value = sanitizer.sanitize("a" + hostile + "b")
        #expect(Self.text(value) == "a" + String(repeating: "_", count: hostile.unicodeScalars.count) + "b")
        #expect(value.altered)
        #expect(Self.text(sanitizer.sanitize("OPPO R9")) == "OPPO_R9")
        #expect(Self.text(sanitizer.sanitize("Az09_-")) == "Az09_-")
        #expect(!sanitizer.sanitize("Az09_-").altered)
    }

    @Test("dots and slashes per dialect")
    func dotsAndSlashes() {
        #expect(Self.text(StatsDSanitizer(dialect: .plain).sanitize("a.b/c")) == "a_b_c")
        #expect(Self.text(StatsDSanitizer(dialect: .graphite).sanitize("a.b/c")) == "a.b_c")
        #expect(Self.text(StatsDSanitizer(dialect: .dogstatsd).sanitize("a.b/c")) == "a.b/c")
        #expect(Self.text(StatsDSanitizer(dialect: .influx).sanitize("a.b/c")) == "a.b/c")
    }

    @Test("UTF-8 kept in dogstatsd and influx, invisible and separator characters replaced")
    func utf8Dialects() {
        for dialect in [StatsDDialect.dogstatsd, .influx] {
            let sanitizer = StatsDSanitizer(dialect: dialect)
            #expect(Self.text(sanitizer.sanitize("广东省", id: 31)) == "广东省")
            #expect(Self.text(sanitizer.sanitize("😀")) == "😀")
            #expect(Self.text(sanitizer.sanitize("OPPO\u{00A0}R9")) == "OPPO_R9")
            #expect(Self.text(sanitizer.sanitize("a\u{2028}b\u{200B}c")) == "a_b_c")
            #expect(Self.text(sanitizer.sanitize("👨‍👩‍👧")) == "👨_👩_👧")
        }
    }

    @Test("non-ASCII names in graphite and plain become id<id> or u<fnv>")
    func asciiDialects() {
        for dialect in [StatsDDialect.graphite, .plain] {
            let sanitizer = StatsDSanitizer(dialect: dialect)
            #expect(Self.text(sanitizer.sanitize("广东省", id: 31)) == "id31")
            #expect(Self.text(sanitizer.sanitize("未知", id: -2)) == "id-2")
            #expect(Self.text(sanitizer.sanitize("华为 Mate 30")) == "u" + testFNV("华为 Mate 30"))
            #expect(Self.text(sanitizer.sanitize("é")) == "u" + testFNV("é"))
            #expect(sanitizer.sanitize("é").altered)
        }
        // Known FNV-1a test vectors.
        #expect(StatsDSanitizer.fnv1a32("".utf8) == 0x811C_9DC5)
        #expect(StatsDSanitizer.fnv1a32("a".utf8) == 0xE40C_292C)
        #expect(StatsDSanitizer.fnv1a32("foobar".utf8) == 0xBF9C_F968)
    }

    @Test("empty names become unknown")
    func empty() {
        for dialect in StatsDDialect.allCases {
            #expect(Self.text(StatsDSanitizer(dialect: dialect).sanitize("")) == "unknown")
        }
    }

    @Test("shortening keeps a prefix, appends a hash of the whole value, never splits UTF-8")
    func shortening() {
        let long = Array(String(repeating: "x", count: 300).utf8)
        let short = StatsDSanitizer.shortened(long, toAtMost: 127)
        #expect(short.count == 127)
        #expect(String(decoding: short, as: UTF8.self) == String(repeating: "x", count: 118) + "_" + testFNV(String(repeating: "x", count: 300)))
        let other = StatsDSanitizer.shortened(Array((String(repeating: "x", count: 299) + "y").utf8), toAtMost: 127)
        #expect(other != short)
        #expect(StatsDSanitizer.shortened(Array("fits".utf8), toAtMost: 127) == Array("fits".utf8))
        let chinese = Array(String(repeating: "长", count: 100).utf8)  // 3 bytes each
        let cut = StatsDSanitizer.shortened(chinese, toAtMost: 127)
        #expect(cut.count <= 127)
        #expect(String(validating: cut, as: UTF8.self) != nil)
        #expect(String(decoding: cut, as: UTF8.self).hasPrefix(String(repeating: "长", count: 39) + "_"))
    }

    @Test("prefix rules", arguments: [
        ("wechat.portrait.users", nil as String?),
        ("my_app.users2", nil),
        ("", "must not be empty"),
        ("wechat portrait", "must use only ASCII letters, digits, \"_\" and \".\" (e.g. \"wechat_portrait\")"),
        ("a:b", "must use only ASCII letters, digits, \"_\" and \".\" (e.g. \"a_b\")"),
        ("users-total", "must use only ASCII letters, digits, \"_\" and \".\" (e.g. \"users_total\")"),
        ("1users", "must start with a letter"),
        (".users", "must start with a letter"),
        ("users.", "must not have an empty component (\"..\" or a trailing \".\")"),
        ("a..b", "must not have an empty component (\"..\" or a trailing \".\")"),
        ("用户", "must use only ASCII letters, digits, \"_\" and \".\" (e.g. \"__\")"),
    ])
    func prefixes(prefix: String, problem: String?) {
        #expect(StatsDSanitizer.prefixProblem(prefix) == problem)
    }
}

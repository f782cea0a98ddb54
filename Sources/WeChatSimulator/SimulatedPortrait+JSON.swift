import PortraitCore

extension SimulatedPortrait {
    /// Variations of the wire format that faults ask for.
    struct EncodingOptions: Sendable, Equatable {
        /// Write `12.0` instead of `12`.
        var valuesAsFloat = false
        /// Segments left out of the answer entirely.
        var omittedSegments: Set<Segment> = []
    }

    /// Appends the answer as WeChat writes it:
    /// `{"ref_date":…,"visit_uv_new":{"province":[{"id":31,"name":"广东省","value":215},…],…},"visit_uv":{…}}`.
    /// Devices are written without `id`.
    func encode(into out: inout [UInt8], options: EncodingOptions = EncodingOptions()) {
        out.reserveCapacity(out.count + 64 + lists.reduce(0) { $0 + $1.count } * 40)
        out.append(contentsOf: #"{"ref_date":"#.utf8)
        JSONWriter.appendString(refDate, to: &out)
        for segment in [Segment.new, .active] where !options.omittedSegments.contains(segment) {
            out.append(UInt8(ascii: ","))
            JSONWriter.appendString(segment.upstreamKey, to: &out)
            out.append(contentsOf: ":{".utf8)
            for (d, dimension) in Dimension.allCases.enumerated() {
                if d > 0 { out.append(UInt8(ascii: ",")) }
                JSONWriter.appendString(dimension.upstreamKey, to: &out)
                out.append(contentsOf: ":[".utf8)
                for (i, item) in self[segment, dimension].enumerated() {
                    if i > 0 { out.append(UInt8(ascii: ",")) }
                    out.append(UInt8(ascii: "{"))
                    if let id = item.id {
                        out.append(contentsOf: #""id":"#.utf8)
                        out.append(contentsOf: String(id).utf8)
                        out.append(UInt8(ascii: ","))
                    }
                    out.append(contentsOf: #""name":"#.utf8)
                    JSONWriter.appendString(item.name, to: &out)
                    out.append(contentsOf: #","value":"#.utf8)
                    out.append(contentsOf: String(item.value).utf8)
                    if options.valuesAsFloat { out.append(contentsOf: ".0".utf8) }
                    out.append(UInt8(ascii: "}"))
                }
                out.append(UInt8(ascii: "]"))
            }
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
    }

    /// The same answer with every breakdown empty (as WeChat answers for an app without visitors
    /// or, sometimes, before the data is ready).
    func emptied() -> SimulatedPortrait {
        SimulatedPortrait(refDate: refDate)
    }

    /// Names that break naive exporters, in the order `withHostileNames()` hands them out.
    static let hostileNames: [String] = [
        #"say "hi""#,
        #"back\slash\"#,
        "line\nbreak",
        "tab\there",
        "|:#,=;@",
        "a|b:c#d,e=f;g@h",
        "🚀 手机 📱",
        String(repeating: "x", count: 300),
        "",
        "  spaces  ",
        "crlf\r\nend",
        "nul\u{0}del\u{7F}",
        "{{label}}=\"1\"",
        "dup",
        "dup",
    ]

    /// The same values under hostile names: each breakdown's first buckets are renamed in turn to
    /// quotes, backslashes, a newline, a tab, `|:#,=;@`, emoji, a 300-character and an empty name,
    /// control characters, and two buckets share the name "dup" (with different ids where the
    /// dimension has ids). Values and sums are unchanged.
    func withHostileNames() -> SimulatedPortrait {
        var copy = self
        for index in copy.lists.indices {
            for i in copy.lists[index].indices where i < Self.hostileNames.count {
                copy.lists[index][i].name = Self.hostileNames[i]
            }
        }
        return copy
    }
}
